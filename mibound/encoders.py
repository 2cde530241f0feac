"""Alias of :mod:`mibound.data.encoders` for one release (0.1 -> 0.2): ``mibound.encoders`` is that module itself."""

import sys

from mibound.data import encoders as _module

sys.modules[__name__] = _module
