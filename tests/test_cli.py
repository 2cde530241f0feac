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


def test_csv_columns_by_name_and_index(data, capsys):
    out = run_json(capsys, "estimate", str(data / "pair.csv"), "--x-cols", "a,b", "--y-cols", "2,3",
                   "--estimator", "ksg", "--json")
    assert abs(out["estimate"] - 1.0) < 0.2


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
    (["estimate", "{d}/pair.npz", "--estimator", "ksg", "--steps", "5"], "apply to neural"),
    (["estimate", "{d}/pair.npz", "--batch-size", "1"], "batch_size must be >= 2"),
    (["estimate", "{d}/pair.npz", "--batch-size", "1024"], "too few samples"),
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
