"""The monitor's overhead: training time with :class:`mibound.monitor.ContrastiveMonitor` / without it (issue 22).

A small SimCLR-style learner on CPU: two 8x8 crops of a Gaussian random field (the DPI experiment's
``grf_crops`` views, exact I(v1;v2) = 6.13 nats), a shared MLP encoder 64 -> 256 -> 256 -> 32,
cosine similarity at temperature 0.2, InfoNCE over batches of K = 256 pairs, Adam, fresh batches
from the sampler every step. The same run (same seed, same batches) is timed without the monitor
and with it at the default cadence (``total_steps // 20``: 20 checkpoints, a probe of 2048 held-out
pairs, ``gcmi`` on the 32 + 32 embedding columns with 10 half-samples, the held-out bound at
K_probe = 1024, effective ranks, I(v1;v2) exact). The two alternate ``--repeats`` times, in
alternating order (plain first, then watched first: whichever arm always ran second read 3-5% slower on
our machine, with or without the monitor); the ratios of the minimum wall times and of the minimum process CPU times are printed (one torch thread;
on a shared machine the CPU-time ratio is the steadier), and ``checkpoint_ratio``, ``1 + (time in
checkpoints) / T``: what the checkpoints alone cost, without the run-to-run noise of the training
itself. The ratio is ``1 + 20 c / T`` for a checkpoint of ``c`` seconds and a run of ``T``: the
monitor stays under 10% once a run takes ``200 c`` (a checkpoint takes 20-26 ms in a run on our
machine since issue 22's second pass, 44 ms before), and a shorter run pays proportionally more.

    PYTHONPATH=. python benchmarks/bench_monitor.py                 # 2000 steps, 20 checkpoints
    PYTHONPATH=. python benchmarks/bench_monitor.py --steps 1000    # shorter: the ratio grows as 1 + 20 c / T
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from mibound.data.images import GaussianRandomFieldCrops
from mibound.monitor import ContrastiveMonitor


def views():
    return GaussianRandomFieldCrops(image_size=16, crop_size=8, offset=(0, 6), noise=0.5, torus_size=32)


def encoder(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
                               torch.nn.Linear(256, 32))


def train(steps: int, k: int, monitor: bool, seed: int = 0) -> tuple[float, float, ContrastiveMonitor | None]:
    sampler = views()
    f = encoder(seed)
    opt = torch.optim.Adam(f.parameters(), lr=1e-3)
    mon = ContrastiveMonitor.from_sampler(sampler, n_probe=2048, flat=True, encoder=f, temperature=0.2,
                                          total_steps=steps) \
        if monitor else None
    gen = torch.Generator().manual_seed(seed + 1)
    labels = torch.arange(k)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        x, y = sampler.sample_torch(k, gen)
        z1 = torch.nn.functional.normalize(f(x), dim=1)
        z2 = torch.nn.functional.normalize(f(y), dim=1)
        loss = torch.nn.functional.cross_entropy(z1 @ z2.T / 0.2, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if mon is not None:
            mon.update(loss, k=k)
    return time.perf_counter() - t0, time.process_time() - c0, mon


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--k", type=int, default=256)
    p.add_argument("--repeats", type=int, default=4)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    plain, watched, mon, in_checkpoints = [], [], None, []
    for r in range(a.repeats):
        # the order alternates (plain first, then watched first, ...): whichever arm ran second in every pair read
        # 3-5% slower on our machine, monitor or not (issue 22: plain-first runs 1.09-1.11, watched-first 1.05-1.06)
        for watch in ((False, True) if r % 2 == 0 else (True, False)):
            if watch:
                *t, mon = train(a.steps, a.k, True)
                watched.append(t)
                in_checkpoints.append(mon.seconds)
            else:
                plain.append(train(a.steps, a.k, False)[:2])
    wall0, cpu0 = min(p[0] for p in plain), min(p[1] for p in plain)
    wall1, cpu1 = min(w[0] for w in watched), min(w[1] for w in watched)
    out = {"steps": a.steps, "K": a.k, "checkpoints": len(mon.checkpoints), "every": mon.every,
           "seconds_without": round(wall0, 3), "seconds_with": round(wall1, 3), "ratio": round(wall1 / wall0, 4),
           "cpu_seconds_without": round(cpu0, 3), "cpu_seconds_with": round(cpu1, 3), "cpu_ratio": round(cpu1 / cpu0, 4),
           "ms_per_checkpoint": round(1e3 * min(in_checkpoints) / max(1, len(mon.checkpoints)), 1),
           "checkpoint_ratio": round(1 + min(in_checkpoints) / wall0, 4),
           "last": {q: round(float(mon.checkpoints[-1][q]), 3) for q in ("mi_views", "mi_codes", "heldout_bound",
                                                                         "train_bound_window", "effective_rank_z1")},
           "diagnostics": sorted({d["code"] for d in mon.diagnostics})}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
