"""mibound.inputs: validated, named pairs with constant columns dropped; input types that must not warn."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import mibound
from mibound.inputs.columns import column_report
from mibound.inputs.pair import read_pair
from mibound.registry import ESTIMATORS, make_estimator, takes
from mibound.results import codes_of

FAST = ("gaussian", "gcmi", "ksg", "discrete")


def _cells(name: str, *views):
    """The views as ``discrete`` needs them (three values a column: a table with few cells); others as they are."""
    return tuple(np.sign(np.round(v)) for v in views) if name == "discrete" else views


def _quiet(name: str, **options):
    if takes(name, "progress"):
        options.setdefault("progress", False)
    return make_estimator(name, **options)


def test_read_pair_drops_constant_columns_and_keeps_names():
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.standard_normal(50), "flat": 3.0, "b": rng.standard_normal(50)})
    y = pd.Series(rng.standard_normal(50), name="target")
    p = read_pair(x, y)
    assert p.x.shape == (50, 2) and p.names == (("a", "b"), ("target",))
    assert p.dropped == (("flat",), ()) and not p.degenerate
    np.testing.assert_allclose(p.x, x[["a", "b"]].to_numpy())
    assert codes_of(p.diagnostics()) == ["constant_columns"] and "flat" in p.diagnostics()[0]["message"]
    assert p.settings() == {"column_names": {"x": ["a", "b"], "y": ["target"]},
                            "dropped_columns": {"x": ["flat"], "y": []}}
    # positional names keep the column's index in the input, not in the reduced array
    q = read_pair(np.c_[np.ones(5), np.arange(5.0), np.zeros(5)], np.arange(5.0))
    assert q.dropped[0] == ("x[0]", "x[2]") and q.names[0] == ("x[1]",)
    assert [c.name for c in q.report().x] == ["x[1]"]


def test_read_pair_view_without_varying_column_is_degenerate():
    p = read_pair(np.ones((10, 3)), np.arange(10.0))
    assert p.degenerate and p.x.shape == (10, 0)
    assert codes_of(p.diagnostics()) == ["constant_columns", "constant_view"]
    r = p.zero_result("gaussian", seed=3)
    assert r.estimate == 0.0 and r.ci == (0.0, 0.0) and r.seed == 3 and r.n_test == 10
    assert r.settings["dropped_columns"]["x"] == ["x[0]", "x[1]", "x[2]"]


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_every_estimator_gives_zero_for_a_constant_view(name):
    rng = np.random.default_rng(1)
    x, y = np.full((700, 2), 4.0), rng.standard_normal((700, 2))
    res = _quiet(name).fit(x, y).result_
    assert res.estimate == 0.0 and res.ci == (0.0, 0.0)
    assert "constant_view" in codes_of(res.diagnostics) and "constant_columns" in codes_of(res.diagnostics)
    assert res.settings["dropped_columns"] == {"x": ["x[0]", "x[1]"], "y": []}
    # and the other way round
    assert _quiet(name).fit(y, x).result_.estimate == 0.0


@pytest.mark.parametrize("name", FAST + ("infonce", "auto"))
def test_dropping_a_constant_column_changes_no_estimate(name):
    x, y = _cells(name, *mibound.CorrelatedGaussian.from_mi(0.5, dim=2).sample(800, seed=2))
    padded = np.c_[np.full(800, -2.0), x, np.full(800, 7.0)]
    opts = {"steps": 30} if takes(name, "steps") else {}
    a = _quiet(name, **opts).fit(x, y).result_
    b = _quiet(name, **opts).fit(padded, y).result_
    assert math.isclose(a.estimate, b.estimate, rel_tol=1e-6, abs_tol=1e-6)
    assert "constant_columns" in codes_of(b.diagnostics) and "constant_columns" not in codes_of(a.diagnostics)
    assert b.settings["dropped_columns"]["x"] == ["x[0]", "x[3]"]
    assert "x[0]" in b.diagnostics[0]["message"] and "x[3]" in b.diagnostics[0]["message"]


def test_api_cli_and_pure_functions_on_constant_columns(tmp_path, capsys):
    from mibound.cli import main
    from mibound.functional.nonparametric import gcmi_mi

    rng = np.random.default_rng(3)
    x = np.c_[rng.standard_normal(400), np.zeros(400)]
    y = x[:, :1] + rng.standard_normal((400, 1))
    res = mibound.estimate_mi(x, y, estimator="gaussian")
    assert res.estimate > 0.1 and res.diagnostics[0]["code"] == "constant_columns"
    np.savez(tmp_path / "pair.npz", x=x, y=y)
    assert main(["estimate", str(tmp_path / "pair.npz"), "--estimator", "gcmi", "--json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["dropped_columns"] == {"x": ["x[1]"], "y": []}
    with pytest.raises(ValueError, match=r"x has 1 constant \(zero-variance\) column"):
        gcmi_mi(x, y)  # the pure functions refuse; the estimator classes drop and say so


def test_discrete_and_integer_columns_are_reported():
    rng = np.random.default_rng(4)
    n = 2000
    flag = rng.integers(0, 2, n).astype(float)
    counts = rng.poisson(30, n).astype(float)  # whole numbers, about 30 distinct values: not "discrete"
    cont = rng.standard_normal(n)
    r = column_report(np.c_[flag, counts], cont[:, None])
    assert r.x[0].integer and r.x[0].discrete and r.x[1].integer and not r.x[1].discrete
    assert [c.name for c in r.integer_valued] == ["x[1]"] and not r.y[0].integer
    (msg,) = [d["message"] for d in r.diagnostics("kept") if d["code"] == "discrete_columns"]
    assert "x[0] (2 integer values)" in msg and "repeated whole numbers" in msg and "x[1]" in msg
    res = make_estimator("gcmi").fit(pd.DataFrame({"flag": flag, "count": counts}), cont).result_
    (msg,) = [d["message"] for d in res.diagnostics if d["code"] == "discrete_columns"]
    assert "flag (2 integer values)" in msg and "count" in msg


def test_digits_halves_need_no_preprocessing():
    from sklearn.datasets import load_digits

    img = load_digits().images
    x, y = img[:, :, :4].reshape(len(img), -1), img[:, :, 4:].reshape(len(img), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = mibound.estimate_mi(x, y, estimator="gcmi")
    codes = codes_of(res.diagnostics)
    assert codes[0] == "constant_columns" and "discrete_columns" in codes
    assert res.settings["dropped_columns"] == {"x": ["x[0]", "x[16]"], "y": ["y[19]"]}
    assert "17 integer values" in next(d["message"] for d in res.diagnostics if d["code"] == "discrete_columns")
    # without the critic no member of auto's panel can run here: gcmi sees collinear normal scores on the
    # validation rows, and the discrete plug-in's table would have a cell per row; auto says so rather
    # than report the plug-in's log n
    with pytest.raises(RuntimeError, match=r"no estimator of the auto panel could run.*discrete needs at least 5 "
                                           r"rows per cell of the joint table, but the 359 rows fill 359"):
        mibound.estimate_mi(x, y, estimator="auto", neural=False)


# -- input types that must not warn -----------------------------------------------------------------

def _inputs(name: str = ""):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((700, 2))
    x, y = _cells(name, x, x + 0.5 * rng.standard_normal((700, 2)))
    ro_x, ro_y = x.copy(), y.copy()
    ro_x.flags.writeable = ro_y.flags.writeable = False
    return {
        "numpy": (x, y),
        "read-only": (ro_x, ro_y),
        "float32": (x.astype(np.float32), y.astype(np.float32)),
        "torch": (torch.from_numpy(x.copy()), torch.from_numpy(y.copy())),
        "pandas": (pd.DataFrame(x, columns=["p", "q"]), pd.DataFrame(y, columns=["r", "s"])),
        "nullable": (pd.DataFrame(x, columns=["p", "q"]).astype("Float64"),
                     pd.DataFrame(np.round(y * 3), columns=["r", "s"]).astype("Int64")),
        "lists": (x.tolist(), y.tolist()),
    }


@pytest.mark.parametrize("kind", sorted(_inputs()))
@pytest.mark.parametrize("name", FAST + ("infonce",))
def test_ordinary_inputs_give_results_without_warnings(kind, name):
    x, y = _inputs(name)[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = _quiet(name, **({"steps": 20} if takes(name, "steps") else {})).fit(x, y).result_
    assert math.isfinite(res.estimate)
    if kind in ("pandas", "nullable"):
        assert res.settings["column_names"] == {"x": ["p", "q"], "y": ["r", "s"]}


def test_pandas_missing_and_non_numeric_columns_are_named():
    frame = pd.DataFrame({"ok": [1.0, 2.0, 3.0], "gap": pd.array([1, None, 3], dtype="Int64")})
    with pytest.raises(ValueError, match=r"x has missing values \(NaN or pd\.NA\) in column\(s\) 'gap' \(first in row 1\)"):
        read_pair(frame, np.arange(3.0))
    with pytest.raises(ValueError, match=r"y has missing values .* 'b'"):
        read_pair(np.arange(3.0), pd.DataFrame({"a": [1.0, 2, 3], "b": [1.0, np.nan, 2]}))
    with pytest.raises(TypeError, match=r"x \(DataFrame\) has non-numeric column\(s\) 'label'"):
        read_pair(pd.DataFrame({"v": [1.0, 2, 3], "label": ["a", "b", "c"]}), np.arange(3.0))
    with pytest.raises(TypeError, match=r"y \(DataFrame\) has non-numeric column\(s\) 'kind'"):
        read_pair(np.arange(3.0), pd.DataFrame({"kind": pd.Categorical(["a", "b", "a"])}))
    # numbers stored in an object column convert, as numpy would convert them
    p = read_pair(pd.DataFrame({"v": pd.Series([1.0, 2.0, 4.0], dtype=object)}), np.arange(3.0))
    np.testing.assert_array_equal(p.x[:, 0], [1.0, 2.0, 4.0])


def test_warnings_raised_in_mibound_modules_fail_the_tests():
    """The pyproject filter turns a warning attributed to a mibound module into an error."""
    with pytest.raises(UserWarning, match="probe"):
        warnings.warn_explicit("probe", UserWarning, "mibound/_probe.py", 1, module="mibound._probe")
    # a library warning triggered by a call in a mibound module (numpy's, issued from C like torch's)
    space = {"__name__": "mibound._probe", "np": np}
    exec(compile("def log_of(a):\n    return np.log(a)\n", "mibound/_probe.py", "exec"), space)
    with pytest.raises(RuntimeWarning, match="divide by zero"):
        space["log_of"](np.zeros(1))
    # the same call from a test module only warns
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        np.log(np.zeros(1))


def test_import_is_clean_under_w_error():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-W", "error", "-c", "import mibound, mibound.inputs"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr


# -- one check per fit ------------------------------------------------------------------------------

@pytest.mark.parametrize("neural", [False, True])
def test_auto_checks_the_pair_once_per_view(monkeypatch, neural):
    """``auto`` reads the pair once (read_pair) and hands it to its members: one array check per view.

    Before the members took the checked pair, ``auto`` on a small pair ran ``as_2d_array`` 21
    (without the critic) or 23 (with it) times per view.
    """
    import mibound.inputs.checks as checks

    calls = []
    real = checks.as_2d_array  # every check of a pair (check_pair, read_pair, column_report) calls it
    monkeypatch.setattr(checks, "as_2d_array", lambda data, name="x", dtype=np.float64: calls.append(name)
                        or real(data, name, dtype))
    x, y = mibound.CorrelatedGaussian.from_mi(0.5, dim=2).sample(600, seed=0)
    res = make_estimator("auto", neural=neural, steps=20, batch_size=32, progress=False).fit(x, y).result_
    assert ("infonce" in res.settings["panel"]) == neural and len(res.settings["panel"]) >= 4
    assert sorted(calls) == ["x", "y"]


def test_a_pair_is_read_once_and_taken_as_it_is():
    x = pd.DataFrame({"a": np.arange(50.0) % 7, "flat": 1.0})
    y = np.sin(np.arange(50.0))
    pair = read_pair(x, y)
    assert read_pair(pair, None) is pair and read_pair(pair, None, dtype=np.float32).x.dtype == np.float32
    with pytest.raises(TypeError, match=r"pass the Pair alone: read_pair\(pair, None\)"):
        read_pair(pair, y)
    for name in FAST[:-1]:  # an estimator's fit(pair, None) is its fit(x, y)
        a, b = _quiet(name).fit(x, y).result_, _quiet(name).fit(pair, None).result_
        assert a.estimate == b.estimate and a.settings["column_names"] == b.settings["column_names"]
    for name in ("discrete",):  # its domain: few cells (two columns of two values)
        dx, dy = pd.DataFrame({"a": np.arange(50.0) % 2, "flat": 1.0}), np.sign(y)
        a, b = _quiet(name).fit(dx, dy).result_, _quiet(name).fit(read_pair(dx, dy), None).result_
        assert a.estimate == b.estimate and a.settings["column_names"] == b.settings["column_names"]
    # rows of a pair: columns constant on those rows join the dropped ones, under their names
    sub = pair.rows(np.flatnonzero(x["a"] == 3))
    assert sub.names == ((), ("y[0]",)) and sub.dropped == (("flat", "a"), ()) and sub.degenerate


# -- the pairing of two frames, and a column in both views ------------------------------------------

def test_pandas_views_are_paired_by_index():
    rng = np.random.default_rng(6)
    x = pd.DataFrame({"p": rng.standard_normal(300)}, index=rng.permutation(300) + 1000)
    y = pd.Series(x["p"].to_numpy() + 0.3 * rng.standard_normal(300), index=x.index, name="r")
    shuffled = y.sample(frac=1.0, random_state=0)
    aligned = mibound.estimate_mi(x, y, estimator="gaussian").estimate
    assert mibound.estimate_mi(x, shuffled, estimator="gaussian").estimate == aligned > 1.0
    np.testing.assert_array_equal(read_pair(x, shuffled).y, read_pair(x, y).y)
    with pytest.raises(ValueError, match=r"different indexes \(label 1000 is in x's index only\).*"
                                         r"reset_index\(drop=True\).*x\.align\(y"):
        read_pair(x, y.set_axis(y.index + 1))
    with pytest.raises(ValueError, match="repeated labels.*reset_index"):
        read_pair(x, y.set_axis(np.r_[y.index[:-1], y.index[0]]))
    # by position when either view has no index
    assert read_pair(x, y.to_numpy()).n == 300


def test_a_named_column_in_both_views_is_refused():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.standard_normal((200, 3)), columns=["a", "b", "c"])
    with pytest.raises(ValueError, match="column 'b' is in both x and y: .*infinite MI.*give each column to one view"):
        mibound.estimate_mi(frame[["a", "b"]], frame[["b", "c"]], estimator="gaussian")
    with pytest.raises(ValueError, match="column 'a' is in both x and y"):
        read_pair(frame["a"], frame[["a"]])
    # the same name with other values (two sources) is no overlap
    other = pd.DataFrame({"b": rng.standard_normal(200)})
    assert read_pair(frame[["a", "b"]], other).names == (("a", "b"), ("b",))


def test_a_tensor_without_values_is_refused_naming_its_device():
    meta = torch.empty((50, 2), device="meta")
    with pytest.raises(ValueError, match="x is a torch tensor on the 'meta' device.*'cpu' or 'cuda'"):
        read_pair(meta, np.arange(50.0))
    with pytest.raises(ValueError, match="y is a torch tensor on the 'meta' device"):
        mibound.estimate_mi(np.arange(50.0), torch.empty((50, 3, 8, 8), device="meta"), estimator="gcmi")


# -- one implementation each --------------------------------------------------------------------

def test_one_discrete_mi_for_tables_and_samples():
    from mibound.data import discrete_mi as data_discrete_mi
    from mibound.functional.nonparametric import discrete_mi

    assert data_discrete_mi is discrete_mi
    rng = np.random.default_rng(8)
    x = rng.integers(0, 3, (500, 2)).astype(float)
    y = (x[:, :1] + rng.integers(0, 2, (500, 1))) % 3
    keys_x = np.unique(x, axis=0, return_inverse=True)[1].ravel()
    table = np.zeros((keys_x.max() + 1, 3))
    np.add.at(table, (keys_x, y[:, 0].astype(int)), 1)
    assert discrete_mi(x, y, bias_correction=False) == pytest.approx(discrete_mi(table), rel=1e-12)
    plug_in, cells = discrete_mi(table), np.count_nonzero(table)  # Miller-Madow: (m_x - 1 + m_y - 1 - (m_xy - 1)) / 2n
    assert discrete_mi(x, y) == pytest.approx(plug_in + (table.shape[0] - 1 + 2 - (cells - 1)) / 1000, rel=1e-12)


def test_one_module_of_per_column_maps():
    from mibound.estimators.flow import MarginalMap
    from mibound.functional import nonparametric
    from mibound.inputs import maps

    assert nonparametric.copula_normalize is maps.copula_normalize
    rng = np.random.default_rng(9)
    train, other = rng.standard_cauchy((300, 2)), rng.standard_cauchy((100, 2)) * 5
    for kind in ("gaussianize", "standardize"):
        np.testing.assert_array_equal(MarginalMap(kind).fit(train)(other),
                                      maps.fit_column_map(train, kind, dtype=np.float64)(other))
    with pytest.raises(ValueError, match="x has 1 column.* constant on the training rows"):
        MarginalMap().fit(np.c_[train[:, 0], np.ones(300)])


def test_one_image_rule_for_views_critics_and_encoders():
    from mibound.data.encoders import AvgPool, CenterCrop
    from mibound.inputs.checks import image_shape

    assert image_shape((8, 8), sample=True) == (1, 8, 8) == image_shape(np.zeros((2, 8, 8)))
    assert image_shape(64, sample=True) is None
    with pytest.raises(ValueError, match="AvgPool needs image views: input_shape has per-sample shape \\(64,\\)"):
        AvgPool(2).output_shape((64,))
    v = torch.arange(2 * 8 * 8, dtype=torch.float64).reshape(2, 8, 8)  # (n, H, W): one channel
    assert AvgPool(2).output_shape((8, 8)) == (1, 4, 4) and AvgPool(2)(v).shape == (2, 1, 4, 4)
    assert CenterCrop(4)(v).shape == (2, 1, 4, 4)


@pytest.mark.parametrize("name", ["gaussian", "gcmi", "ksg", "discrete", "tcmi"])
def test_every_estimator_refuses_channel_last_images(name):
    rng = np.random.default_rng(10)
    x_last, y = rng.standard_normal((300, 8, 8, 3)), rng.standard_normal((300, 2))
    with pytest.raises(ValueError, match=r"x has shape \(300, 8, 8, 3\), which looks channel-last.*"
                                         r"transpose\(0, 3, 1, 2\).*reshape\(len\(x\), -1\)"):
        _quiet(name).fit(x_last, y)
    flat = _cells(name, x_last.reshape(300, -1)[:, :1], y[:, :1])
    res = _quiet(name).fit(*flat).result_  # flat rows: the layout is the caller's
    assert math.isfinite(res.estimate)
