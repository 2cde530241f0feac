import sys

from mibound.cli import main

sys.exit(main())
