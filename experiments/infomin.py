"""Tian et al. (2020) InfoMin sweet spot on digits with texture nuisances. Same as ``mibound experiment infomin``.

    python experiments/infomin.py --quick --out results/infomin
"""

import sys

from mibound.cli import main

if __name__ == "__main__":
    sys.exit(main(["experiment", "infomin", *sys.argv[1:]]))
