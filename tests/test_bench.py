import numpy as np
import pandas as pd
import pytest

from mibound.bench import COLUMNS, load_task_file, run_bench, summarize
from mibound.cli import main
from mibound.data import tasks

TASKS = ["gaussian-pairs-d1-mi0.5", "gaussian-pairs-d2-mi1", "encoded-crop8-off6-mean"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("tasks")
    tasks.export_tasks(path, n=800, seed=0, tasks=TASKS)
    return path


@pytest.fixture()
def bad_folder(folder, tmp_path):
    """The good tasks plus files other people might produce, broken in different ways."""
    for p in folder.iterdir():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    rng = np.random.default_rng(0)
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    (tmp_path / "garbage.npz").write_bytes(b"plain text, not even a zip header")
    (tmp_path / "empty.npz").write_bytes(b"")
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}] * 5, dtype=object), y=np.zeros((5, 1)),
             true_mi=0.1, allow_pickle=True)
    np.savez(tmp_path / "one-d.npz", x=rng.standard_normal(50), y=rng.standard_normal((50, 1)), true_mi=0.0)
    np.savez(tmp_path / "mismatch.npz", x=rng.standard_normal((50, 2)), y=rng.standard_normal((40, 2)), true_mi=1.0)
    np.savez(tmp_path / "nan.npz", x=np.full((50, 2), np.nan), y=rng.standard_normal((50, 2)), true_mi=1.0)
    np.savez(tmp_path / "no-y.npz", x=rng.standard_normal((50, 2)), true_mi=1.0)
    np.savez(tmp_path / "vector-mi.npz", x=rng.standard_normal((50, 2)), y=rng.standard_normal((50, 2)),
             true_mi=np.ones(3))
    x = rng.standard_normal((300, 2))
    np.savez(tmp_path / "no-true-mi.npz", x=x, y=x + rng.standard_normal((300, 2)), extra=np.arange(3))
    np.savez(tmp_path / "tiny.npz", x=rng.standard_normal((3, 4)), y=rng.standard_normal((3, 4)), true_mi=1.0)
    (tmp_path / "README.txt").write_text("not a task")
    return tmp_path


def test_bench_on_an_exported_folder(folder, tmp_path):
    out = tmp_path / "results.csv"
    frame = run_bench(folder, ["gaussian", "ksg", "gaussian"], out, options={"gaussian": {"n_subsamples": 20}})
    assert tuple(frame.columns) == COLUMNS
    disk = pd.read_csv(out)
    assert tuple(disk.columns) == COLUMNS and len(disk) == len(frame) == len(TASKS) * 2
    assert (disk["status"] == "ok").all()
    assert sorted(disk["task"].unique()) == sorted(TASKS)
    for _, r in disk.iterrows():
        assert r["true_mi"] == pytest.approx(tasks.get(r["task"]).mutual_information())
        assert r["abs_error"] == pytest.approx(abs(r["estimate"] - r["true_mi"]))
        assert r["rel_error"] == pytest.approx(r["abs_error"] / r["true_mi"])
        assert r["n"] == 800 and r["seconds"] >= 0 and r["ci_low"] <= r["ci_high"]
    gauss = disk[disk["estimator"] == "gaussian"].set_index("task")
    assert gauss.loc["gaussian-pairs-d2-mi1", "rel_error"] < 0.25
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]  # atomic: no temp files left
    summary = summarize(frame)
    assert list(summary["estimator"]) == ["gaussian", "ksg"]
    assert {"within_10pct", "within_25pct", "median_seconds", "failed"} <= set(summary.columns)


def test_bad_files_are_recorded_and_the_run_goes_on(bad_folder, tmp_path):
    out = tmp_path / "r.csv"
    frame = run_bench(bad_folder, ["gaussian"], out, options={"gaussian": {"n_subsamples": 0}})
    status = frame.set_index("task")["status"]
    assert len(frame) == len(TASKS) + 11
    for t in TASKS:
        assert status[t] == "ok"
    assert status["corrupt"].startswith("failed: ValueError") and "not a readable .npz" in status["corrupt"]
    assert "not a zip archive" in status["garbage"] and "empty file" in status["empty"]
    assert "object array" in status["objects"]
    assert "2-D" in status["one-d"]
    assert "same number of samples" in status["mismatch"]
    assert "NaN" in status["nan"]
    assert "missing array(s) ['y']" in status["no-y"]
    assert "true_mi must be a finite scalar" in status["vector-mi"]
    assert "gaussian needs at least 20 rows, got 3" in status["tiny"]  # the estimator failed, the file was fine
    row = frame.set_index("task").loc["no-true-mi"]
    assert row["status"] == "ok" and np.isnan(row["true_mi"]) and np.isnan(row["rel_error"])
    assert "README" not in set(frame["task"])
    summary = summarize(frame).iloc[0]
    assert summary["failed"] == 10
    assert frame["n"].dtype == "Int64" and frame.set_index("task").loc["corrupt", "n"] is pd.NA


def test_resume_keeps_finished_rows(folder, tmp_path):
    out = tmp_path / "r.csv"
    first = run_bench(folder, ["gaussian"], out, options={"gaussian": {"n_subsamples": 0}})
    second = run_bench(folder, ["gaussian", "ksg"], out, options={"gaussian": {"n_subsamples": 0}}, resume=True)
    kept = second[second["estimator"] == "gaussian"].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, first, check_dtype=False)
    assert len(second) == 2 * len(TASKS)


def test_neural_estimator_in_the_bench(folder):
    frame = run_bench(folder, ["infonce"], options={"infonce": {"steps": 4, "batch_size": 16, "log_every": 1}})
    assert (frame["status"] == "ok").all() and frame["estimate"].notna().all()


def test_load_task_file_and_bench_input_errors(folder, tmp_path):
    x, y, mi = load_task_file(folder / f"{TASKS[1]}.npz")
    assert x.shape == (800, 2) and x.dtype == np.float64 and mi == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no such directory"):
        run_bench(tmp_path / "missing", ["ksg"])
    with pytest.raises(ValueError, match="no .npz task files"):
        run_bench(tmp_path, ["ksg"])
    with pytest.raises(ValueError, match="unknown estimator"):
        run_bench(folder, ["kgs"])
    with pytest.raises(TypeError, match="unknown option"):
        run_bench(folder, ["ksg"], options={"ksg": {"neighbours": 3}})
    with pytest.raises(ValueError, match="not being run"):
        run_bench(folder, ["ksg"], options={"gaussian": {}})


def test_cli_bench(folder, tmp_path, capsys):
    out = tmp_path / "cli.csv"
    assert main(["bench", str(folder), "--estimator", "gaussian", "--estimator", "ksg", "--out", str(out),
                 "--subsamples", "10", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "within_10pct" in text and "within_25pct" in text and "median_seconds" in text
    assert len(pd.read_csv(out)) == 2 * len(TASKS)
    assert main(["bench", str(folder), "--estimator", "nope", "--out", str(out), "--quiet"]) == 2
    assert "unknown estimator" in capsys.readouterr().err


def test_constant_columns_are_dropped_in_the_bench(tmp_path):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((400, 2))
    np.savez(tmp_path / "padded.npz", x=np.c_[x, np.ones(400)], y=x + rng.standard_normal((400, 2)),
             true_mi=float(np.log(2)))
    np.savez(tmp_path / "flat.npz", x=np.zeros((400, 2)), y=x, true_mi=0.0)
    frame = run_bench(tmp_path, ["gcmi", "ksg"], tmp_path / "out.csv", progress=False).set_index(["task", "estimator"])
    assert (frame["status"] == "ok").all()
    assert all("constant_columns" in d for d in frame["diagnostics"])
    assert (frame.loc["flat", "estimate"] == 0.0).all()
    assert all("constant_view" in d for d in frame.loc["flat", "diagnostics"])
    assert (frame.loc["padded", "estimate"] > 0.3).all()
