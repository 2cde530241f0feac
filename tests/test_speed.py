"""The speed benchmark (``benchmarks/bench_speed.py``) runs and prints its table (no wall-time assertions)."""

import io
import json
import subprocess
import sys

import pytest
import torch

import mibound
from mibound.cli import build_parser, main

from ._benchmarks import BENCHMARKS, load

speed = load("bench_speed")


def test_flop_counts_by_hand():
    # separable Poole critic, K=64: two MLPs 20-256-256-32 (no input gradient at the first layer)
    # and the 64x64x32 score product (forward, and two products in the backward pass)
    per_net = 64 * (2 * 2 * 20 * 256 + 3 * 2 * 256 * 256 + 3 * 2 * 256 * 32)
    assert speed.separable_step_flops(20, 20, 64) == 2 * per_net + 3 * 2 * 64 * 64 * 32
    # concat: the K^2 pairs through 256x256 and 256x1 with input gradients: about 1.6 GFLOP at K=64
    pairs = 4096 * 3 * 2 * (256 * 256 + 256)
    first = 64 * 2 * 2 * (20 * 256) * 2
    assert speed.concat_step_flops(20, 20, 64) == pairs + first
    assert 1.6e9 < speed.concat_step_flops(20, 20, 64) < 1.65e9
    assert speed.concat_step_flops(20, 20, 64, recompute=True) > speed.concat_step_flops(20, 20, 64)


def test_bench_prints_the_table_without_torch_mist(monkeypatch):
    monkeypatch.setattr(speed, "_torch_mist_available", lambda: (False, "ModuleNotFoundError: torch_mist"))
    out = io.StringIO()
    res = speed.bench_speed(steps=2, repeats=1, runs=2, concat_k=8, concat_steps=1, matmul_n=64, eval_batches=2,
                            staircase_steps=10, malloc=False, out=out)
    text = out.getvalue()
    for needle in ("minimal", "mibound train", "mibound ensemble (R=2, 2 workers)", "ensemble (2 workers) throughput",
                   "concat critic",
                   "TFLOP", "held-out InfoNCE", "threads"):
        assert needle in text, needle
    assert "torch-mist 0.2.17 train_mi_estimator" not in text
    assert res.settings["torch_mist"].startswith("ModuleNotFoundError")
    names = [r["contender"] for r in res.rows]
    assert names == ["minimal", "minimal (fused Adam)", "mibound train", "mibound ensemble (R=2, 1 worker)",
                     "mibound ensemble (R=2, 2 workers)", "mibound ensemble (R=2, 2 workers, bf16)"]
    assert all(r["ms_per_step"] > 0 for r in res.rows)


def test_minimal_loop_and_mibound_start_from_the_same_weights():
    from mibound.data.gaussian import CorrelatedGaussian

    sampler = CorrelatedGaussian.from_mi(1.0, 20)
    a = speed._Minimal(sampler, dict(speed.POOLE), seed=3)
    b = speed._Single(sampler, dict(speed.POOLE), seed=3)
    for p, q in zip(list(a.g.parameters()) + list(a.h.parameters()), b.critic.parameters()):
        assert torch.equal(p, q)


def test_cli_bench_speed_writes_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    code = main(["bench-speed", "--steps", "2", "--repeats", "1", "--runs", "2", "--concat-k", "8",
                 "--no-torch-mist", "--no-tune-malloc", "--json", str(path)])
    assert code == 0
    assert "ms/step" in capsys.readouterr().out
    data = json.loads(path.read_text())
    assert {"settings", "rows", "ratios", "staircase"} <= set(data)
    assert data["settings"]["torch_mist"] == "disabled"


def test_bad_settings():
    with pytest.raises(ValueError, match="steps must be >= 1"):
        speed.bench_speed(steps=0)
    with pytest.raises(TypeError, match="threads must be an int"):
        speed.bench_speed(threads=1.5)


def test_bench_includes_torch_mist_when_installed():
    pytest.importorskip("torch_mist")
    pytest.importorskip("pyro")
    out = io.StringIO()
    res = speed.bench_speed(steps=2, repeats=1, runs=2, concat_k=8, concat_steps=1, matmul_n=64, eval_batches=2,
                            staircase_steps=10, malloc=False, out=out)
    assert "torch-mist 0.2.17 train_mi_estimator" in out.getvalue()
    assert any(r["ratio"].startswith("torch-mist step") for r in res.ratios)


def test_time_staircase_trains_the_six_estimators():
    run = speed.time_staircase(steps=10, workers=2)
    assert run["steps"] == 10 and run["estimators"] == list(speed.STAIRCASE_ESTIMATORS)
    assert set(run["final"]) == set(speed.STAIRCASE_ESTIMATORS) and run["seconds"] > 0


def test_benchmark_leaves_the_global_rng_alone(monkeypatch):
    monkeypatch.setattr(speed, "_torch_mist_available", lambda: (False, "disabled in the test"))
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    speed.bench_speed(steps=2, repeats=1, runs=2, concat_k=8, concat_steps=1, matmul_n=64, eval_batches=2,
                      staircase_steps=10, malloc=False, out=io.StringIO())
    speed.time_staircase(steps=5, workers=1)
    assert torch.equal(torch.get_rng_state(), state)


def test_cli_and_script_take_the_same_options():
    sub = build_parser()._subparsers._group_actions[0].choices["bench-speed"]

    def options(parser):
        return {(a.dest, tuple(a.option_strings), a.default, a.type) for a in parser._actions if a.dest != "help"}

    assert options(sub) == options(speed.build_parser())


def test_cli_without_a_source_checkout_says_how_to_run_it(tmp_path, monkeypatch, capsys):
    installed = tmp_path / "site-packages" / "mibound"
    installed.mkdir(parents=True)
    monkeypatch.setattr(mibound, "__file__", str(installed / "__init__.py"))
    assert main(["bench-speed", "--steps", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "python benchmarks/bench_speed.py" in err and "source checkout" in err


def test_the_script_runs_from_the_command_line():
    script = BENCHMARKS / "bench_speed.py"
    r = subprocess.run([sys.executable, str(script), "--steps", "0"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "steps must be >= 1" in r.stderr, r.stderr


def test_bench_race_prints_its_lines(tmp_path, capsys, monkeypatch):
    """``benchmarks/bench_race.py`` on one tiny exported task and a small part 2 (torch-mist reported as
    absent): the ratio line, the stacked step cost and mibound's line come out. No wall-time assertion."""
    import numpy as np

    race = load("bench_race")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(800, 2)).astype(np.float32)
    np.savez(tmp_path / "tiny.npz", x=x, y=x + 0.5 * rng.normal(size=x.shape).astype(np.float32),
             shape_x=np.array([2]), shape_y=np.array([2]), true_mi=np.float64(1.0))
    speed_mod = load("bench_speed")
    monkeypatch.setattr(speed_mod, "_torch_mist_available", lambda: (False, "test"))
    monkeypatch.setitem(sys.modules, "bench_speed", speed_mod)
    assert race.main(["--tasks", str(tmp_path), "--repeats", "1", "--mist-steps", "30", "--mist-n", "1200"]) == 0
    out = capsys.readouterr().out
    assert "1 tasks: time ratio default / single rate" in out and "same rate as the full runs on" in out
    assert "stacked step cost" in out and "torch-mist not installed (test)" in out
    assert 0.5 < race.stacked_step_cost(dim=2, steps=3, repeats=1) < 20
