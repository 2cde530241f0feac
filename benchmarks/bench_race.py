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

Printed after part 1: the stacked step cost, one training step of the two candidates stacked over one
step of one critic (the price of every step the race shares), and, where the race chose another rate
than the full runs, how far apart the full runs' own validation values of the two rates were.

Part 2: mibound's default InfoNCE (``estimate_mi(..., estimator="infonce")``, Poole et al.'s
correlated Gaussians, d = 20, 2 nats, K = 64) against torch-mist 0.2.17's ``train_mi_estimator`` on the
same training rows, read on held-out rows (``benchmarks/bench_speed.heldout_infonce``), when torch-mist is
installed (the ``bench`` extra); every fit is alternated ``--repeats`` times after a warm-up fit and the
minimum times are compared. Three lines: at equal steps (``--mist-steps``); the ceiling, ``bench_speed``'s
hand-written loop of the same critic (forward, backward, fused Adam and nothing else), whose time is about the
most any trainer of this critic gains over torch-mist at equal steps; and each tool at its best over a ladder of budgets
(``--mist-budgets`` and ``--mist-steps``), both read at mibound's readout K: torch-mist's best held-out
value (its cheapest budget within ``TIE`` nats of it) against mibound's cheapest budget that reaches
it (the speed-up at equal or better accuracy).
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
import time

import numpy as np


#: part 2: held-out values of torch-mist's budgets this close (nats) count as the same accuracy. The held-out
#: mean over 6 batches of K = 1000 moves by about this much between torch-mist runs that differ only in the
#: order of their batches (1.705 / 1.721 / 1.706 / 1.708 measured at 500 and 1000 steps).
TIE = 0.02


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
    regrets: list[float] = []
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
        if not same:  # what the miss cost, on the full runs' own validation values (nats)
            vals = {c["learning_rate"]: c["validation_value"] for c in full.settings["selection"]["candidates"]}
            regrets.append(max(vals.values()) - vals[rate])
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
              f"median {statistics.median(cpu_rows):.2f}; same rate as the full runs on {agree}/{len(rows)}"
              + (f" (where not, the full runs' validation values of the two rates differ by at most {max(regrets):.3f} nats)"
                 if regrets else ""))
        print(f"stacked step cost (two candidates as one stacked critic / one critic, d = 20): {stacked_step_cost():.2f}")
    return 0


def stacked_step_cost(dim: int = 20, steps: int = 100, repeats: int = 5) -> float:
    """One training step of the default critic's two candidate rates stacked
    (:class:`mibound.neural.stacking.CandidateRuns`) over one step of one critic: the minimum of ``repeats``
    alternated blocks of ``steps`` steps, one thread. The race's shared phase costs this much per step."""
    import copy

    import torch

    from mibound.neural.critics import make_critic
    from mibound.neural.engine import SingleRun, _Slot
    from mibound.neural.objectives import Loss
    from mibound.neural.stacking import CandidateRuns
    from mibound.registry import NEURAL_DEFAULTS

    rates = tuple(NEURAL_DEFAULTS["learning_rate"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        critic, loss = make_critic("separable", dim, dim), Loss("infonce", dim)
        one = _Slot(SingleRun(copy.deepcopy(critic), copy.deepcopy(loss)), torch.arange(1), rates[0], "cosine", 2000)
        stacked = _Slot(CandidateRuns([SingleRun(copy.deepcopy(critic), copy.deepcopy(loss)) for _ in rates]),
                        torch.arange(len(rates)), rates, "cosine", 2000)
        x, y = torch.randn(NEURAL_DEFAULTS["batch_size"], dim), torch.randn(NEURAL_DEFAULTS["batch_size"], dim)
    times: dict[str, list[float]] = {"one": [], "stacked": []}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(repeats):
            for name, slot in (("one", one), ("stacked", stacked)):
                t0 = time.perf_counter()
                for _ in range(steps):
                    slot.step(x, y)
                times[name].append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    return min(times["stacked"]) / min(times["one"])


def mist_table(steps: int, n: int, seed: int = 0, repeats: int = 2, budgets: tuple[int, ...] = (500, 1000)) -> None:
    """Part 2: mibound's default InfoNCE against torch-mist, and what bounds the comparison.

    Every fit is alternated ``repeats`` times (after a warm-up fit) and the minimum time of each is kept.
    Printed:

    * **equal steps** (``steps``): both fits' times and held-out values;
    * **the ceiling of any loop of this critic**: ``bench_speed``'s hand-written loop of the same architecture
      on the same distribution (forward, backward and fused Adam, nothing else: no validation, schedule or
      readout) for ``steps`` steps; torch-mist's time over it is about the most a trainer of this critic can gain at
      equal steps on this machine;
    * **each at its best**: both tools at every budget of ``budgets`` and ``steps``, torch-mist's critic read
      on its held-out rows at mibound's readout batch size (both read at the same K). torch-mist's best
      value and the time of the budget that reached it, against the time of mibound's cheapest budget
      whose estimate is at least that value: the speed-up at equal or better accuracy.
    """
    import torch

    import mibound
    sys.path.insert(0, os.path.dirname(__file__))
    from bench_speed import POOLE, _Minimal, _seeded, _torch_mist_available, heldout_infonce

    ok, why = _torch_mist_available()
    sampler = mibound.CorrelatedGaussian.from_mi(2.0, dim=20)
    x, y = sampler.sample(n, seed=seed)
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    mibound.estimate_mi(x[:1000], y[:1000], estimator="infonce", steps=20, progress=False, num_threads=1)  # warm-up

    def ours(budget):
        t0 = time.perf_counter()
        res = mibound.estimate_mi(x, y, estimator="infonce", steps=budget, progress=False, num_threads=1)
        return res, time.perf_counter() - t0

    if not ok:
        res, t_mib = ours(steps)
        print(f"mibound default infonce: {t_mib:.1f} s, estimate {res.estimate:.3f}")
        print(f"torch-mist not installed ({why}); pip install --no-deps torch-mist==0.2.17 pyro-ppl pyro-api opt_einsum")
        return
    from torch_mist.estimators import infonce as mist_infonce
    from torch_mist.utils.train import train_mi_estimator

    n_train = int(0.7 * n)
    xtr, ytr = torch.from_numpy(x[:n_train]), torch.from_numpy(y[:n_train])
    xt, yt = torch.from_numpy(x[n_train:]), torch.from_numpy(y[n_train:])

    def read(score, k):
        with torch.no_grad():
            return heldout_infonce(score, [(xt[i:i + k], yt[i:i + k]) for i in range(0, len(xt) - k + 1, k)])

    def theirs(budget):
        est = _seeded(seed, lambda: mist_infonce(x_dim=20, y_dim=20, hidden_dims=[256, 256], critic_type="separable",
                                                 k_dim=32))
        torch.set_num_threads(1)
        with torch.random.fork_rng(devices=[]):  # torch-mist shuffles with the global RNG: seeded, repeatable
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            train_mi_estimator(est, train_data=(xtr, ytr), batch_size=64, max_iterations=budget, valid_percentage=0,
                               optimizer_params={"lr": 5e-4}, verbose=False, logger=False)
            sec = time.perf_counter() - t0
        return (lambda a, b: est.critic.f_x(a) @ est.critic.f_y(b).T), sec

    def bare(budget):  # bench_speed's hand-written loop of the same critic: forward, backward, fused Adam, nothing else
        loop = _Minimal(sampler, POOLE, seed, fused=True)
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        loop.block(budget)
        return time.perf_counter() - t0

    ladder = sorted(set(budgets) | {steps})
    t_mib, t_mist, t_bare, est_mib, score_mist = {}, {}, [], {}, {}
    for _ in range(repeats):  # alternated: a load change hits every arm
        for b in ladder:
            res, sec = ours(b)
            t_mib.setdefault(b, []).append(sec)
            est_mib[b] = res
            score, sec = theirs(b)
            t_mist.setdefault(b, []).append(sec)
            score_mist[b] = score
        t_bare.append(bare(steps))
    k = int(est_mib[steps].settings["eval_batch_size"])
    mist_k = {b: read(score_mist[b], k) for b in ladder}
    mib, mist, floor = min(t_mib[steps]), min(t_mist[steps]), min(t_bare)
    print(f"equal steps ({steps}): mibound default infonce {mib:.1f} s (min of {repeats}: "
          f"{', '.join(f'{t:.1f}' for t in t_mib[steps])}), estimate {est_mib[steps].estimate:.3f} (true 2.0; readout K "
          f"{k}, rate {est_mib[steps].settings['selection']['learning_rate']:g}); torch-mist 0.2.17 {mist:.1f} s "
          f"({', '.join(f'{t:.1f}' for t in t_mist[steps])}), held-out InfoNCE {read(score_mist[steps], 64):.3f} at K = 64, "
          f"{mist_k[steps]:.3f} at K = {k}: mibound is {mist / mib:.2f}x faster")
    print(f"ceiling: bench_speed's hand-written loop of the same critic (forward, backward, fused Adam; no validation, "
          f"schedule or readout), {steps} steps: {floor:.1f} s, only {mist / floor:.2f}x faster than torch-mist at "
          f"equal steps on this machine")
    for b in ladder:
        print(f"  budget {b:5d} steps: mibound {min(t_mib[b]):5.1f} s, estimate {est_mib[b].estimate:.3f}; "
              f"torch-mist {min(t_mist[b]):5.1f} s, held-out {mist_k[b]:.3f} at K = {k}")
    top = max(mist_k.values())
    # torch-mist's time to its best: its cheapest budget within TIE nats of its best value (budgets that read
    # the same up to the held-out rows' noise are the same accuracy; the cheaper one is fair to torch-mist)
    best = min((b for b in ladder if mist_k[b] >= top - TIE), key=lambda b: min(t_mist[b]))
    reach = [b for b in ladder if est_mib[b].estimate >= top]
    if reach:
        b = min(reach, key=lambda b: min(t_mib[b]))
        print(f"each at its best: torch-mist's best held-out value {top:.3f}, reached within {TIE} nats at {best} steps "
              f"in {min(t_mist[best]):.1f} s; mibound reaches {est_mib[b].estimate:.3f} at {b} steps in "
              f"{min(t_mib[b]):.1f} s: {min(t_mist[best]) / min(t_mib[b]):.2f}x faster at equal or better accuracy")
    else:
        print(f"each at its best: no mibound budget reached torch-mist's best held-out value {top:.3f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=None, help="a directory of `mibound tasks export` files (part 1)")
    ap.add_argument("--names", default=None, help="comma-separated task names (default: every flat task)")
    ap.add_argument("--limit", type=int, default=None, help="at most this many tasks")
    ap.add_argument("--mist-steps", type=int, default=2000, help="steps of part 2 (0: skip it)")
    ap.add_argument("--mist-n", type=int, default=20000, help="rows of part 2")
    ap.add_argument("--repeats", type=int, default=2, help="alternated repeats of the timed arms (the minimum is compared)")
    ap.add_argument("--mist-budgets", default="500,1000", help="smaller step budgets of part 2's ladder (each at its best)")
    a = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if a.tasks:
        race_table(a.tasks, a.names.split(",") if a.names else None, a.limit, a.repeats)
    if a.mist_steps:
        mist_table(a.mist_steps, a.mist_n, repeats=a.repeats,
                   budgets=tuple(int(b) for b in a.mist_budgets.split(",") if b.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
