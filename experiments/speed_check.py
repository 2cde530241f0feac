"""Speed check: mibound's training step vs a minimal hand-written PyTorch loop, in one process.

Same Poole et al. (2019) separable critic (d=20, K=64, 2x256 ReLU, embedding 32), same Adam,
same fresh correlated-Gaussian batches, InfoNCE. The contenders alternate in rounds so that
machine noise hits both; the ratio of medians is printed (target <= 1.2).

    python experiments/speed_check.py [--steps 500] [--rounds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from mibound.critics import SeparableCritic
from mibound.data import CorrelatedGaussian
from mibound.training import Loss, train

D, K = 20, 64


def minimal_loop(steps: int, seed: int) -> float:
    """The hand-written baseline: returns seconds per step."""
    torch.manual_seed(seed)
    g = torch.nn.Sequential(torch.nn.Linear(D, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
                            torch.nn.Linear(256, 32))
    h = torch.nn.Sequential(torch.nn.Linear(D, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
                            torch.nn.Linear(256, 32))
    opt = torch.optim.Adam(list(g.parameters()) + list(h.parameters()), lr=5e-4)
    sampler = CorrelatedGaussian.from_mi(2.0, D)
    gen = torch.Generator().manual_seed(seed + 1)
    t0 = time.perf_counter()
    for _ in range(steps):
        x, y = sampler.sample_torch(K, gen)
        s = g(x) @ h(y).T
        loss = -((s.diagonal() - torch.logsumexp(s, 1)).mean() + math.log(K))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def mibound_loop(steps: int, seed: int) -> float:
    torch.manual_seed(seed)
    critic = SeparableCritic(D, D)
    sampler = CorrelatedGaussian.from_mi(2.0, D)
    gen = torch.Generator().manual_seed(seed + 1)
    t0 = time.perf_counter()
    train(critic, Loss("infonce", D), lambda step: sampler.sample_torch(K, gen), steps, progress=False)
    return (time.perf_counter() - t0) / steps


def main(argv=None) -> float:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    minimal_loop(50, 0), mibound_loop(50, 0)  # warm-up
    base, ours = [], []
    for r in range(a.rounds):
        base.append(minimal_loop(a.steps, r))
        ours.append(mibound_loop(a.steps, r))
    mb, mo = statistics.median(base), statistics.median(ours)
    print(f"torch {torch.__version__}, {a.threads} intra-op thread(s), {a.rounds} alternating rounds of {a.steps} steps")
    print(f"{'contender':<28}{'ms/step (median)':>18}")
    print(f"{'minimal PyTorch loop':<28}{mb * 1e3:>18.3f}")
    print(f"{'mibound.training.train':<28}{mo * 1e3:>18.3f}")
    print(f"ratio mibound / minimal: {mo / mb:.3f}  (target <= 1.2)")
    return mo / mb


if __name__ == "__main__":
    main()
