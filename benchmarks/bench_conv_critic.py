"""The conv critic against the MLP critic on the DPI experiment's raw image views (issue 12, part 1).

On the identity-encoder views of :mod:`mibound.experiments.dpi` (``VIEWS["channels"]``: an 8-nat
channel split, two 1x8x8 views; ``VIEWS["grf_crops"]``: two 8x8 crops of one Gaussian random
field, 6.13 nats), both critics are trained with InfoNCE on fresh sampler batches exactly as the
DPI experiment's quick setting trains its critic (:func:`mibound.estimators.neural.fit_samplers`, K = 128,
600 steps, learning rate 1e-3, cosine schedule, read on 32 fresh held-out batches of K = 128),
beside the optimal-critic InfoNCE (the analytic critic, the best any critic can read at this K).
The MLP critic is the DPI experiment's (separable, 2 x 128 hidden units, 32-dim embedding); the
conv critic is ``critic="conv"`` with its defaults. Wall time is the fit's (training and readout),
one torch thread, the critics alternating, the minimum over ``--repeats``; the process's CPU time
is printed beside it (on a shared machine it is the steadier of the two).

    PYTHONPATH=. python benchmarks/bench_conv_critic.py            # the table of docs/estimators.md
    PYTHONPATH=. python benchmarks/bench_conv_critic.py --steps 4000 --learning-rate 5e-4   # DPI full setting
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from mibound.estimators.neural import NeuralEstimator, _mean_ci, fit_samplers
from mibound.experiments._common import optimal_infonce
from mibound.experiments.dpi import VIEWS

#: the DPI experiment's seed of its identity-encoder K = 128 group for each views kind (quick setting)
DPI_SEEDS = {"grf_crops": 15, "channels": 27}
CRITICS = {"mlp (separable 2x128)": ("separable", {"hidden_dim": 128}), "conv": ("conv", {})}


def fit(views: str, critic: str, options: dict, k: int, steps: int, lr: float, eval_pairs: int, seed: int):
    est = NeuralEstimator("infonce", critic=critic, batch_size=k, steps=steps, seed=seed, learning_rate=lr,
                          eval_batches=max(2, eval_pairs // k), critic_options=options, progress=False)
    t0, c0 = time.perf_counter(), time.process_time()
    fit_samplers([est], [VIEWS[views]()], progress=False)
    return est.result_.estimate, time.perf_counter() - t0, time.process_time() - c0


def run(args) -> list[dict]:
    torch.set_num_threads(args.threads)
    critics = dict(CRITICS)
    critics["conv"] = ("conv", json.loads(args.conv_options))
    if args.only_conv:
        critics.pop(next(iter(CRITICS)))
    rows = []
    for views in args.views:
        seed = DPI_SEEDS[views] if args.seed is None else args.seed
        sampler = VIEWS[views]()
        optimal = _mean_ci(optimal_infonce(sampler, args.k, args.eval_pairs, seed))[0]
        times = {name: [] for name in critics}
        cpu = {name: [] for name in critics}
        value = {}
        for _ in range(args.repeats):  # alternate the critics so that a busy machine slows both alike
            for name, (critic, options) in critics.items():
                value[name], dt, dc = fit(views, critic, options, args.k, args.steps, args.learning_rate,
                                          args.eval_pairs, seed)
                times[name].append(dt)
                cpu[name].append(dc)
        first = next(iter(critics))
        for name in critics:
            rows.append({"views": views, "critic": name, "K": args.k, "steps": args.steps,
                         "mi": sampler.mutual_information(), "optimal": optimal, "trained": value[name],
                         "seconds": min(times[name]), "ratio": min(times[name]) / min(times[first]),
                         "cpu_seconds": min(cpu[name]), "cpu_ratio": min(cpu[name]) / min(cpu[first])})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", nargs="+", default=["channels", "grf_crops"], choices=sorted(DPI_SEEDS))
    parser.add_argument("--k", type=int, default=128)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--eval-pairs", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=None, help="default: the DPI experiment's seed of each views")
    parser.add_argument("--conv-options", default="{}", help="critic_options of the conv critic, as JSON")
    parser.add_argument("--only-conv", action="store_true", help="skip the MLP critic (exploring conv options)")
    args = parser.parse_args(argv)
    rows = run(args)
    head = f"{'views':10s} {'critic':22s} {'K':>4s} {'steps':>5s} {'I(v1;v2)':>8s} {'optimal':>7s} " \
           f"{'trained':>7s} {'seconds':>7s} {'time ratio':>10s} {'cpu s':>6s} {'cpu ratio':>9s}"
    print(head)
    for r in rows:
        print(f"{r['views']:10s} {r['critic']:22s} {r['K']:4d} {r['steps']:5d} {r['mi']:8.2f} {r['optimal']:7.2f} "
              f"{r['trained']:7.2f} {r['seconds']:7.2f} {r['ratio']:10.2f} {r['cpu_seconds']:6.2f} {r['cpu_ratio']:9.2f}")
    print(f"(nats; InfoNCE read on held-out batches of K = {args.k}, a lower bound; ceiling log K = "
          f"{math.log(args.k):.2f}; seconds: wall time of the fit, minimum of {args.repeats}, {args.threads} torch "
          "thread(s); ratio = / the MLP critic's; cpu: the process's CPU time, which another busy process "
          "disturbs less)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
