"""Bad input, numerical safety, determinism, no code execution from data, interrupted experiments."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mibound
import mibound.inputs.files
from mibound.functional import bounds
from mibound import TrainingDiverged, gaussian_mi
from mibound.api import estimate_mi
from mibound.cli import main

from .conftest import ExplodingCritic, random_spd

ROOT = Path(__file__).resolve().parents[1]


# -- determinism ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["infonce", "nwj", "dv", "mine", "tuba", "js", "smile"])
def test_bit_identical_reruns(name):
    x, y = mibound.CorrelatedGaussian.from_mi(1.0, 3).sample(1200, seed=7)
    kw = dict(estimator=name, steps=40, batch_size=32, seed=11, progress=False, critic_options={"hidden_dim": 16})
    a, b = estimate_mi(x, y, **kw), estimate_mi(x, y, **kw)
    assert a.estimate == b.estimate and a.ci == b.ci and a.history == b.history
    assert a.settings["seed"] == 11


def test_seed_does_not_leak_into_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    x, y = mibound.CorrelatedGaussian.from_mi(1.0, 2).sample(800, seed=0)
    estimate_mi(x, y, "infonce", steps=5, batch_size=16, progress=False, critic_options={"hidden_dim": 8})
    assert torch.equal(torch.rand(1), before)
    torch.manual_seed(123)
    estimate_mi(x, y, steps=5, batch_size=16, progress=False)  # auto, with its neural member
    assert torch.equal(torch.rand(1), before)


# -- numerical safety ---------------------------------------------------------------------------
def test_divergence_is_an_error_naming_estimator_and_step():
    x, y = mibound.CorrelatedGaussian.from_mi(1.0, 2).sample(1000, seed=0)
    with pytest.raises(TrainingDiverged, match=r"tuba training diverged: non-finite loss at step 12"):
        # no validation split: the exploding critic counts its calls, and validation reads would call it too
        estimate_mi(x, y, "tuba", critic=ExplodingCritic(12), steps=50, batch_size=16, progress=False, log_every=10,
                    validation_fraction=0.0)


def test_float32_large_scores_stay_finite_in_bounded_estimators():
    s = torch.randn(64, 64) * 200  # exp(200) overflows float32
    for f in (bounds.infonce, bounds.dv, bounds.js_fgan, bounds.smile):
        assert torch.isfinite(f(s))


# -- property tests on exact MI -------------------------------------------------------------------
@st.composite
def spd_and_split(draw):
    d = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    return random_spd(rng, d, jitter=draw(st.floats(0.05, 2.0))), draw(st.integers(1, d - 1)), rng


@given(spd_and_split())
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_exact_mi_nonnegative_symmetric_invariant(case):
    cov, dx, rng = case
    d = len(cov)
    mi = gaussian_mi(cov, dx)
    assert mi >= 0
    perm = np.r_[dx:d, 0:dx]
    assert gaussian_mi(cov[np.ix_(perm, perm)], d - dx) == pytest.approx(mi, rel=1e-7, abs=1e-10)
    t = np.zeros((d, d))
    t[:dx, :dx] = rng.standard_normal((dx, dx)) + 3 * np.eye(dx)
    t[dx:, dx:] = rng.standard_normal((d - dx, d - dx)) + 3 * np.eye(d - dx)
    assert gaussian_mi(t @ cov @ t.T, dx) == pytest.approx(mi, rel=1e-6, abs=1e-9)


@given(spd_and_split())
@settings(max_examples=40)
def test_dropping_coordinates_never_increases_exact_mi(case):
    cov, dx, _ = case
    d = len(cov)
    if d - dx < 2:
        return
    keep = list(range(d - 1))  # drop the last y coordinate: a projection of y
    assert gaussian_mi(cov[np.ix_(keep, keep)], dx) <= gaussian_mi(cov, dx) + 1e-10


# -- no code execution from data ----------------------------------------------------------------
def test_crafted_object_npy_pair_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.array([{"a": 1}] * 4, dtype=object), allow_pickle=True)
    np.save(tmp_path / "y.npy", np.zeros(4))
    with pytest.raises(ValueError, match="refusing to unpickle"):
        mibound.inputs.files.load_pair(tmp_path / "x.npy", tmp_path / "y.npy")


# -- the CLI never shows a traceback for bad files -------------------------------------------------
def _write_case(path: Path, kind: str, payload: bytes, rng) -> list[str]:
    """Write one malformed or random input file; return the extra CLI arguments."""
    if kind == "bytes":
        path = path.with_suffix(".npz")
        path.write_bytes(payload)
        return [str(path)]
    if kind == "truncated_npz":
        full = path.with_suffix(".full.npz")
        np.savez(full, x=rng.standard_normal((400, 2)), y=rng.standard_normal((400, 2)))
        data = full.read_bytes()
        path = path.with_suffix(".npz")
        path.write_bytes(data[: max(1, len(payload) % len(data))])
        return [str(path)]
    if kind == "csv":
        path = path.with_suffix(".csv")
        path.write_bytes(payload)
        return [str(path), "--x-cols", "0", "--y-cols", "1"]
    if kind == "npy":
        px, py = path.with_suffix(".x.npy"), path.with_suffix(".y.npy")
        px.write_bytes(payload)
        np.save(py, rng.standard_normal(10))
        return [str(px), str(py)]
    if kind == "zip_member":
        path = path.with_suffix(".npz")
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("x.npy", payload)
            z.writestr("y.npy", payload[::-1])
        return [str(path)]
    raise AssertionError(kind)


@given(kind=st.sampled_from(["bytes", "truncated_npz", "csv", "npy", "zip_member"]), payload=st.binary(max_size=300))
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzz_cli_files_end_in_clean_error_or_result(tmp_path, capsys, kind, payload):
    rng = np.random.default_rng(len(payload))
    args = _write_case(tmp_path / f"case{abs(hash(payload)) % 10**8}", kind, payload, rng)
    code = main(["estimate", *args, "--estimator", "gaussian", "--json"])
    out, err = capsys.readouterr()
    if code == 0:
        assert "estimate" in json.loads(out)
    else:
        assert code == 2
        assert err.startswith("mibound: error:") and err.count("\n") == 1
        assert_user_facing(err)


#: The families of messages a user may see for a bad input file (mibound.inputs.files, mibound.inputs.checks,
#: the Gaussian plug-in). The CLI turns every ValueError/TypeError/RuntimeError/OSError into exit 2,
#: so the exit status alone cannot tell a clean refusal from an internal error: the text must match.
_PATH = r"\S+\.(?:npz|npy|csv)"
USER_FACING = [re.compile(p) for p in (
    rf"^{_PATH}: (?:no such file|empty file|empty CSV file|CSV has a header but no rows)$",
    rf"^{_PATH}: is a directory, expected",
    rf"^{_PATH}: not a readable \.(?:npz|npy) file \(",
    rf"^{_PATH}: holds an object array; refusing to unpickle it",
    rf"^{_PATH}: missing array\(s\) \[.*\]; the file has \[",
    rf"^{_PATH}: true_mi must be a finite scalar, got shape",
    rf"^{_PATH}: --[xy]-cols column .* not found; columns are \[",
    rf"^{_PATH}: row \d+ has \d+ fields, (?:header|first row) has \d+$",
    rf"^{_PATH}: row \d+, column .*: .* is not a number$",
    rf"^{_PATH}: unsupported file type",
    r"^[xy] is None; expected an array",
    r"^[xy] \(\w+\) has non-numeric (?:column|value)",
    r"^[xy] has missing values \(NaN or pd\.NA\) in column",
    r"^[xy] is ragged or not array-like",
    r"^[xy] is an object array",
    r"^[xy] has (?:complex|bytes|string|void/structured|datetime|timedelta) dtype \S+; expected real numbers$",
    r"^[xy] has dtype \S+; expected real numbers$",
    r"^[xy] is a scalar; expected an array of shape",
    r"^[xy] has \d+ dimensions \(shape \(.*\)\); expected 1-D or 2-D",
    r"^[xy] has \d+ dimensions \(shape \(.*\)\); expected \(n, d\), images \(n, H, W\) or channel-first",
    r"^[xy] has shape \(.*\), which looks channel-last \(n, H, W, C\) with C = \d; images must be channel-first",
    r"^[xy] is empty \(shape \(.*\)\); expected at least one sample",
    r"^[xy] contains \d+ NaN and \d+ inf values \(first at row \d+, column \d+\)",
    r"^[xy] has values up to \S+ in magnitude \(limit",
    r"^x and y must have the same number of samples \(rows\), got \d+ and \d+$",
    r"^the Gaussian plug-in needs n > dx \+ dy \+ 1 = \d+ samples, got \d+$",
    r"^the sample covariance is singular",
    r": not a UTF-8 text file \(byte 0x[0-9a-f]{2} at position \d+\); save the CSV as UTF-8$",
)]
#: Text of Python's own errors: an internal TypeError/AttributeError/... that reached the user.
INTERNAL = ("object of type", "unsupported operand", "has no attribute", "takes", "positional argument",
            "NoneType", "not subscriptable", "not iterable", "index out of", "Traceback", "referenced before")


def assert_user_facing(err: str) -> None:
    """``err`` is one ``mibound: error: MESSAGE`` line whose MESSAGE is a known user-facing family."""
    msg = err.removeprefix("mibound: error: ").rstrip("\n")
    assert not any(bad in msg for bad in INTERNAL), msg
    assert any(p.search(msg) for p in USER_FACING), f"not a known user-facing message: {msg!r}"


def test_non_utf8_csv_names_the_file(tmp_path, capsys):
    (tmp_path / "latin1.csv").write_bytes("a,b\n1,\xe9\n".encode("latin-1"))
    assert main(["estimate", str(tmp_path / "latin1.csv"), "--x-cols", "a", "--y-cols", "b"]) == 2
    err = capsys.readouterr().err
    assert "latin1.csv" in err and "UTF-8" in err.upper()


STRUCTURED_BAD = {
    "nan": lambda r: dict(x=np.full((300, 2), np.nan), y=r.standard_normal((300, 2))),
    "inf": lambda r: dict(x=np.r_[r.standard_normal((299, 2)), [[np.inf, 1]]], y=r.standard_normal((300, 2))),
    "mismatch": lambda r: dict(x=r.standard_normal((300, 2)), y=r.standard_normal((299, 2))),
    "rank5": lambda r: dict(x=r.standard_normal((300, 2, 2, 2, 2)), y=r.standard_normal((300, 2))),  # images are 3-D/4-D
    "strings": lambda r: dict(x=np.array([["a", "b"]] * 300), y=r.standard_normal((300, 2))),
    "complex": lambda r: dict(x=r.standard_normal((300, 2)) * 1j, y=r.standard_normal((300, 2))),
    "empty": lambda r: dict(x=np.zeros((0, 2)), y=np.zeros((0, 2))),
    "huge": lambda r: dict(x=r.standard_normal((300, 2)) * 1e30, y=r.standard_normal((300, 2))),
    "scalar": lambda r: dict(x=np.float64(3.0), y=np.float64(2.0)),
    "missing_y": lambda r: dict(x=r.standard_normal((300, 2))),
    "bad_true_mi": lambda r: dict(x=r.standard_normal((300, 2)), y=r.standard_normal((300, 2)), true_mi=np.ones(3)),
}


#: The message each STRUCTURED_BAD file must end in (the same for both estimators: the file and
#: the data are checked before any estimator runs). ``{f}`` is the file's path.
STRUCTURED_BAD_MESSAGES = {
    "nan": r"x contains 600 NaN and 0 inf values \(first at row 0, column 0\); remove or impute them",
    "inf": r"x contains 0 NaN and 1 inf values \(first at row 299, column 0\)",
    "mismatch": r"x and y must have the same number of samples \(rows\), got 300 and 299",
    "rank5": r"x has 5 dimensions \(shape \(300, 2, 2, 2, 2\)\); expected \(n, d\), images \(n, H, W\)",
    "strings": r"x has string dtype <U1; expected real numbers",
    "complex": r"x has complex dtype complex128; expected real numbers",
    "empty": r"x is empty \(shape \(0, 2\)\)",
    "huge": r"x has values up to 3\.9e\+30 in magnitude \(limit 1e\+15\); rescale the data",
    "scalar": r"x is a scalar; expected an array of shape \(n_samples, n_features\)",
    "missing_y": r"{f}: missing array\(s\) \['y'\]; the file has \['x'\]",
    "bad_true_mi": r"{f}: true_mi must be a finite scalar, got shape \(3,\) dtype float64",
}


def test_every_structured_case_has_a_message():
    assert set(STRUCTURED_BAD_MESSAGES) == set(STRUCTURED_BAD)


@pytest.mark.parametrize("case", sorted(STRUCTURED_BAD))
@pytest.mark.parametrize("estimator", ["gaussian", "infonce"])
def test_structured_bad_npz(tmp_path, capsys, case, estimator):
    path = tmp_path / "bad.npz"
    np.savez(path, **STRUCTURED_BAD[case](np.random.default_rng(0)))
    assert main(["estimate", str(path), "--estimator", estimator, "--steps", "1"] if estimator
                == "infonce" else ["estimate", str(path), "--estimator", estimator]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mibound: error:") and err.count("\n") == 1 and "Traceback" not in err
    want = "^mibound: error: " + STRUCTURED_BAD_MESSAGES[case].replace("{f}", re.escape(str(path)))
    assert re.match(want, err), (case, err)
    assert_user_facing(err)


@pytest.mark.parametrize("argv,match", [
    (["--steps", "-3"], "steps must be >= 0"),
    (["--batch-size", "0"], "batch_size must be >= 2"),
    (["--learning-rate", "nan"], "learning_rate must be finite"),
    (["--seed", "-1"], "seed must be in"),
    (["--critic", "dense"], "unknown critic"),
    (["--estimator", "mien"], "did you mean 'mine'"),
    (["--threads", "0"], "--threads must be >= 1"),
])
def test_bad_cli_option_values(tmp_path, capsys, argv, match):
    x, y = mibound.CorrelatedGaussian.from_mi(1.0, 2).sample(2000, seed=0)
    np.savez(tmp_path / "ok.npz", x=x, y=y)
    assert main(["estimate", str(tmp_path / "ok.npz"), *argv, "--quiet"]) == 2
    assert match in capsys.readouterr().err


# -- interrupted experiments keep finished runs and resume ----------------------------------------
_RUN = """
import sys
import torch
from mibound.experiments import staircase
torch.set_num_threads(1)
staircase.run(sys.argv[1], quick=True, steps_per_level=int(sys.argv[2]), progress=False, resume='--resume' in sys.argv,
              estimators=("infonce", "smile", "nwj", "js"), levels=(2.0, 4.0))
"""


def test_killed_experiment_keeps_finished_rows_and_resumes(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = tmp_path / "run"
    csv = out / "staircase.csv"
    proc = subprocess.Popen([sys.executable, "-c", _RUN, str(out), "150"], env=env, cwd=tmp_path)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (csv.exists() and csv.stat().st_size > 0):
            time.sleep(0.05)
        assert csv.exists(), "the first run never finished"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    partial = pd.read_csv(csv)
    finished = partial.groupby("estimator").size()
    assert (finished == 300).all()  # every run in the file is complete: no half-written rows
    assert len(finished) < 5, "the kill came too late to test anything"
    # a kill that lands inside a rewrite leaves the writer's temporary file (nothing can prevent that
    # under SIGKILL); the resumed run removes it
    r = subprocess.run([sys.executable, "-c", _RUN, str(out), "150", "--resume"], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not list(out.glob(".*.tmp")), "a temporary file was left behind"
    full = pd.read_csv(csv)
    assert full.groupby(["estimator", "critic"]).size().to_dict() == {
        ("infonce", "separable"): 300, ("smile", "separable"): 300, ("nwj", "separable"): 300,
        ("js", "separable"): 300, ("infonce", "optimal"): 300}
    # rows finished before the kill are kept bit for bit
    pd.testing.assert_frame_equal(full.iloc[: len(partial)].reset_index(drop=True), partial)


def test_atomic_write_keeps_old_file_on_failure_and_normal_permissions(tmp_path):
    from mibound.inputs.files import atomic_open, atomic_write_text

    target = tmp_path / "r.csv"
    atomic_write_text(target, "a\n1\n")
    old = os.umask(0o022)
    try:
        atomic_write_text(target, "a\n2\n")
    finally:
        os.umask(old)
    assert target.read_text() == "a\n2\n" and (target.stat().st_mode & 0o777) == 0o644
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_open(target) as fh:
            fh.write("half a row")
            raise RuntimeError("boom")
    assert target.read_text() == "a\n2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]
