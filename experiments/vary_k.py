"""InfoNCE against the batch size K (saturation at log K). Same as ``mibound experiment vary-k``.

    python experiments/vary_k.py --quick --out results/vary_k
"""

import sys

from mibound.cli import main

if __name__ == "__main__":
    sys.exit(main(["experiment", "vary-k", *sys.argv[1:]]))
