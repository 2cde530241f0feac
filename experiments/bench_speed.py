"""Speed benchmark: mibound vs a minimal PyTorch loop and torch-mist, in one run.

Same as ``mibound bench-speed``; for example

    python experiments/bench_speed.py --steps 200 --repeats 5 --memory-k 1024
    python experiments/bench_speed.py --ensemble-workers 2

torch-mist is timed when installed (``pip install torch-mist==0.2.17 --no-deps`` plus
``pyro-ppl``; see the ``bench`` extra) and skipped otherwise.
"""

import sys

from mibound.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench-speed", *sys.argv[1:]]))
