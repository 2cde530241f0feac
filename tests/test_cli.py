import json
import subprocess
import sys

import numpy as np
import pytest

from mibound import CorrelatedGaussian
from mibound.cli import main


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    x, y = CorrelatedGaussian.from_mi(1.0, 2).sample(2000, seed=0)
    np.savez(d / "pair.npz", x=x, y=y, true_mi=np.float64(1.0), extra=np.arange(3))
    np.save(d / "x.npy", x)
    np.save(d / "y.npy", y)
    with open(d / "pair.csv", "w") as fh:
        fh.write("a,b,c,d\n")
        for row in np.c_[x, y]:
            fh.write(",".join(f"{v:.6f}" for v in row) + "\n")
    return d


def run_json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_npz_json(data, capsys):
    out = run_json(capsys, "estimate", str(data / "pair.npz"), "--estimator", "gaussian", "--json")
    assert out["estimator"] == "gaussian" and out["true_mi"] == 1.0
    assert abs(out["estimate"] - 1.0) < 0.1


def test_npy_pair_and_neural_options(data, capsys):
    out = run_json(capsys, "estimate", str(data / "x.npy"), str(data / "y.npy"), "--estimator", "infonce",
                   "--steps", "30", "--batch-size", "32", "--seed", "3", "--critic", "bilinear", "--json")
    assert out["batch_size"] == 32 and out["seed"] == 3 and out["settings"]["critic"] == "bilinear"
    assert out["settings"]["steps"] == 30


#: ``mibound estimate --json``: the same top-level keys for every estimator (EstimateResult.to_dict)
JSON_KEYS = {"estimator", "estimate", "ci", "std", "ceiling", "true_mi", "is_bound", "n_train", "n_test",
             "batch_size", "seed", "seconds", "history", "settings", "diagnostics", "error", "gap_to_ceiling",
             "units"}
#: a neural estimator records every hyper-parameter, the thread count and the versions
NEURAL_SETTINGS = {"estimator", "critic", "batch_size", "steps", "learning_rate", "test_fraction", "seed", "clip",
                   "ema_rate", "eval_batches", "log_every", "lr_schedule", "critic_options", "num_threads",
                   "validation_fraction", "patience", "min_steps", "eval_batch_size", "preprocess", "weight_decay",
                   "alpha", "selection", "versions", "column_names", "dropped_columns", "image_layout", "view_shapes",
                   "folds", "interval"}
VERSIONS = {"mibound", "torch", "numpy", "scipy"}


def test_json_key_set_of_a_neural_estimator(data, capsys):
    out = run_json(capsys, "estimate", str(data / "pair.npz"), "--estimator", "nwj", "--steps", "25",
                   "--batch-size", "16", "--seed", "2", "--quiet", "--json")
    assert set(out) == JSON_KEYS
    assert set(out["settings"]) == NEURAL_SETTINGS and set(out["settings"]["versions"]) == VERSIONS
    assert set(out["history"]) == {"step", "train_estimate", "loss"}
    assert out["history"]["step"] == [24]  # log_every 100 > steps: only the last step is logged
    s = out["settings"]
    assert (s["estimator"], s["critic"], s["batch_size"], s["steps"], s["seed"]) == ("nwj", "separable", 16, 25, 2)
    assert (out["estimator"], out["batch_size"], out["seed"], out["units"]) == ("nwj", 16, 2, "nats")
    # 2000 pairs: 70% train, 10% validation, 20% test, read in 4 batches of K = 100
    assert out["n_train"] == 1400 and out["n_test"] == 400 and s["eval_batch_size"] == 100
    assert out["true_mi"] == 1.0 and out["error"] == pytest.approx(out["estimate"] - 1.0)
    assert out["ceiling"] is None and out["gap_to_ceiling"] is None and out["is_bound"] is True
    assert len(out["ci"]) == 2 and out["ci"][0] < out["estimate"] < out["ci"][1]


#: every estimator class records the names of the columns it read and of those it dropped (constant)
COLUMN_SETTINGS = {"column_names", "dropped_columns"}


@pytest.mark.parametrize("estimator,settings", [
    ("gaussian", {"bias_correction", "n_subsamples", "seed", "versions", "interval"} | COLUMN_SETTINGS),
    ("ksg", {"k", "standardize", "workers", "ties", "transform", "seed", "versions", "interval"} | COLUMN_SETTINGS)])
def test_json_key_set_of_a_non_neural_estimator(data, capsys, estimator, settings):
    out = run_json(capsys, "estimate", str(data / "pair.npz"), "--estimator", estimator, "--json")
    assert set(out) == JSON_KEYS
    assert set(out["settings"]) == settings and set(out["settings"]["versions"]) == VERSIONS
    assert out["history"] == {} and out["batch_size"] is None and out["ceiling"] is None
    assert out["estimator"] == estimator and out["units"] == "nats" and out["n_test"] == 2000


def test_csv_columns_by_name_with_a_header_by_position_without(data, tmp_path, capsys):
    out = run_json(capsys, "estimate", str(data / "pair.csv"), "--x-cols", "a,b", "--y-cols", "c,d",
                   "--estimator", "ksg", "--json")
    assert abs(out["estimate"] - 1.0) < 0.2 and out["settings"]["column_names"] == {"x": ["a", "b"], "y": ["c", "d"]}
    # never both: a position is not a name in a file with a header
    assert main(["estimate", str(data / "pair.csv"), "--x-cols", "a,b", "--y-cols", "2,3"]) == 2
    err = capsys.readouterr().err
    assert "--y-cols column '2' not found; columns are ['a', 'b', 'c', 'd']: the file has a header row, so columns " \
           "are chosen by name" in err and err.count("\n") == 1
    # a first row of numbers is data, not a header: no row is lost, and columns are 0-based positions. Here the
    # views (0, 1) and (2, 3) are independent; reading "3,0,1,2" as a header made --x-cols 0,1 the columns named
    # "0" and "1" (positions 1 and 2), which put dependent columns in both views (gaussian read 5.98 nats)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3000))
    table = np.c_[a, a + 0.05 * rng.standard_normal(3000), b, b + 0.05 * rng.standard_normal(3000)]
    table[0] = [3, 0, 1, 2]
    np.savetxt(tmp_path / "plain.csv", table, delimiter=",", fmt="%.6g")
    out = run_json(capsys, "estimate", str(tmp_path / "plain.csv"), "--x-cols", "0,1", "--y-cols", "2,3",
                   "--estimator", "gaussian", "--json")
    assert out["n_test"] == 3000 and abs(out["estimate"]) < 0.1
    assert out["settings"]["column_names"] == {"x": ["0", "1"], "y": ["2", "3"]}
    assert main(["estimate", str(tmp_path / "plain.csv"), "--x-cols", "a", "--y-cols", "2"]) == 2
    assert "no header row (its first row is all numbers), so columns are chosen by 0-based position" in \
        capsys.readouterr().err


@pytest.mark.parametrize("x_cols, y_cols, match", [
    ("a,b", "b,c", "column 'b' is in both --x-cols and --y-cols: a view that holds part of the other has infinite MI"),
    ("a,a", "c", "column 'a' is given twice in --x-cols"),
])
def test_csv_column_in_both_views_is_refused(data, capsys, x_cols, y_cols, match):
    assert main(["estimate", str(data / "pair.csv"), "--x-cols", x_cols, "--y-cols", y_cols]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


@pytest.mark.parametrize("argv, extra, modules", [
    (["estimate", "{d}/pair.npz", "--estimator", "flow"], "flow", ("zuko",)),
    (["estimate", "{d}/pair.npz", "--estimator", "doe"], "flow", ("zuko",)),
    (["experiment", "color-split", "--quick", "--out", "{out}"], "images", ("skimage", "skimage.data")),
    (["experiment", "patch-distance", "--quick", "--out", "{out}"], "images", ("skimage", "skimage.data")),
    (["experiment", "infomin-learn", "--quick", "--out", "{out}"], "flow", ("zuko",)),
])
def test_a_missing_optional_package_is_one_line_naming_the_extra(data, tmp_path, capsys, monkeypatch, argv, extra,
                                                                 modules):
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # importing it now raises ImportError
    out = tmp_path / "out"
    assert main([a.format(d=data, out=out) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mibound: error:") and err.count("\n") == 1 and "Traceback" not in err
    assert f"is not installed (needed by the " in err and f"pip install 'mibound[{extra}]'" in err
    assert not out.exists()  # checked before anything is written


def test_readable_summary(data, capsys):
    assert main(["estimate", str(data / "pair.npz"), "--estimator", "gaussian"]) == 0
    text = capsys.readouterr().out
    assert "estimate" in text and "nats" in text and "true MI" in text


@pytest.mark.parametrize("argv,match", [
    (["estimate", "missing.npz"], "no such file"),
    (["estimate", "{d}/pair.npz", "--estimator", "infonse"], "did you mean 'infonce'"),
    (["estimate", "{d}/pair.csv"], "needs --x-cols and --y-cols"),
    (["estimate", "{d}/pair.csv", "--x-cols", "a", "--y-cols", "zz"], "column 'zz' not found"),
    (["estimate", "{d}/x.npy"], "pass the y file"),
    (["estimate", "{d}/pair.npz", "--estimator", "ksg", "--steps", "5"], "--steps do not apply to 'ksg'"),
    (["estimate", "{d}/pair.npz", "--estimator", "gcmi", "--threads", "2"], "--threads do not apply to 'gcmi'"),
    (["estimate", "{d}/pair.npz", "--estimator", "gcmi", "--threads", "0"], "--threads must be >= 1"),
    (["estimate", "{d}/pair.npz", "--batch-size", "1"], "batch_size must be >= 2"),
    (["estimate", "{d}/pair.npz", "--estimator", "infonce", "--batch-size", "1024"], "too few samples"),
    (["experiment", "stairs"], "did you mean 'staircase'"),
])
def test_errors_are_one_line_exit_2(data, capsys, argv, match):
    argv = [a.format(d=data) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mibound: error:") and match in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_object_array_npz_is_refused(tmp_path, capsys):
    np.savez(tmp_path / "evil.npz", x=np.array([1, "a", None], dtype=object), y=np.zeros(3))
    assert main(["estimate", str(tmp_path / "evil.npz")]) == 2
    assert "refusing to unpickle" in capsys.readouterr().err


def test_module_entry_point_and_debug(data, tmp_path):
    bad = tmp_path / "empty.npz"
    bad.write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "mibound", "estimate", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "empty file" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "mibound", "--debug", "estimate", str(bad)], capture_output=True,
                       text=True)
    assert r.returncode != 0 and "Traceback" in r.stderr


@pytest.mark.parametrize("argv", [["--help"], ["estimate", "--help"], ["experiment", "--help"], ["bench", "--help"],
                                  ["--version"], ["estimate"], ["estimate", "d.npz", "--steps", "x"]])
def test_help_and_argument_errors_import_no_heavy_library(argv):
    """``mibound --help`` and the parser's errors answer before torch, scikit-learn, SciPy or pandas load."""
    code = ("import sys\nfrom mibound.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'sklearn', 'scipy', 'pandas') if m in sys.modules), file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    assert r.stderr.strip().splitlines()[-1] == "[]", r.stderr[-2000:]


def test_experiment_help_lists_every_experiment_from_the_registry(capsys):
    """``mibound experiment --help`` lists each entry of the registry with its one-line description."""
    from mibound.experiments import EXPERIMENTS, MODULES, describe

    with pytest.raises(SystemExit):
        main(["experiment", "--help"])
    out = capsys.readouterr().out
    assert list(EXPERIMENTS) == list(MODULES) and "staircase" in MODULES
    for name in MODULES:
        line = next(line for line in out.splitlines() if line.split()[:1] == [name])
        assert describe(name) and describe(name) in line
