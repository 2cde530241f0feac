"""Named experiments: each writes a tidy CSV, ``metadata.json`` and a figure (PNG and SVG).

``EXPERIMENTS[name](out=..., quick=..., seed=..., progress=..., resume=...)``.
"""

from . import dpi, self_consistency, staircase, vary_k

EXPERIMENTS = {
    "staircase": staircase.run,
    "vary-k": vary_k.run,
    "self-consistency": self_consistency.run,
    "dpi": dpi.run,
}

__all__ = ["EXPERIMENTS"]
