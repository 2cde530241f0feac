"""Speed benchmark: mibound vs a minimal PyTorch loop and torch-mist, in one run.

A thin wrapper of ``benchmarks/bench_speed.py`` (also ``mibound bench-speed`` from a source
checkout), with the same options; for example

    python experiments/bench_speed.py --steps 200 --repeats 5 --memory-k 1024
    python experiments/bench_speed.py --ensemble-workers 2

torch-mist is timed when installed (``pip install torch-mist==0.2.17 --no-deps`` plus
``pyro-ppl``; see the ``bench`` extra) and skipped otherwise.
"""

import runpy
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_speed.py"

if __name__ == "__main__":
    sys.argv[0] = str(SCRIPT)
    runpy.run_path(str(SCRIPT), run_name="__main__")
