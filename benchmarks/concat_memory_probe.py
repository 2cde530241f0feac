"""Peak resident memory of one concat-critic forward+backward, for a fresh process.

Run by :func:`bench_speed.concat_memory` in a subprocess (so that the peak RSS is this step's,
not the benchmark's), or by hand::

    python benchmarks/concat_memory_probe.py K HIDDEN CHUNK THREADS
    python benchmarks/concat_memory_probe.py 1024 256 auto 1

``CHUNK`` is the critic's ``chunk_size`` or ``auto``. Prints one JSON line: ``peak_rss_mib``
(the peak RSS of this process, torch included), ``baseline_rss_mib`` (its resident memory just
before the step) and ``seconds`` of the step. Weights and inputs come from fixed seeds; the
process's global RNG is seeded only inside :func:`torch.random.fork_rng`.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def probe(k: int, hidden_dim: int, chunk_size: int | None, threads: int, seed: int = 0) -> dict[str, float]:
    """One forward+backward of ``ConcatCritic(20, 20, hidden_dim, chunk_size)`` on ``K`` pairs.

    Parameters
    ----------
    k : int
        Pairs per batch (the critic scores all ``K^2`` of them).
    hidden_dim : int
    chunk_size : int or None
        The critic's ``chunk_size`` (``None``: its automatic choice).
    threads : int
        torch intra-op threads.
    seed : int, default 0
        Seed of the weights and of the inputs.

    Returns
    -------
    dict
        ``peak_rss_mib``, ``baseline_rss_mib`` and ``seconds``.
    """
    import torch

    from mibound.neural.critics import ConcatCritic

    torch.set_num_threads(threads)
    with torch.random.fork_rng(devices=[]):  # nn.Linear initialises from the global RNG
        torch.manual_seed(seed)
        critic = ConcatCritic(20, 20, hidden_dim=hidden_dim, chunk_size=chunk_size)
    gen = torch.Generator().manual_seed(seed + 1)
    x, y = torch.randn(k, 20, generator=gen), torch.randn(k, 20, generator=gen)
    try:  # current resident set (the peak so far may be higher, from imports)
        with open("/proc/self/statm") as fh:
            before = int(fh.read().split()[1]) * resource.getpagesize() / 1024
    except OSError:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    critic(x, y).logsumexp(1).mean().backward()
    seconds = time.perf_counter() - t
    peak = _peak_kib()
    return {"peak_rss_mib": peak / 1024, "baseline_rss_mib": before / 1024, "seconds": seconds}


def _peak_kib() -> float:
    """This process's peak resident memory in KiB: ``VmHWM``, the high-water mark of its own address space.

    Not ``ru_maxrss``: Linux carries that over ``fork`` + ``exec``, so a probe started by a process
    of 1.2 GiB (a long test session) reported 1.2 GiB whatever the step used (measured: a step of
    281 MiB read as 944 MiB after the rest of the test suite had run in the parent).
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux; bytes on macOS


def main(argv: list[str] | None = None) -> int:
    """Parse ``K HIDDEN CHUNK THREADS``, run :func:`probe`, print its result as one JSON line."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        print("usage: concat_memory_probe.py K HIDDEN CHUNK|auto THREADS", file=sys.stderr)
        return 2
    k, hidden, chunk, threads = args
    info = probe(int(k), int(hidden), None if chunk == "auto" else int(chunk), int(threads))
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
