"""Song & Ermon (2020) self-consistency tests on scikit-learn's digits. Same as ``mibound experiment self-consistency``.

    python experiments/self_consistency.py --quick --out results/self_consistency
"""

import sys

from mibound.cli import main

if __name__ == "__main__":
    sys.exit(main(["experiment", "self-consistency", *sys.argv[1:]]))
