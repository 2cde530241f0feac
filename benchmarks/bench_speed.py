"""Speed benchmark: mibound against a minimal hand-written PyTorch loop and torch-mist, in one run.

A script of the source checkout, not part of the installed package::

    python benchmarks/bench_speed.py --steps 200 --repeats 5 --memory-k 1024
    mibound bench-speed --ensemble-workers 2     # the same, from a source checkout

Everything is measured in ONE process, alternating the contenders in blocks of ``steps``
optimiser steps, ``repeats`` times, so that every ratio compares timings taken a few seconds
apart under the same machine load (the CPUs may be shared). Ratios are the median of the
per-repeat ratios; times are medians. The held-out InfoNCE estimate of every contender is printed
beside its speed, so speed is never bought with accuracy.

The configuration is the Poole et al. (2019) one: correlated Gaussians, ``d = 20``, ``K = 64``,
separable critic with two hidden layers of 256 ReLU units and a 32-dimensional embedding, Adam
with learning rate 5e-4, InfoNCE. Every contender starts each block with a fresh Adam (as
``mibound.neural.engine.train`` and torch-mist's ``train_mi_estimator`` do when called per block).

Contenders
----------
- ``minimal``: the loop a user would write by hand (``nn.Sequential`` MLPs, ``torch.optim.Adam``
  with its defaults, ``randn`` batches).
- ``minimal (fused Adam)``: the same loop with ``Adam(fused=True)``, to show where mibound's
  step time comes from.
- ``mibound train``: :func:`mibound.neural.engine.train` of one :class:`~mibound.neural.critics.SeparableCritic`.
- ``mibound ensemble``: :func:`mibound.neural.stacking.train_ensemble` of ``R`` runs, compared in
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

The mibound side uses only the public API (:func:`mibound.neural.engine.train`,
:class:`mibound.neural.objectives.Loss`, :func:`mibound.neural.stacking.train_ensemble`, :mod:`mibound.neural.critics`,
:class:`mibound.data.CorrelatedGaussian`); every contender's held-out estimate is read out by the
same :func:`heldout_infonce`. Weights are initialised from fixed seeds inside
:func:`torch.random.fork_rng`, data come from :class:`torch.Generator` objects, and
:func:`bench_speed` and :func:`time_staircase` restore torch's global RNG state when they return.
"""

from __future__ import annotations

import argparse
import functools
import math
import numbers
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO, TypeVar

import torch
from torch import nn

from mibound.data import CorrelatedGaussian
from mibound.neural import engine
from mibound.neural.critics import ConcatCritic, SeparableCritic, make_critic
from mibound.neural.engine import torch_threads as _torch_threads
from mibound.neural.objectives import Loss
from mibound.neural.stacking import train_ensemble

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
    "infonce",
    "heldout_infonce",
    "build_parser",
    "run",
    "main",
]

POOLE = dict(dim=20, batch_size=64, hidden_dim=256, layers=2, embed_dim=32, learning_rate=5e-4)
"""The Poole et al. (2019) staircase configuration benchmarked here."""

STAIRCASE_ESTIMATORS = ("infonce", "nwj", "js", "dv", "mine", "smile")
"""The six estimators of the separable half of the Poole staircase (20,000 steps each)."""

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# small helpers: argument checks, seeding without touching the caller's RNG, threads, readout
# ---------------------------------------------------------------------------------------------
def _check_int(value: object, name: str, minimum: int | None = None) -> int:
    """``value`` as an int (bools refused), ``>= minimum``; ``TypeError`` / ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_positive(value: object, name: str) -> float:
    """``value`` as a finite float ``> 0``; ``TypeError`` / ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return float(value)


def _seeded(seed: int, build: Callable[[], T]) -> T:
    """``build()`` with torch's global RNG seeded by ``seed``, the caller's RNG state restored after.

    ``nn.Linear`` initialises its weights from the global RNG, so building the same modules in the
    same order under the same seed gives the same weights (the minimal loop and
    :class:`~mibound.neural.critics.SeparableCritic` start identical).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _restores_global_rng(fn: Callable[..., T]) -> Callable[..., T]:
    """Run ``fn`` inside :func:`torch.random.fork_rng`: the caller's global RNG state is kept.

    The benchmark draws its data from :class:`torch.Generator` objects and seeds weights with
    :func:`_seeded`; this also covers what third-party code does to the global RNG (torch-mist
    shuffles its data with it).
    """
    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> T:
        with torch.random.fork_rng(devices=[]):
            return fn(*args, **kwargs)

    return wrapper

def infonce(scores: torch.Tensor) -> torch.Tensor:
    """InfoNCE of a ``(K, K)`` score matrix, positives on the diagonal (nats).

    ``mean_i (S_ii - logsumexp_j S_ij) + log K``, always ``<= log K``.
    """
    k = scores.shape[-1]
    return (scores.diagonal(dim1=-2, dim2=-1) - torch.logsumexp(scores, dim=-1)).mean(-1) + math.log(k)


@torch.no_grad()
def heldout_infonce(score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                    batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Mean :func:`infonce` of ``score(x, y)`` over held-out batches (nats), the readout of every contender."""
    return float(torch.stack([infonce(score(x, y)).double() for x, y in batches]).mean())


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
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, dtype=dtype, generator=gen)
    b = torch.randn(n, n, dtype=dtype, generator=gen)
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


MEMORY_PROBE = Path(__file__).resolve().with_name("concat_memory_probe.py")
"""The script :func:`concat_memory` runs in a fresh process."""


def concat_memory(k: int = 1024, hidden_dim: int = 256, chunk_size: int | None = None, threads: int = 1,
                  timeout: float = 600.0) -> dict:
    """Peak resident memory of one concat-critic forward+backward, measured in a fresh subprocess.

    The subprocess runs :data:`MEMORY_PROBE` (``concat_memory_probe.py`` beside this file).

    Parameters
    ----------
    k : int, default 1024
        Pairs per batch.
    hidden_dim : int, default 256
    chunk_size : int, optional
        The critic's ``chunk_size`` (default: its automatic choice).
    threads : int, default 1
        torch intra-op threads of the subprocess.
    timeout : float, default 600
        Seconds before the subprocess is killed.

    Returns
    -------
    dict
        ``peak_rss_mib`` (the subprocess's peak RSS, torch included), ``baseline_rss_mib`` (its
        resident memory just before the step), their difference ``step_mib`` (an upper bound on
        what the step added), ``seconds`` of the step, the memory the ``K^2`` activations would
        take unchunked (``unchunked_activations_mib``), and ``k``, ``hidden_dim``, ``threads``.
    """
    import json

    _check_int(k, "k", minimum=2)
    _check_int(hidden_dim, "hidden_dim", minimum=1)
    _check_int(threads, "threads", minimum=1)
    if chunk_size is not None:
        _check_int(chunk_size, "chunk_size", minimum=1)
    # the probe imports the mibound this process uses (the checkout's, or an installed one)
    import mibound

    root = str(Path(mibound.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run([sys.executable, str(MEMORY_PROBE), str(k), str(hidden_dim),
                           "auto" if chunk_size is None else str(chunk_size), str(threads)],
                          capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"concat memory probe failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    info["step_mib"] = info["peak_rss_mib"] - info["baseline_rss_mib"]
    info["unchunked_activations_mib"] = 3 * k * k * hidden_dim * 4 / 2**20
    info.update(k=k, hidden_dim=hidden_dim, threads=threads)
    return info


@_restores_global_rng
def time_staircase(steps: int = 20_000, estimators: tuple[str, ...] = STAIRCASE_ESTIMATORS, workers: int = 2,
                   compute_dtype: torch.dtype = torch.float32, seed: int = 0, progress: bool = False) -> dict:
    """Train the separable half of the Poole staircase as one ensemble and time it (no files).

    The setting of ``mibound experiment staircase`` (its ``FULL`` levels 2..10 nats, ``d = 20``,
    ``K = 64``, learning rate; steps split evenly over the five levels, every estimator on the same
    batches, weights seeded by ``seed + 1000 i``), trained by
    :func:`~mibound.neural.stacking.train_ensemble`. torch's global RNG state is the same on return.

    Parameters
    ----------
    steps : int, default 20000
        Steps per estimator (rounded down to a multiple of the five levels).
    estimators : tuple of str, default :data:`STAIRCASE_ESTIMATORS`
    workers : int, default 2
        Worker threads of the ensemble.
    compute_dtype : torch.dtype, default torch.float32
    seed : int, default 0
    progress : bool, default False

    Returns
    -------
    dict
        ``seconds``, ``steps``, ``estimators``, ``workers``, ``dtype`` and ``final`` (each
        estimator's mean reported value over the last 10% of steps of the top level, nats).
    """
    from mibound.experiments.staircase import FULL

    _check_int(steps, "steps", minimum=5)
    _check_int(workers, "workers", minimum=1)
    levels, dim, k = FULL["levels"], FULL["dim"], FULL["batch_size"]
    spl = steps // len(levels)
    total = spl * len(levels)
    built = [_seeded(seed + 1000 * i, lambda est=est: (make_critic("separable", dim, dim), Loss(est, dim)))
             for i, est in enumerate(estimators)]
    critics, losses = [c for c, _ in built], [loss for _, loss in built]
    samplers = [CorrelatedGaussian.from_mi(m, dim) for m in levels]
    gen = torch.Generator().manual_seed(seed + 1)
    r = len(estimators)

    def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = samplers[step // spl].sample_torch(k, gen)  # the level is set by the step
        return x.expand(r, -1, -1), y.expand(r, -1, -1)

    t = time.perf_counter()
    hist = train_ensemble(critics, losses, batch, total, learning_rate=FULL["learning_rate"], lr_schedule="constant",
                          progress=progress, record_every_step=True, workers=workers, num_threads=1, compute_dtype=compute_dtype,
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
    """``dim_in -> hidden (ReLU) x layers -> out``, built in the order :func:`mibound.neural.critics.mlp` builds."""
    mods: list[nn.Module] = []
    d = dim_in
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    mods.append(nn.Linear(d, out))
    return nn.Sequential(*mods)


Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


class _Minimal:
    """The hand-written loop: two MLPs, ``S = g(x) h(y)^T``, InfoNCE, Adam (fresh per block).

    Parameters
    ----------
    sampler : CorrelatedGaussian
    cfg : dict
        :data:`POOLE`-style settings.
    seed : int
        Weights from ``seed`` (in the order :class:`~mibound.neural.critics.SeparableCritic` builds them:
        the same initial weights), batches from a generator seeded ``seed + 1``.
    fused : bool, default False
        ``Adam(fused=True)``.
    """

    def __init__(self, sampler: CorrelatedGaussian, cfg: dict, seed: int, fused: bool = False):
        def nets() -> tuple[nn.Sequential, nn.Sequential]:
            return (_poole_mlp(sampler.dim, cfg["hidden_dim"], cfg["layers"], cfg["embed_dim"]),
                    _poole_mlp(sampler.dim, cfg["hidden_dim"], cfg["layers"], cfg["embed_dim"]))

        self.g, self.h = _seeded(seed, nets)
        self.rho, self.d, self.k, self.lr, self.fused = sampler.rho, sampler.dim, cfg["batch_size"], cfg["learning_rate"], fused
        self.gen = torch.Generator().manual_seed(seed + 1)

    def block(self, steps: int) -> None:
        """``steps`` optimiser steps with a fresh Adam."""
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

    def estimate(self, batches: Batches) -> float:
        """Held-out InfoNCE (nats)."""
        return heldout_infonce(lambda x, y: self.g(x) @ self.h(y).T, batches)


class _Single:
    """mibound's own path: ``engine.train(SingleRun(SeparableCritic, Loss("infonce")), sampler stream)``.

    Parameters as :class:`_Minimal` (same seeds: the same initial weights and batches).
    """

    def __init__(self, sampler: CorrelatedGaussian, cfg: dict, seed: int):
        self.critic, self.loss = _seeded(seed, lambda: (
            SeparableCritic(sampler.dim, sampler.dim, cfg["hidden_dim"], cfg["layers"], cfg["embed_dim"]),
            Loss("infonce", sampler.dim)))
        self.sampler, self.k, self.lr = sampler, cfg["batch_size"], cfg["learning_rate"]
        self.gen = torch.Generator().manual_seed(seed + 1)

    def block(self, steps: int) -> None:
        """``steps`` steps of :func:`mibound.neural.engine.train` (which makes a fresh Adam)."""
        engine.train(engine.SingleRun(self.critic, self.loss), lambda step: self.sampler.sample_torch(self.k, self.gen),
                     steps, learning_rate=self.lr, lr_schedule="constant", progress=False)

    def estimate(self, batches: Batches) -> float:
        """Held-out InfoNCE (nats)."""
        return heldout_infonce(self.critic, batches)


class _Ensemble:
    """``train_ensemble`` of ``R`` InfoNCE runs with different seeds, one vectorised sampler.

    Parameters
    ----------
    sampler : CorrelatedGaussian
    cfg : dict
    seed : int
        Run ``r``'s weights from ``seed + r``; batches from a generator seeded ``seed + 10000``.
    runs : int
    workers : int
        ``train_ensemble(workers=...)``.
    estimators : tuple of str, default ("infonce",)
        Run ``r`` trains ``estimators[r % len(estimators)]``.
    dtype : torch.dtype, default torch.float32
        ``compute_dtype`` of the ensemble.
    """

    def __init__(self, sampler: CorrelatedGaussian, cfg: dict, seed: int, runs: int, workers: int,
                 estimators: tuple[str, ...] = ("infonce",), dtype: torch.dtype = torch.float32):
        self.dtype = dtype
        def build(r: int) -> tuple[SeparableCritic, Loss]:  # a TUBA loss has weights too: seeded with its run
            return (SeparableCritic(sampler.dim, sampler.dim, cfg["hidden_dim"], cfg["layers"], cfg["embed_dim"]),
                    Loss(estimators[r % len(estimators)], sampler.dim))

        built = [_seeded(seed + r, lambda r=r: build(r)) for r in range(runs)]
        self.critics, self.losses = [c for c, _ in built], [loss for _, loss in built]
        self.sampler, self.k, self.lr, self.runs, self.workers = sampler, cfg["batch_size"], cfg["learning_rate"], runs, workers
        self.gen = torch.Generator().manual_seed(seed + 10_000)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x (R, K, d), y (R, K, d))``: fresh pairs for every run, drawn in one call."""
        x, y = self.sampler.sample_torch(self.runs * self.k, self.gen)
        return x.view(self.runs, self.k, -1), y.view(self.runs, self.k, -1)

    def block(self, steps: int) -> None:
        """``steps`` steps of :func:`mibound.neural.stacking.train_ensemble` (critics trained in place)."""
        train_ensemble(self.critics, self.losses, self.batch, steps, learning_rate=self.lr, lr_schedule="constant",
                       progress=False, workers=self.workers, num_threads=1, compute_dtype=self.dtype)

    def estimates(self, batches: Batches) -> torch.Tensor:
        """Each run's held-out InfoNCE (nats), shape ``(R,)``, every run on the same batches."""
        batches = list(batches)
        return torch.tensor([heldout_infonce(c, batches) for c in self.critics], dtype=torch.float64)


class _TorchMist:
    """torch-mist 0.2.17's training path for the same InfoNCE run (optional dependency).

    Parameters as :class:`_Single`; the estimator's weights come from ``seed`` too (torch-mist
    builds its own MLPs, so they differ from the other contenders').
    """

    def __init__(self, sampler: CorrelatedGaussian, cfg: dict, seed: int):
        from torch_mist.estimators import infonce as mist_infonce

        self.est = _seeded(seed, lambda: mist_infonce(
            x_dim=sampler.dim, y_dim=sampler.dim, hidden_dims=[cfg["hidden_dim"]] * cfg["layers"],
            critic_type="separable", k_dim=cfg["embed_dim"]))
        self.sampler, self.k, self.lr = sampler, cfg["batch_size"], cfg["learning_rate"]
        self.gen = torch.Generator().manual_seed(seed + 1)

    def data(self, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``steps * K`` fresh pairs, the data set of one block."""
        return self.sampler.sample_torch(steps * self.k, self.gen)

    def block(self, steps: int, data: tuple[torch.Tensor, torch.Tensor]) -> None:
        """``steps`` steps of ``train_mi_estimator`` (which shuffles with torch's global RNG;
        :func:`bench_speed` restores that state when it returns)."""
        from torch_mist.utils.train import train_mi_estimator

        train_mi_estimator(self.est, train_data=data, batch_size=self.k, max_iterations=steps, valid_percentage=0,
                           optimizer_params={"lr": self.lr}, verbose=False, logger=False)

    def estimate(self, batches: Batches) -> float:
        """Held-out InfoNCE (nats) of torch-mist's separable critic."""
        crit = self.est.critic
        return heldout_infonce(lambda x, y: crit.f_x(x) @ crit.f_y(y).T, batches)


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


def _fmt_load(load: tuple[float, ...] | None) -> str:
    return "n/a" if load is None else "/".join(f"{v:.2f}" for v in load)


def _median(xs: Iterable[float]) -> float:
    xs = list(xs)
    return float(statistics.median(xs)) if xs else math.nan


@_restores_global_rng
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
    _check_int(steps, "steps", minimum=1)
    _check_int(repeats, "repeats", minimum=1)
    _check_int(runs, "runs", minimum=1)
    _check_int(threads, "threads", minimum=1)
    _check_int(ensemble_workers, "ensemble_workers", minimum=1)
    _check_positive(mi, "mi")
    _check_int(concat_k, "concat_k", minimum=2)
    _check_int(concat_steps, "concat_steps", minimum=1)
    _check_int(matmul_n, "matmul_n", minimum=16)
    _check_int(eval_batches, "eval_batches", minimum=1)
    _check_int(staircase_steps, "staircase_steps", minimum=1)
    if memory_k is not None:
        _check_int(memory_k, "memory_k", minimum=2)
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
        concat = _seeded(seed + 4, lambda: ConcatCritic(d, d, cfg["hidden_dim"], cfg["layers"]))
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
        concat_bf16_infonce = float((infonce(s16) - infonce(s32)).abs())
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


# ---------------------------------------------------------------------------------------------
# command line (also run by ``mibound bench-speed`` from a source checkout)
# ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The options of ``python benchmarks/bench_speed.py``, the same as ``mibound bench-speed``'s."""
    parser = argparse.ArgumentParser(
        prog="bench_speed.py", description="In one process, alternating the contenders, time the Poole configuration "
        "(d=20, K=64, separable 2x256 critic, InfoNCE) for a fixed number of steps and print ms/step, ratios, "
        "held-out estimates, the concat critic's GFLOP/s against a large matmul, and the FLOPs of the Poole "
        "staircase. torch-mist is included when installed.")
    parser.add_argument("--steps", type=int, default=200, help="steps per contender per repeat (default 200)")
    parser.add_argument("--repeats", type=int, default=5, help="alternating repeats (default 5)")
    parser.add_argument("--runs", type=int, default=8, help="R, runs of the ensemble (default 8)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the single-run contenders (default 1)")
    parser.add_argument("--ensemble-workers", type=int, default=2, help="worker threads of the ensemble, one "
                        "intra-op thread each (default 2; the ensemble is also timed with 1)")
    parser.add_argument("--mi", type=float, default=2.0, help="true MI of the Gaussian task, nats (default 2)")
    parser.add_argument("--concat-k", type=int, default=64, help="K of the concat-critic FLOP-rate test (default 64)")
    parser.add_argument("--memory-k", type=int, default=None, help="also measure the concat critic's peak memory "
                        "at this K in a subprocess (e.g. 1024)")
    parser.add_argument("--staircase", action="store_true", help="also train the separable half of the Poole "
                        "staircase (6 estimators) as one ensemble and report its wall time (minutes)")
    parser.add_argument("--staircase-steps", type=int, default=20000, help="steps per estimator of the staircase "
                        "(default 20000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-torch-mist", action="store_true", help="skip torch-mist even if installed")
    parser.add_argument("--no-tune-malloc", action="store_true", help="leave glibc's malloc thresholds alone")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run :func:`bench_speed` with parsed options (:func:`build_parser`'s, or ``mibound bench-speed``'s).

    Parameters
    ----------
    args : argparse.Namespace
        ``steps``, ``repeats``, ``runs``, ``threads``, ``ensemble_workers``, ``mi``, ``concat_k``,
        ``memory_k``, ``staircase``, ``staircase_steps``, ``seed``, ``no_torch_mist``,
        ``no_tune_malloc`` and ``json`` (a path or ``None``).

    Returns
    -------
    int
        0; invalid settings raise ``ValueError`` / ``TypeError``.
    """
    result = bench_speed(steps=args.steps, repeats=args.repeats, runs=args.runs, threads=args.threads,
                         ensemble_workers=args.ensemble_workers, mi=args.mi, concat_k=args.concat_k,
                         seed=args.seed, torch_mist=not args.no_torch_mist, malloc=not args.no_tune_malloc,
                         memory_k=args.memory_k, staircase=args.staircase, staircase_steps=args.staircase_steps)
    if args.json:
        from mibound.inputs.files import atomic_write_json

        atomic_write_json(args.json, asdict(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python benchmarks/bench_speed.py [options]``: parse ``argv`` and :func:`run`; errors exit with status 2."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (ValueError, TypeError, RuntimeError, OSError) as exc:
        print(f"bench_speed.py: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
