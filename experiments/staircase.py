"""Poole et al. (2019) Fig. 2 staircase. Same as ``mibound experiment staircase``.

    python experiments/staircase.py --quick --out results/staircase
"""

import sys

from mibound.cli import main

if __name__ == "__main__":
    sys.exit(main(["experiment", "staircase", *sys.argv[1:]]))
