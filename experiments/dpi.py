"""The data-processing chain I(v1;v2) >= I(z1;z2) >= InfoNCE, each gap measured. Same as ``mibound experiment dpi``.

    python experiments/dpi.py --quick --out results/dpi
"""

import sys

from mibound.cli import main

if __name__ == "__main__":
    sys.exit(main(["experiment", "dpi", *sys.argv[1:]]))
