"""Speed benchmark: mibound against a minimal hand-written PyTorch loop and torch-mist, in one run.

Everything is measured in ONE process, alternating the contenders in blocks of ``steps``
optimiser steps, ``repeats`` times, so that every ratio compares timings taken a few seconds
apart under the same machine load (the CPUs may be shared). Ratios are the median of the
per-repeat ratios; times are medians. The held-out InfoNCE estimate of every contender is printed
beside its speed, so speed is never bought with accuracy.

The configuration is the Poole et al. (2019) one: correlated Gaussians, ``d = 20``, ``K = 64``,
separable critic with two hidden layers of 256 ReLU units and a 32-dimensional embedding, Adam
with learning rate 5e-4, InfoNCE. Every contender starts each block with a fresh Adam (as
``mibound.training.train`` and torch-mist's ``train_mi_estimator`` do when called per block).

Contenders
----------
- ``minimal``: the loop a user would write by hand (``nn.Sequential`` MLPs, ``torch.optim.Adam``
  with its defaults, ``randn`` batches).
- ``minimal (fused Adam)``: the same loop with ``Adam(fused=True)``, to show where mibound's
  step time comes from.
- ``mibound train``: :func:`mibound.training.train` with a :class:`~mibound.critics.SeparableCritic`.
- ``mibound ensemble``: :func:`mibound.ensemble.train_ensemble` of ``R`` runs, compared in
  run-steps per second against ``R`` sequential minimal loops (``R`` times the minimal step).
- ``torch-mist``: ``torch_mist.utils.train_mi_estimator`` on a ``torch_mist`` InfoNCE
  estimator with the same separable critic (``logger=False``, ``verbose=False``), when the
  optional ``torch_mist`` package is importable (``pip install torch-mist==0.2.17 --no-deps``
  plus ``pyro-ppl``, the ``bench`` extra); skipped otherwise.
- the concat critic's forward+backward at ``K = 64``, in GFLOP/s against a large ``n x n``
  matrix product timed in the same repeats.

Finally the separable half of the full Poole staircase (20,000 steps of 6 estimators) is put in
FLOPs and in the time the same-run matmul rate would need, beside the times the measured rates
give.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import torch
from torch import nn

from . import bounds
from ._validation import check_float, check_int
from .critics import ConcatCritic, SeparableCritic
from .data.gaussian import CorrelatedGaussian
from .ensemble import evaluate_ensemble, train_ensemble
from .estimators import _torch_threads
from .training import Loss, evaluate, train

__all__ = [
    "POOLE",
    "STAIRCASE_ESTIMATORS",
    "mlp_step_flops",
    "separable_step_flops",
    "concat_step_flops",
    "matmul_gflops",
    "tune_malloc",
    "concat_memory",
    "time_staircase",
    "bench_speed",
    "BenchResult",
]

POOLE = dict(dim=20, batch_size=64, hidden_dim=256, layers=2, embed_dim=32, learning_rate=5e-4)
"""The Poole et al. (2019) staircase configuration benchmarked here."""

STAIRCASE_ESTIMATORS = ("infonce", "nwj", "js", "dv", "mine", "smile")
"""The six estimators of the separable half of the Poole staircase (20,000 steps each)."""


# ---------------------------------------------------------------------------------------------
# FLOP counts (multiply-add = 2 FLOPs; element-wise work not counted)
# ---------------------------------------------------------------------------------------------
def mlp_step_flops(rows: int, dims: list[int], input_grad: bool = False) -> int:
    """FLOPs of forward + backward of an MLP with layer widths ``dims`` on ``rows`` inputs.

    Forward ``2 rows in out`` per layer; backward the same for the weight gradient and again for
    the input gradient, except for the first layer when its input needs no gradient.
    """
    total = 0
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        mult = 3 if (i > 0 or input_grad) else 2
        total += mult * 2 * rows * a * b
    return total


def separable_step_flops(dim_x: int, dim_y: int, k: int, hidden_dim: int = 256, layers: int = 2,
                         embed_dim: int = 32) -> int:
    """FLOPs of one training step of the separable critic (two MLPs and the ``K x K`` product)."""
    hid = [hidden_dim] * layers
    nets = mlp_step_flops(k, [dim_x, *hid, embed_dim]) + mlp_step_flops(k, [dim_y, *hid, embed_dim])
    return nets + 3 * 2 * k * k * embed_dim


def concat_step_flops(dim_x: int, dim_y: int, k: int, hidden_dim: int = 256, layers: int = 2,
                      recompute: bool = False) -> int:
    """FLOPs of one training step of the concat critic with its first layer split.

    The split first layer costs ``O(K)``; the ``K^2`` pairs go through ``layers - 1`` hidden
    ``H x H`` layers and the ``H -> 1`` output. ``recompute`` adds the extra forward pass of the
    pair MLP that chunked training at large ``K`` performs.
    """
    first = mlp_step_flops(k, [dim_x, hidden_dim]) + mlp_step_flops(k, [dim_y, hidden_dim])
    pairs_dims = [hidden_dim] * layers + [1]
    pairs = mlp_step_flops(k * k, pairs_dims, input_grad=True)
    if recompute:
        pairs += sum(2 * k * k * a * b for a, b in zip(pairs_dims[:-1], pairs_dims[1:]))
    return first + pairs


def matmul_gflops(n: int = 1024, repeats: int = 3, dtype: torch.dtype = torch.float32) -> float:
    """The best of ``repeats`` timings of one ``n x n`` by ``n x n`` product, in GFLOP/s."""
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    c = torch.empty(n, n, dtype=dtype)
    torch.mm(a, b, out=c)
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b, out=c)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def tune_malloc(mmap_threshold: int = 32 * 2**20, trim_threshold: int = 2**30) -> bool:
    """Keep freed multi-megabyte blocks in the C heap for reuse (glibc only; process-wide).

    By default glibc returns every freed block above a few MiB to the kernel, so a training step
    that allocates the same 4 MiB activations every time page-faults on all of them again: the
    concat critic at ``K = 64`` takes thousands of minor faults and several ms of kernel time per
    step. Raising the mmap and trim thresholds keeps that memory mapped (the process holds up
    to ``trim_threshold`` bytes it no longer uses). Returns whether both settings took effect.
    """
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    return bool(libc.mallopt(m_mmap_threshold, int(mmap_threshold))) and bool(
        libc.mallopt(m_trim_threshold, int(trim_threshold)))


_MEMORY_PROBE = r"""
import json, resource, sys, time, torch
torch.set_num_threads(int(sys.argv[4]))
from mibound.critics import ConcatCritic
k, hidden, chunk = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
critic = ConcatCritic(20, 20, hidden_dim=hidden, chunk_size=None if chunk == "auto" else int(chunk))
x, y = torch.randn(k, 20), torch.randn(k, 20)
try:  # current resident set (the peak so far may be higher, from imports)
    before = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() / 1024
except OSError:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
critic(x, y).logsumexp(1).mean().backward()
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_rss_mib": peak / 1024, "baseline_rss_mib": before / 1024, "seconds": seconds}))
"""


def concat_memory(k: int = 1024, hidden_dim: int = 256, chunk_size: int | None = None, threads: int = 1,
                  timeout: float = 600.0) -> dict:
    """Peak resident memory of one concat-critic forward+backward, measured in a fresh subprocess.

    Returns ``peak_rss_mib`` (the subprocess's peak RSS, torch included), ``baseline_rss_mib``
    (its resident memory just before the step), their difference ``step_mib`` (an upper bound on
    what the step added), ``seconds`` of the step, and the
    memory the ``K^2`` activations would take unchunked (``unchunked_activations_mib``).
    """
    import json
    import os
    import subprocess
    from pathlib import Path

    check_int(k, "k", minimum=2)
    check_int(hidden_dim, "hidden_dim", minimum=1)
    check_int(threads, "threads", minimum=1)
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(k), str(hidden_dim),
                           "auto" if chunk_size is None else str(chunk_size), str(threads)],
                          capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"concat memory probe failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    info["step_mib"] = info["peak_rss_mib"] - info["baseline_rss_mib"]
    info["unchunked_activations_mib"] = 3 * k * k * hidden_dim * 4 / 2**20
    info.update(k=k, hidden_dim=hidden_dim, threads=threads)
    return info


def time_staircase(steps: int = 20_000, estimators: tuple[str, ...] = STAIRCASE_ESTIMATORS, workers: int = 2,
                   compute_dtype: torch.dtype = torch.float32, seed: int = 0, progress: bool = False) -> dict:
    """Train the separable half of the Poole staircase as one ensemble and time it (no files).

    The same runs as ``mibound experiment staircase`` (FULL levels 2..10 nats, ``d = 20``,
    ``K = 64``, steps split evenly over the five levels, every estimator on the same batches, seeds
    ``seed + 1000 i``), trained by :func:`~mibound.ensemble.train_ensemble`.

    Returns
    -------
    dict
        ``seconds``, ``steps``, ``estimators``, ``workers``, ``dtype`` and ``final`` (each
        estimator's mean reported value over the last 10% of steps of the top level, nats).
    """
    from .critics import make_critic
    from .experiments.staircase import FULL, _StepStream

    check_int(steps, "steps", minimum=5)
    levels = FULL["levels"]
    spl = steps // len(levels)
    total = spl * len(levels)
    critics, losses = [], []
    for i, est in enumerate(estimators):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1000 * i)
            critics.append(make_critic("separable", FULL["dim"], FULL["dim"]))
            losses.append(Loss(est, FULL["dim"]))
    stream = _StepStream(FULL["dim"], levels, spl, FULL["batch_size"], seed + 1)
    r = len(estimators)

    def batch(step):
        x, y = stream(step)
        return x.expand(r, -1, -1), y.expand(r, -1, -1)

    t = time.perf_counter()
    hist = train_ensemble(critics, losses, batch, total, learning_rate=FULL["learning_rate"], progress=progress,
                          record_every_step=True, workers=workers, num_threads=1, compute_dtype=compute_dtype,
                          on_diverge="record")
    seconds = time.perf_counter() - t
    tail = max(1, spl // 10)
    final = {e: float(h["value"][-tail:].mean()) for e, h in zip(estimators, hist)}
    return dict(seconds=seconds, steps=total, estimators=list(estimators), workers=workers,
                dtype=str(compute_dtype).replace("torch.", ""), final=final, top_level_true_mi=levels[-1])


# ---------------------------------------------------------------------------------------------
# contenders
# ---------------------------------------------------------------------------------------------
def _poole_mlp(dim_in: int, hidden: int, layers: int, out: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    d = dim_in
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    mods.append(nn.Linear(d, out))
    return nn.Sequential(*mods)


class _Minimal:
    """The hand-written loop: two MLPs, ``S = g(x) h(y)^T``, InfoNCE, Adam (fresh per block)."""

    def __init__(self, sampler: CorrelatedGaussian, cfg: dict, seed: int, fused: bool = False):
        torch.manual_seed(seed)  # same construction order as SeparableCritic: identical weights
        self.g = _poole_mlp(sampler.dim, cfg["hidden_dim"], cfg["layers"], cfg["embed_dim"])
        self.h = _poole_mlp(sampler.dim, cfg["hidden_dim"], cfg["layers"], cfg["embed_dim"])
        self.rho, self.d, self.k, self.lr, self.fused = sampler.rho, sampler.dim, cfg["batch_size"], cfg["learning_rate"], fused
        self.gen = torch.Generator().manual_seed(seed + 1)

    def block(self, steps: int) -> None:
        params = list(self.g.parameters()) + list(self.h.parameters())
        opt = torch.optim.Adam(params, lr=self.lr, fused=True) if self.fused else torch.optim.Adam(params, lr=self.lr)
        s = math.sqrt(1.0 - self.rho**2)
        for _ in range(steps):
            x = torch.randn(self.k, self.d, generator=self.gen)
            y = self.rho * x + s * torch.randn(self.k, self.d, generator=self.gen)
            scores = self.g(x) @ self.h(y).T
            loss = -(scores.diagonal() - torch.logsumexp(scores, dim=1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    @torch.no_grad()
    def estimate(self, batches) -> float:
        return float(torch.stack([bounds.infonce(self.g(x) @ self.h(y).T) for x, y in batches]).mean())


class _Single:
    """mibound's own path: ``train(SeparableCritic, Loss("infonce"), sampler stream)``."""

    def __init__(self, sampler: CorrelatedGaussian, cfg: dict, seed: int):
        torch.manual_seed(seed)
        self.critic = SeparableCritic(sampler.dim, sampler.dim, cfg["hidden_dim"], cfg["layers"], cfg["embed_dim"])
        self.loss = Loss("infonce", sampler.dim)
        self.sampler, self.k, self.lr = sampler, cfg["batch_size"], cfg["learning_rate"]
        self.gen = torch.Generator().manual_seed(seed + 1)

    def block(self, steps: int) -> None:
        train(self.critic, self.loss, lambda step: self.sampler.sample_torch(self.k, self.gen), steps,
              learning_rate=self.lr, progress=False)

    def estimate(self, batches) -> float:
        return float(evaluate(self.critic, self.loss, batches).mean())


class _Ensemble:
    """``train_ensemble`` of ``R`` InfoNCE runs with different seeds, one vectorised sampler."""

    def __init__(self, sampler: CorrelatedGaussian, cfg: dict, seed: int, runs: int, workers: int,
                 estimators: tuple[str, ...] = ("infonce",), dtype: torch.dtype = torch.float32):
        self.dtype = dtype
        self.critics, self.losses = [], []
        for r in range(runs):
            torch.manual_seed(seed + r)
            self.critics.append(SeparableCritic(sampler.dim, sampler.dim, cfg["hidden_dim"], cfg["layers"],
                                                cfg["embed_dim"]))
            self.losses.append(Loss(estimators[r % len(estimators)], sampler.dim))
        self.sampler, self.k, self.lr, self.runs, self.workers = sampler, cfg["batch_size"], cfg["learning_rate"], runs, workers
        self.gen = torch.Generator().manual_seed(seed + 10_000)

    def batch(self, step: int):
        x, y = self.sampler.sample_torch(self.runs * self.k, self.gen)  # one call for all runs
        return x.view(self.runs, self.k, -1), y.view(self.runs, self.k, -1)

    def block(self, steps: int) -> None:
        train_ensemble(self.critics, self.losses, self.batch, steps, learning_rate=self.lr, progress=False,
                       workers=self.workers, num_threads=1, compute_dtype=self.dtype)

    def estimates(self, batches) -> torch.Tensor:
        return evaluate_ensemble(self.critics, self.losses, batches).mean(1)


class _TorchMist:
    """torch-mist 0.2.17's training path for the same InfoNCE run (optional dependency)."""

    def __init__(self, sampler: CorrelatedGaussian, cfg: dict, seed: int):
        from torch_mist.estimators import infonce as mist_infonce  # noqa: F401 (import check)

        torch.manual_seed(seed)
        self.est = mist_infonce(x_dim=sampler.dim, y_dim=sampler.dim, hidden_dims=[cfg["hidden_dim"]] * cfg["layers"],
                                critic_type="separable", k_dim=cfg["embed_dim"])
        self.sampler, self.k, self.lr = sampler, cfg["batch_size"], cfg["learning_rate"]
        self.gen = torch.Generator().manual_seed(seed + 1)

    def data(self, steps: int):
        return self.sampler.sample_torch(steps * self.k, self.gen)

    def block(self, steps: int, data) -> None:
        from torch_mist.utils.train import train_mi_estimator

        train_mi_estimator(self.est, train_data=data, batch_size=self.k, max_iterations=steps, valid_percentage=0,
                           optimizer_params={"lr": self.lr}, verbose=False, logger=False)

    @torch.no_grad()
    def estimate(self, batches) -> float:
        crit = self.est.critic
        return float(torch.stack([bounds.infonce(crit.f_x(x) @ crit.f_y(y).T) for x, y in batches]).mean())


def _torch_mist_available() -> tuple[bool, str]:
    try:
        import torch_mist  # noqa: F401
        from torch_mist.estimators import infonce  # noqa: F401
        from torch_mist.utils.train import train_mi_estimator  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install missing pyro
        return False, f"{type(exc).__name__}: {exc}"
    return True, getattr(torch_mist, "__version__", "?")


_CPU: dict[str, list[float]] = {}


def _timed(fn: Callable[[], object], name: str | None = None) -> float:
    """Wall seconds of ``fn()``; with ``name``, also record its process-CPU / wall ratio."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    wall = time.perf_counter() - t
    if name is not None:
        _CPU.setdefault(name, []).append((time.process_time() - c) / wall)
    return wall


@dataclass
class BenchResult:
    """What :func:`bench_speed` measured (times in ms, rates in GFLOP/s, estimates in nats)."""

    settings: dict
    rows: list[dict] = field(default_factory=list)
    ratios: list[dict] = field(default_factory=list)
    staircase: list[dict] = field(default_factory=list)


def _fmt_load(load) -> str:
    return "n/a" if load is None else "/".join(f"{v:.2f}" for v in load)


def _median(xs) -> float:
    return float(statistics.median(xs)) if xs else math.nan


def bench_speed(steps: int = 200, repeats: int = 5, runs: int = 8, threads: int = 1,
                ensemble_workers: int = 2, mi: float = 2.0, concat_k: int = 64,
                concat_steps: int = 4, matmul_n: int = 1024, eval_batches: int = 16, seed: int = 0,
                torch_mist: bool = True, staircase_steps: int = 20_000, malloc: bool = True,
                memory_k: int | None = None, staircase: bool = False, out: TextIO | None = None) -> BenchResult:
    """Run the benchmark and print its table.

    Parameters
    ----------
    steps : int, default 200
        Optimiser steps per contender per block.
    repeats : int, default 5
        Blocks per contender; contenders alternate within each repeat.
    runs : int, default 8
        ``R``, the runs of the ensemble.
    threads : int, default 1
        torch intra-op threads for the single-run contenders, the concat critic and the matmul.
    ensemble_workers : int, default 2
        Worker threads of the ensemble (``train_ensemble(workers=...)``, one intra-op thread
        each): the ensemble is timed with 1 worker and, if larger, with this many.
    mi : float, default 2.0
        True MI of the correlated Gaussian (nats).
    concat_k : int, default 64
    concat_steps : int, default 4
        Concat forward+backward passes per block.
    matmul_n : int, default 1024
    eval_batches : int, default 16
        Held-out batches of ``K`` for the estimates.
    seed : int, default 0
    torch_mist : bool, default True
        Include torch-mist when it is importable.
    staircase_steps : int, default 20000
        Steps per estimator of the staircase projection.
    malloc : bool, default True
        Call :func:`tune_malloc` first (recorded in the output).
    memory_k : int, optional
        Also measure the concat critic's peak memory at this ``K`` (e.g. 1024) in a subprocess.
    staircase : bool, default False
        Also train the separable half of the staircase (``staircase_steps`` x 6 estimators) as
        one ensemble with ``ensemble_workers`` workers and report its wall time
        (:func:`time_staircase`; minutes).
    out : text stream, default sys.stdout

    Returns
    -------
    BenchResult
    """
    check_int(steps, "steps", minimum=1)
    check_int(repeats, "repeats", minimum=1)
    check_int(runs, "runs", minimum=1)
    check_int(threads, "threads", minimum=1)
    check_int(ensemble_workers, "ensemble_workers", minimum=1)
    check_float(mi, "mi", minimum=0.0, exclusive_min=True)
    check_int(concat_k, "concat_k", minimum=2)
    check_int(concat_steps, "concat_steps", minimum=1)
    check_int(matmul_n, "matmul_n", minimum=16)
    check_int(eval_batches, "eval_batches", minimum=1)
    check_int(staircase_steps, "staircase_steps", minimum=1)
    if memory_k is not None:
        check_int(memory_k, "memory_k", minimum=2)
    out = sys.stdout if out is None else out
    malloc_tuned = tune_malloc() if malloc else False
    _CPU.clear()
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    worker_counts = sorted({1, ensemble_workers})
    cfg = dict(POOLE)
    d, k = cfg["dim"], cfg["batch_size"]
    sampler = CorrelatedGaussian.from_mi(mi, d)
    mist_ok, mist_info = _torch_mist_available() if torch_mist else (False, "disabled")
    settings = dict(config=cfg, true_mi=mi, steps_per_block=steps, repeats=repeats, runs=runs, threads=threads,
                    ensemble_workers=ensemble_workers, concat_k=concat_k, matmul_n=matmul_n, seed=seed, malloc_tuned=malloc_tuned,
                    torch=torch.__version__, platform=platform.platform(), torch_mist=mist_info)
    res = BenchResult(settings)

    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    say(f"mibound bench-speed: Poole config d={d}, K={k}, separable {cfg['layers']}x{cfg['hidden_dim']} hidden, "
        f"embed {cfg['embed_dim']}, Adam lr {cfg['learning_rate']}, InfoNCE, true MI {mi:g} nats")
    say(f"threads: {threads} (single runs, concat, matmul); ensemble of {runs}: {' and '.join(map(str, worker_counts))} "
        f"worker thread(s) x 1 intra-op thread; "
        f"{steps} steps x {repeats} alternating repeats; torch {torch.__version__}; torch-mist: {mist_info}; "
        f"malloc tuned: {malloc_tuned}")

    with _torch_threads(threads):
        contenders: dict[str, object] = {
            "minimal": _Minimal(sampler, cfg, seed),
            "minimal (fused Adam)": _Minimal(sampler, cfg, seed, fused=True),
            "mibound train": _Single(sampler, cfg, seed),
        }
        ensembles = {f"ensemble{w}": _Ensemble(sampler, cfg, seed, runs, w) for w in worker_counts}
        ensembles["ensemble-bf16"] = _Ensemble(sampler, cfg, seed, runs, max(worker_counts), dtype=torch.bfloat16)
        mist = _TorchMist(sampler, cfg, seed) if mist_ok else None
        concat = ConcatCritic(d, d, cfg["hidden_dim"], cfg["layers"])
        cx, cy = sampler.sample_torch(concat_k, torch.Generator().manual_seed(seed + 3))
        concat_flops = concat_step_flops(d, d, concat_k, cfg["hidden_dim"], cfg["layers"])

        def concat_block(bf16: bool = False):
            for _ in range(concat_steps):
                concat.zero_grad(set_to_none=True)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    scores = concat(cx, cy)
                scores.sum().backward()

        # warm-up (allocator, kernels)
        for c in contenders.values():
            c.block(5)
        for ens in ensembles.values():
            ens.block(5)
        concat_block()
        concat_block(bf16=True)
        matmul_gflops(matmul_n, 1)
        mist_data = None
        if mist is not None:
            mist.block(5, mist.data(5))

        times: dict[str, list[float]] = {name: [] for name in contenders}
        for name in ensembles:
            times[name] = []
        times["torch-mist"] = []
        concat_rate, concat_bf16_rate, mm_rate = [], [], []
        for rep in range(repeats):
            for name, c in contenders.items():
                times[name].append(_timed(lambda: c.block(steps), name) / steps)
            for name, ens in ensembles.items():
                times[name].append(_timed(lambda: ens.block(steps), name) / steps)
            if mist is not None:
                mist_data = mist.data(steps)  # sampled outside the timed block, as a dataset
                times["torch-mist"].append(_timed(lambda: mist.block(steps, mist_data), "torch-mist") / steps)
            mm_rate.append(matmul_gflops(matmul_n, 3))
            concat_rate.append(concat_flops * concat_steps / _timed(concat_block) / 1e9)
            concat_bf16_rate.append(concat_flops * concat_steps / _timed(lambda: concat_block(True)) / 1e9)

        test_gen = torch.Generator().manual_seed(seed + 2)
        test = [sampler.sample_torch(k, test_gen) for _ in range(eval_batches)]
        est = {name: c.estimate(test) for name, c in contenders.items()}
        ens_est = {name: ens.estimates(test) for name, ens in ensembles.items()}
        with torch.no_grad():
            s32 = concat(cx, cy)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                s16 = concat(cx, cy)
        concat_bf16_err = float((s16 - s32).abs().max())
        concat_bf16_infonce = float((bounds.infonce(s16) - bounds.infonce(s32)).abs())
        if mist is not None:
            est["torch-mist"] = mist.estimate(test)

    flops = separable_step_flops(d, d, k, cfg["hidden_dim"], cfg["layers"], cfg["embed_dim"])
    med = {name: _median(v) * 1e3 for name, v in times.items()}

    def paired(num: str, den: str, scale: float = 1.0) -> float:
        return _median([scale * a / b for a, b in zip(times[num], times[den])])

    say()
    say(f"{'contender':42s} {'threads':>7s} {'cpu/wall':>8s} {'ms/step':>9s} {'run-steps/s':>12s} {'GFLOP/s':>8s} "
        f"{'held-out InfoNCE (nats)':>24s}")
    rows = [(name, threads, med[name], 1, est[name], name) for name in contenders]
    labels = {f"ensemble{w}": (f"mibound ensemble (R={runs}, {w} worker{'s' if w > 1 else ''})", w)
              for w in worker_counts}
    labels["ensemble-bf16"] = (f"mibound ensemble (R={runs}, {max(worker_counts)} workers, bf16)", max(worker_counts))
    for name, (label, w) in labels.items():
        e = ens_est[name]
        rows.append((label, w, med[name], runs,
                     f"{float(e.mean()):.3f} (runs {float(e.min()):.3f}..{float(e.max()):.3f})", name))
    if mist is not None:
        rows.append(("torch-mist 0.2.17 train_mi_estimator", threads, med["torch-mist"], 1, est["torch-mist"],
                     "torch-mist"))
    for name, th, ms, r, e, key in rows:
        rate = r * 1e3 / ms
        e_txt = e if isinstance(e, str) else f"{e:.3f}"
        cpu = _median(_CPU.get(key, []))
        say(f"{name:42s} {th:7d} {cpu:8.2f} {ms:9.3f} {rate:12.1f} {r * flops / ms / 1e6:8.1f} {e_txt:>24s}")
        res.rows.append(dict(contender=name, threads=th, cpu_per_wall=cpu, ms_per_step=ms, run_steps_per_s=rate,
                             gflops=r * flops / ms / 1e6, estimate=e))
    load_end = os.getloadavg() if hasattr(os, "getloadavg") else None
    res.settings["load_average"] = dict(start=load_start, end=load_end)
    say(f"(InfoNCE ceiling log K = {math.log(k):.3f}; true MI {mi:g}; one separable step = {flops / 1e6:.1f} MFLOP; "
        f"cpu/wall = process CPU time / wall time, below the thread count when other processes hold the cores; "
        f"load average start {_fmt_load(load_start)}, end {_fmt_load(load_end)})")

    say()
    say("ratios (median of per-repeat ratios, same run)                         value   target")
    ratio_rows = [
        ("mibound train step / minimal loop step", paired("mibound train", "minimal"), "<= 1.1"),
        ("mibound train step / minimal loop with fused Adam", paired("mibound train", "minimal (fused Adam)"), "(info)"),
    ]
    for w in worker_counts:
        ratio_rows.append((f"ensemble ({w} worker{'s' if w > 1 else ''}) throughput / {runs} sequential minimal loops",
                           paired("minimal", f"ensemble{w}", scale=runs), ">= 4" if w == max(worker_counts) else "(info)"))
    ratio_rows.append((f"ensemble ({max(worker_counts)} workers, bf16) throughput / {runs} sequential minimal loops",
                       paired("minimal", "ensemble-bf16", scale=runs), ">= 4"))
    if mist is not None:
        ratio_rows.append(("torch-mist step / mibound train step", paired("torch-mist", "mibound train"), ">= 5"))
        ratio_rows.append(("torch-mist step / minimal loop step", paired("torch-mist", "minimal"), "(info)"))
    concat_frac = _median([a / b for a, b in zip(concat_rate, mm_rate)])
    ratio_rows.append((f"concat critic K={concat_k} GFLOP/s / {matmul_n}^2 matmul GFLOP/s", concat_frac, ">= 0.6"))
    ratio_rows.append((f"concat critic K={concat_k} bf16 GFLOP/s / {matmul_n}^2 fp32 matmul GFLOP/s",
                       _median([a / b for a, b in zip(concat_bf16_rate, mm_rate)]), "(info)"))
    for name, value, target in ratio_rows:
        say(f"{name:70s} {value:6.2f}   {target}")
        res.ratios.append(dict(ratio=name, value=value, target=target))
    say(f"concat critic: {concat_flops / 1e9:.2f} GFLOP per step at K={concat_k}, {_median(concat_rate):.1f} GFLOP/s "
        f"(bf16 hidden layers: {_median(concat_bf16_rate):.1f} GFLOP/s; same weights: scores differ by at most "
        f"{concat_bf16_err:.3f}, InfoNCE by {concat_bf16_infonce:.4f} nats); matmul {matmul_n}^2: "
        f"{_median(mm_rate):.1f} GFLOP/s (threads={threads})")

    if memory_k is not None:
        mem = concat_memory(memory_k, cfg["hidden_dim"], threads=threads)
        res.settings["concat_memory"] = mem
        say(f"concat critic K={memory_k} forward+backward (subprocess): peak RSS {mem['peak_rss_mib']:.0f} MiB "
            f"(torch baseline {mem['baseline_rss_mib']:.0f} MiB, step {mem['step_mib']:.0f} MiB; unchunked "
            f"activations would need {mem['unchunked_activations_mib']:.0f} MiB), {mem['seconds']:.1f} s; target < 4096 MiB")

    say()
    n_est = len(STAIRCASE_ESTIMATORS)
    total = n_est * staircase_steps * flops
    mm = _median(mm_rate)
    lines = [
        ("FLOPs (separable, 6 estimators x steps)", f"{total / 1e12:.2f} TFLOP"),
        (f"at the same-run matmul rate ({threads} thread{'s' if threads > 1 else ''})", f"{total / mm / 1e9:.0f} s"),
        ("6 sequential minimal loops (measured step)", f"{n_est * staircase_steps * med['minimal'] / 1e3:.0f} s"),
        ("6 sequential mibound train runs (measured step)",
         f"{n_est * staircase_steps * med['mibound train'] / 1e3:.0f} s"),
        (f"mibound ensemble (measured R={runs} run-step rate, {max(worker_counts)} workers)",
         f"{n_est * staircase_steps * med[f'ensemble{max(worker_counts)}'] / runs / 1e3:.0f} s"),
        (f"mibound ensemble (measured R={runs} run-step rate, {max(worker_counts)} workers, bf16)",
         f"{n_est * staircase_steps * med['ensemble-bf16'] / runs / 1e3:.0f} s"),
    ]
    if mist is not None:
        lines.append(("6 sequential torch-mist runs (measured step)",
                      f"{n_est * staircase_steps * med['torch-mist'] / 1e3:.0f} s"))
    say(f"Poole staircase, separable half ({n_est} estimators x {staircase_steps} steps), target < 180 s on 2 cores:")
    for name, value in lines:
        say(f"  {name:66s} {value:>10s}")
        res.staircase.append(dict(item=name, value=value))
    if staircase:
        with _torch_threads(1):
            run = time_staircase(staircase_steps, workers=ensemble_workers)
        res.settings["staircase_run"] = run
        finals = ", ".join(f"{e} {v:.2f}" for e, v in run["final"].items())
        say(f"  {'measured: ensemble of 6, ' + str(ensemble_workers) + ' workers, float32 (trained now)':66s} "
            f"{run['seconds']:>8.0f} s")
        say(f"    final estimates at true MI {run['top_level_true_mi']:g} nats: {finals}")
    return res
