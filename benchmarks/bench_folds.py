"""Cross-fitting against one critic on the 25+25-dim sparse Gaussian of issue 11 (1.02 nats, n = 5000).

Prints one line per (estimator, folds, seed): the held-out estimate, its 95% interval, the selected
step(s) and the seconds. Every other setting is the estimator's default.

    python benchmarks/bench_folds.py --estimator infonce --estimator smile --folds 1 --folds 4 --seeds 3
"""

from __future__ import annotations

import argparse
import time

from mibound.data import SparseInteraction
from mibound.registry import make_estimator


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimator", action="append", default=None, help="neural estimator (repeatable)")
    parser.add_argument("--folds", action="append", type=int, default=None, help="folds (repeatable)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 (data and fit)")
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args(argv)
    task = SparseInteraction.from_mi(1.02, 25, 25, 2)
    for name in args.estimator or ["infonce", "smile"]:
        for folds in args.folds or [1, 4]:
            for seed in range(args.seeds):
                x, y = task.sample(args.n, seed=seed)
                t0 = time.perf_counter()
                r = make_estimator(name, folds=folds, seed=seed, progress=False, num_threads=1).fit(x, y).result_
                print(f"{name:8s} folds={folds} seed={seed}  {r.estimate:.3f} [{r.ci[0]:.3f}, {r.ci[1]:.3f}]  "
                      f"step {r.settings['selection']['selected_step']}  {time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
