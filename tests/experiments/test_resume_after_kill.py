"""A SIGKILL in the middle of an experiment or a bench run loses only the unfinished work.

The pattern of ``test_reliability.test_killed_experiment_keeps_finished_rows_and_resumes`` (the
staircase), for ``dpi``, ``vary-k``, ``self-consistency`` and ``mibound bench``: a separate process
runs each with tiny settings and is killed; the file it leaves holds only whole runs and no
temporary file; ``resume`` keeps those rows bit for bit and adds the rest; and the resumed table
equals the one an uninterrupted run writes (the seeds of a run do not depend on what was done).

Each run kills itself with SIGKILL on entering the N-th call of the function that does one unit
of work (training one group, one digits estimate, reading one task file): the kill lands in the
middle of the run at the same point on every machine, with no race between a timer and the
atomic CSV rewrite (a kill inside the rewrite would leave its temporary file behind by design).
SIGKILL cannot be caught, so nothing runs after it: no ``finally``, no ``atexit``. The four runs
are forked from one child process so that torch and mibound are imported once (seconds each).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mibound.cli import main
from mibound.data import tasks

from tests._gt_helpers import check_dpi_chain

ROOT = Path(__file__).resolve().parents[2]

#: One child process imports mibound once, then forks one run per experiment; each forked run
#: SIGKILLs itself on entering call ``kill_at`` of ``module.attr``. (Forking from a process that has
#: only imported torch, and has started no threads, is safe; each run starts its own threads after.)
_CHILD = """
import json, os, signal, sys, traceback
import torch
torch.set_num_threads(1)
import mibound.bench, mibound.cli
from mibound.experiments import dpi, self_consistency, vary_k
import sklearn.datasets, tqdm.auto
# imported lazily on first use, seconds each, in every forked run otherwise: torch's Adam pulls in
# torch._dynamo when the first optimiser is built (torch 2.13)
torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
status = {}
for name, spec in json.loads(sys.argv[1]).items():
    pid = os.fork()
    if pid == 0:
        try:
            module = sys.modules[spec["module"]]
            real, calls = getattr(module, spec["attr"]), [0]
            def killing(*args, **kwargs):
                calls[0] += 1
                if calls[0] == spec["kill_at"]:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(*args, **kwargs)
            setattr(module, spec["attr"], killing)
            exec(spec["run"], {**globals(), "out": spec["out"]})
        except BaseException:
            traceback.print_exc()
            os._exit(4)
        os._exit(3)  # finished before the kill
    _, st = os.waitpid(pid, 0)
    status[name] = -os.WTERMSIG(st) if os.WIFSIGNALED(st) else os.WEXITSTATUS(st)
with open(sys.argv[2], "w") as fh:
    json.dump(status, fh)
"""

DPI = dict(views=("gaussian",), ks=(16,), seeds=(0, 1), steps=10, eval_pairs=512)
VARY_K = dict(true_mis=(1.0, 4.0), ks=(4, 16), trained_ks=(4, 16), steps=10, eval_pairs=512)
SELF_CONSISTENCY = dict(estimators=("infonce",), ts=(0, 8), steps=10)
BENCH_TASKS = ["gaussian-pairs-d1-mi0.5", "gaussian-pairs-d2-mi1", "encoded-crop8-off6-mean"]
BENCH_ARGS = ["--estimator", "gaussian", "--estimator", "ksg", "--subsamples", "10", "--quiet"]


pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the killed runs are forked (POSIX)")


@pytest.fixture(scope="module")
def killed(tmp_path_factory) -> dict[str, Path]:
    """Run every experiment below in the child until its kill; return the output paths by name."""
    root = tmp_path_factory.mktemp("killed")
    folder = root / "tasks"
    tasks.export_tasks(folder, n=800, seed=0, tasks=BENCH_TASKS, progress=False)
    plan = {
        # one ensemble per (views, encoder, K) with both seeds: killed while training the third one
        "dpi": dict(module="mibound.experiments.dpi", attr="fit_samplers", kill_at=3,
                    run=f"dpi.run(out, progress=False, **{DPI!r})"),
        # 4 optimal-critic rows, then one trained ensemble per K: killed while training the second
        "vary-k": dict(module="mibound.experiments.vary_k", attr="fit_samplers", kill_at=2,
                       run=f"vary_k.run(out, progress=False, **{VARY_K!r})"),
        # jobs: baseline t=0, baseline t=8, data_processing t=8, additivity t=8; killed in the third
        "self-consistency": dict(module="mibound.experiments.self_consistency", attr="_estimate", kill_at=3,
                                 run=f"self_consistency.run(out, progress=False, **{SELF_CONSISTENCY!r})"),
        # the CSV is rewritten after every task file: killed while reading the third one
        "bench": dict(module="mibound.bench", attr="load_task_file", kill_at=3,
                      run=f"mibound.cli.main(['bench', {str(folder)!r}, '--out', out, *{BENCH_ARGS!r}])"),
    }
    outs = {name: root / name for name in plan}
    outs["bench"] = root / "bench" / "killed.csv"
    outs["bench"].parent.mkdir()
    for name, spec in plan.items():
        spec["out"] = str(outs[name])
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    status_file = root / "status.json"
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(plan), str(status_file)], env=env, cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    status = json.loads(status_file.read_text())
    outs["status"] = status
    outs["stderr"] = proc.stderr
    outs["tasks"] = folder
    return outs


def assert_killed(killed, name: str) -> Path:
    """The run ``name`` died of SIGKILL (not finished first, no error); its output path."""
    assert killed["status"][name] == -signal.SIGKILL, (killed["status"][name], killed["stderr"][-3000:])
    return killed[name]


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name]


# ---------------------------------------------------------------------------------------------
# experiments
# ---------------------------------------------------------------------------------------------
def _no_figure(monkeypatch, module):
    """The uninterrupted reference runs are compared by their CSVs only: skip drawing their figures."""
    monkeypatch.setattr(module, "_plot", lambda frame: None)
    monkeypatch.setattr(module, "save_figure", lambda fig, out, stem: [])


def test_dpi_killed_mid_run_resumes_to_the_uninterrupted_table(killed, tmp_path, monkeypatch):
    from mibound.experiments import dpi

    out = assert_killed(killed, "dpi")
    partial = pd.read_csv(out / "dpi.csv")
    assert len(partial) == 2 * 2 and list(partial["seed"]) == [0, 1, 0, 1]  # two whole groups
    assert list(dict.fromkeys(partial["encoder"])) == ["identity", "random-linear-8"]
    assert no_temp_files(out) and not (out / "metadata.json").exists()

    resumed = dpi.run(out, progress=False, resume=True, **DPI)
    key = ["views", "encoder", "K", "seed"]
    n_groups = len(dpi.encoders_for("gaussian", dpi.VIEWS["gaussian"]()))
    assert len(resumed) == 2 * n_groups and not resumed.duplicated(key).any()
    pd.testing.assert_frame_equal(resumed.iloc[: len(partial)].reset_index(drop=True), partial)
    for name in ["dpi.csv", "dpi_gaps.csv", "metadata.json", "dpi.png", "dpi.svg"]:
        assert (out / name).stat().st_size > 0
    _no_figure(monkeypatch, dpi)
    fresh = dpi.run(tmp_path / "fresh", progress=False, **DPI)
    pd.testing.assert_frame_equal(resumed, fresh)
    check_dpi_chain(resumed, DPI["eval_pairs"] // 16)


def test_vary_k_killed_mid_run_resumes_to_the_uninterrupted_table(killed, tmp_path, monkeypatch):
    from mibound.experiments import vary_k

    out = assert_killed(killed, "vary-k")
    partial = pd.read_csv(out / "vary_k.csv")
    assert partial[["critic", "K"]].value_counts().to_dict() == {("optimal", 4): 2, ("optimal", 16): 2,
                                                                  ("trained", 4): 2}
    assert no_temp_files(out) and not (out / "metadata.json").exists()

    resumed = vary_k.run(out, progress=False, resume=True, **VARY_K)
    assert len(resumed) == 8 and not resumed.duplicated(["true_mi", "K", "critic"]).any()
    pd.testing.assert_frame_equal(resumed.iloc[: len(partial)].reset_index(drop=True), partial)
    for name in ["vary_k.csv", "vary_k_summary.csv", "metadata.json", "vary_k.png", "vary_k.svg"]:
        assert (out / name).stat().st_size > 0
    _no_figure(monkeypatch, vary_k)
    fresh = vary_k.run(tmp_path / "fresh", progress=False, **VARY_K)
    pd.testing.assert_frame_equal(resumed, fresh)


def test_self_consistency_killed_mid_run_resumes_to_the_uninterrupted_table(killed, tmp_path, monkeypatch):
    from mibound.experiments import self_consistency

    out = assert_killed(killed, "self-consistency")
    partial = pd.read_csv(out / "self_consistency.csv")
    assert partial[["test", "t"]].values.tolist() == [["baseline", 0], ["baseline", 8]]
    assert no_temp_files(out) and not (out / "metadata.json").exists()

    self_consistency.run(out, progress=False, resume=True, **SELF_CONSISTENCY)
    resumed = pd.read_csv(out / "self_consistency.csv")  # rewritten at the end with reference and ratio
    assert resumed[["test", "t"]].values.tolist() == [["baseline", 0], ["baseline", 8], ["data_processing", 8],
                                                      ["additivity", 8]]
    pd.testing.assert_frame_equal(resumed.iloc[: len(partial)], partial)  # baseline rows: no reference
    assert resumed["ratio"].notna().sum() == 2
    for name in ["self_consistency_summary.csv", "metadata.json", "self_consistency.png"]:
        assert (out / name).stat().st_size > 0
    _no_figure(monkeypatch, self_consistency)
    self_consistency.run(tmp_path / "fresh", progress=False, **SELF_CONSISTENCY)
    pd.testing.assert_frame_equal(resumed, pd.read_csv(tmp_path / "fresh" / "self_consistency.csv"))


# ---------------------------------------------------------------------------------------------
# mibound bench
# ---------------------------------------------------------------------------------------------
def test_bench_killed_mid_run_resumes_to_the_uninterrupted_table(killed, tmp_path, capsys):
    out = assert_killed(killed, "bench")
    folder = killed["tasks"]
    partial_text = out.read_text()
    partial = pd.read_csv(out)
    first, second = sorted(BENCH_TASKS)[:2]  # files are read in name order
    assert partial[["task", "estimator"]].values.tolist() == [
        [first, "gaussian"], [first, "ksg"], [second, "gaussian"], [second, "ksg"]]
    assert (partial["status"] == "ok").all() and no_temp_files(out.parent)

    assert main(["bench", str(folder), "--out", str(out), "--resume", *BENCH_ARGS]) == 0
    assert main(["bench", str(folder), "--out", str(tmp_path / "fresh.csv"), *BENCH_ARGS]) == 0
    capsys.readouterr()
    resumed, fresh = pd.read_csv(out), pd.read_csv(tmp_path / "fresh.csv")
    assert out.read_text().startswith(partial_text)  # the finished rows, byte for byte
    assert len(resumed) == 2 * len(BENCH_TASKS) and not resumed.duplicated(["task", "estimator"]).any()
    # the same rows as without the kill (wall times differ)
    pd.testing.assert_frame_equal(resumed.drop(columns="seconds"), fresh.drop(columns="seconds"))
    assert np.isfinite(resumed["estimate"]).all()
