"""Alias of :mod:`mibound.data.tasks` for one release (0.1 -> 0.2): ``mibound.tasks`` is that module itself."""

import sys

from mibound.data import tasks as _module

sys.modules[__name__] = _module
