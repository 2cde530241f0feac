"""Named experiments: each writes a tidy CSV, ``metadata.json`` and a figure (PNG and SVG).

``EXPERIMENTS[name](out=..., quick=..., seed=..., progress=..., resume=...)``.
"""

from . import staircase

EXPERIMENTS = {
    "staircase": staircase.run,
}

__all__ = ["EXPERIMENTS"]
