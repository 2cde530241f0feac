"""InfoNCE with 1, 2 and 4 processes: the global K, the ceiling log K and the estimate climbing with K.

Writes the d=20 correlated Gaussian at 10 nats (``CorrelatedGaussian.from_mi(10, 20)``) to two
``.npy`` files, then for each process count N runs (and prints) the command

    torchrun --nproc_per_node=N --master_addr=127.0.0.1 --master_port=PORT -m mibound estimate \\
        X.npy Y.npy --mmap --distributed --device cpu --batch-size 64 --steps STEPS --seed 0 --threads 1 --json

and prints a Markdown table: processes, global K, log K, held-out estimate with its 95% CI, the
true MI, the fit time reported by the estimator and the wall time of the whole launch.

    PYTHONPATH=. python benchmarks/distributed_scaling.py --steps 1000 --out results/distributed

On a machine with fewer cores than processes the processes share cores (oversubscribed): the
wall times then measure contention, not scaling.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import mibound
from mibound.inputs.files import atomic_write_json


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--procs", default="1,2,4", help="process counts (default 1,2,4)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64, help="local batch per process (default 64)")
    parser.add_argument("--n", type=int, default=200_000, help="pairs in the data files (default 200000)")
    parser.add_argument("--mi", type=float, default=10.0)
    parser.add_argument("--dim", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/distributed")
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sampler = mibound.CorrelatedGaussian.from_mi(args.mi, args.dim)
    fx, fy = out / "x.npy", out / "y.npy"
    if not (fx.exists() and fy.exists()):
        x, y = sampler.sample(args.n, seed=args.seed)
        np.save(fx, x)
        np.save(fy, y)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    rows = []
    for n_proc in [int(p) for p in args.procs.split(",")]:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={n_proc}",
               "--master_addr=127.0.0.1", f"--master_port={_free_port()}", "-m", "mibound", "estimate",
               str(fx), str(fy), "--mmap", "--distributed", "--device", "cpu", "--batch-size", str(args.batch_size),
               "--steps", str(args.steps), "--seed", str(args.seed), "--threads", "1", "--json"]
        print("$", shlex.join(cmd), flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr[-4000:], file=sys.stderr)
            return proc.returncode
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res["wall_seconds"] = wall
        res["command"] = shlex.join(cmd)
        atomic_write_json(out / f"infonce_np{n_proc}.json", res)
        rows.append((n_proc, res))
    true_mi = sampler.mutual_information()
    print()
    print("| processes | local batch | global K | ceiling log K (nats) | InfoNCE estimate (nats) [95% CI] "
          "| true MI (nats) | fit (s) | wall (s) |")
    print("|---:|---:|---:|---:|---|---:|---:|---:|")
    for n_proc, r in rows:
        print(f"| {n_proc} | {r['settings']['local_batch_size']} | {r['batch_size']} | {r['ceiling']:.3f} "
              f"| {r['estimate']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}] | {true_mi:.1f} "
              f"| {r['seconds']:.1f} | {r['wall_seconds']:.1f} |")
    ok = all(a[1]["estimate"] < b[1]["estimate"] for a, b in zip(rows, rows[1:]))
    print(f"\nestimate climbs with K: {ok}; gap to log K: "
          + ", ".join(f"K={r['batch_size']}: {math.log(r['batch_size']) - r['estimate']:.3f}" for _, r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
