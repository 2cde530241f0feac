"""The learning-rate race (issue 24), in one run: default neural fit against single-rate fits, and torch-mist.

A script of the source checkout::

    mibound tasks export /tmp/tasks --n 5000
    python benchmarks/bench_race.py --tasks /tmp/tasks --names gaussian-pairs-d20-mi2,shells-10x5-mi1
    python benchmarks/bench_race.py --tasks /tmp/tasks --limit 18 --mist-steps 2000

Part 1, per task (flat views; one thread): the default ``infonce`` fit (its two rates race,
:class:`mibound.neural.selection.RateRace`), the same fit with both rates trained to their own
stopping points (the race switched off: how every fit ran before issue 24) and a fit at the single
rate the default chose. The default and the single-rate fit are alternated ``--repeats`` times and the
minimum of each is kept (wall clock, and the process's CPU time, which counts every thread: the full
runs step their two rates in two worker threads). Printed: seconds of each, the time ratio default /
single rate, the chosen rates of the default and of the full runs, and when each candidate stopped and
why. The ratio of the summed times is the headline; agreement counts tasks where the race chose the
full runs' rate. While both candidates are in the race they train as one stacked critic
(:class:`mibound.neural.stacking.CandidateRuns`).

Part 2: mibound's default InfoNCE (``estimate_mi(..., estimator="infonce")``, Poole et al.'s
correlated Gaussians, d = 20, 2 nats, K = 64) against torch-mist 0.2.17's ``train_mi_estimator`` for
the same number of steps on the same training rows, read on the same held-out rows
(``benchmarks/bench_speed.heldout_infonce``), when torch-mist is installed (the ``bench`` extra); the two
are alternated ``--repeats`` times after a warm-up fit and the minimum times are compared.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
import time

import numpy as np


def _fit(x, y, **opts):
    """``(result, wall seconds, CPU seconds of the process)``: CPU time counts every thread (the full runs step
    their two rates in two worker threads), so it is the cost where the cores are shared."""
    import mibound

    t0, c0 = time.perf_counter(), time.process_time()
    est = mibound.NeuralEstimator(progress=False, num_threads=1, **opts).fit(x, y)
    return est.result_, time.perf_counter() - t0, time.process_time() - c0


def race_table(task_dir: str, names: list[str] | None, limit: int | None, repeats: int = 1) -> int:
    import mibound.estimators.neural as en

    files = sorted(glob.glob(os.path.join(task_dir, "*.npz")))
    if names:
        files = [f for f in files if os.path.basename(f)[:-4] in names]
    rows, cpu_rows, agree, t_default, t_single, c_default, c_single = [], [], 0, 0.0, 0.0, 0.0, 0.0
    for f in files:
        z = np.load(f, allow_pickle=True)
        if len(z["shape_x"]) != 1 or len(z["shape_y"]) != 1:  # flat views only (images: the conv critic)
            continue
        if limit is not None and len(rows) >= limit:
            break
        x, y = z["x"].reshape(len(z["x"]), -1), z["y"].reshape(len(z["y"]), -1)
        if not rows:  # warm-up: the first fit of a process pays for imports and torch's first calls
            _fit(x[:1000], y[:1000], steps=20)
        race_cls, en.RateRace = en.RateRace, lambda *a, **k: None  # the full runs: no race (rate by rate)
        try:
            full, sec_full, _ = _fit(x, y)
        finally:
            en.RateRace = race_cls
        arms = {"default": [], "single": []}
        for _ in range(repeats):  # alternated; the minimum of each arm is compared
            res, sec, cpu = _fit(x, y)
            rate = res.settings["selection"]["learning_rate"]
            arms["default"].append((sec, cpu))
            arms["single"].append(_fit(x, y, learning_rate=rate)[1:])
        (sec, cpu), (sec_one, cpu_one) = (tuple(map(min, zip(*arms[k]))) for k in ("default", "single"))
        same = rate == full.settings["selection"]["learning_rate"]
        agree += same
        t_default, t_single = t_default + sec, t_single + sec_one
        c_default, c_single = c_default + cpu, c_single + cpu_one
        cpu_rows.append(cpu / cpu_one)
        stops = "; ".join(f"{c['learning_rate']:g}: {c['stopped_step']} ({c['stopped'].split(' by')[0]})"
                          for c in res.settings["selection"]["candidates"])
        rows.append(sec / sec_one)
        print(f"{os.path.basename(f)[:-4]:42s} default {sec:6.2f} s  full {sec_full:6.2f} s  single {sec_one:6.2f} s  "
              f"ratio {sec / sec_one:5.2f} (CPU {cpu / cpu_one:5.2f})  rate {rate:g} (full runs {full.settings['selection']['learning_rate']:g}"
              f"{'' if same else ', DIFFERENT'})  est {res.estimate:.3f} (full {full.estimate:.3f}, "
              f"true {float(z['true_mi']):.3f})  stops: {stops}", flush=True)
    if rows:
        print(f"\n{len(rows)} tasks: time ratio default / single rate: total {t_default / t_single:.2f}, median "
              f"{statistics.median(rows):.2f}, max {max(rows):.2f}; CPU time ratio: total {c_default / c_single:.2f}, "
              f"median {statistics.median(cpu_rows):.2f}; same rate as the full runs on {agree}/{len(rows)}")
    return 0


def mist_table(steps: int, n: int, seed: int = 0, repeats: int = 2) -> None:
    """Part 2: the two fits alternated ``repeats`` times (after a warm-up fit); the minimum time of each is compared."""
    import torch

    import mibound
    sys.path.insert(0, os.path.dirname(__file__))
    from bench_speed import _seeded, _torch_mist_available, heldout_infonce

    ok, why = _torch_mist_available()
    x, y = mibound.CorrelatedGaussian.from_mi(2.0, dim=20).sample(n, seed=seed)
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    mibound.estimate_mi(x[:1000], y[:1000], estimator="infonce", steps=20, progress=False, num_threads=1)  # warm-up

    def ours():
        t0 = time.perf_counter()
        res = mibound.estimate_mi(x, y, estimator="infonce", steps=steps, progress=False, num_threads=1)
        return res, time.perf_counter() - t0

    if not ok:
        res, t_mib = ours()
        print(f"mibound default infonce: {t_mib:.1f} s, estimate {res.estimate:.3f}")
        print(f"torch-mist not installed ({why}); pip install --no-deps torch-mist==0.2.17 pyro-ppl pyro-api opt_einsum")
        return
    from torch_mist.estimators import infonce as mist_infonce
    from torch_mist.utils.train import train_mi_estimator

    n_train = int(0.7 * n)

    def theirs():
        est = _seeded(seed, lambda: mist_infonce(x_dim=20, y_dim=20, hidden_dims=[256, 256], critic_type="separable",
                                                 k_dim=32))
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        train_mi_estimator(est, train_data=(torch.from_numpy(x[:n_train]), torch.from_numpy(y[:n_train])),
                           batch_size=64, max_iterations=steps, valid_percentage=0, optimizer_params={"lr": 5e-4},
                           verbose=False, logger=False)
        sec = time.perf_counter() - t0
        xt, yt = torch.from_numpy(x[n_train:]), torch.from_numpy(y[n_train:])
        batches = [(xt[i:i + 64], yt[i:i + 64]) for i in range(0, len(xt) - 63, 64)]
        crit = est.critic
        with torch.no_grad():
            return heldout_infonce(lambda a, b: crit.f_x(a) @ crit.f_y(b).T, batches), sec

    t_mib, t_mist = [], []
    for _ in range(repeats):  # alternated: a load change hits both arms
        res, sec = ours()
        t_mib.append(sec)
        mist, sec = theirs()
        t_mist.append(sec)
    print(f"mibound default infonce: {min(t_mib):.1f} s (min of {repeats}: {', '.join(f'{t:.1f}' for t in t_mib)}), "
          f"estimate {res.estimate:.3f} (true 2.0; readout K {res.settings['eval_batch_size']}, "
          f"rate {res.settings['selection']['learning_rate']:g})")
    print(f"torch-mist 0.2.17: {min(t_mist):.1f} s ({', '.join(f'{t:.1f}' for t in t_mist)}), held-out InfoNCE "
          f"{mist:.3f} at K = 64 (mibound reads at a larger K; its K = 64 ceiling is {np.log(64):.3f}); mibound is "
          f"{min(t_mist) / min(t_mib):.2f}x faster")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=None, help="a directory of `mibound tasks export` files (part 1)")
    ap.add_argument("--names", default=None, help="comma-separated task names (default: every flat task)")
    ap.add_argument("--limit", type=int, default=None, help="at most this many tasks")
    ap.add_argument("--mist-steps", type=int, default=2000, help="steps of part 2 (0: skip it)")
    ap.add_argument("--mist-n", type=int, default=20000, help="rows of part 2")
    ap.add_argument("--repeats", type=int, default=2, help="alternated repeats of the timed arms (the minimum is compared)")
    a = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if a.tasks:
        race_table(a.tasks, a.names.split(",") if a.names else None, a.limit, a.repeats)
    if a.mist_steps:
        mist_table(a.mist_steps, a.mist_n, repeats=a.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
