"""Alias of :mod:`mibound.images.colorspaces` for one release (0.1 -> 0.2): ``mibound.colorspaces`` is that module itself."""

import sys

from mibound.images import colorspaces as _module

sys.modules[__name__] = _module
