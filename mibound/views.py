"""Alias of :mod:`mibound.images.views` for one release (0.1 -> 0.2): ``mibound.views`` is that module itself."""

import sys

from mibound.images import views as _module

sys.modules[__name__] = _module
