"""Named experiments: each writes a tidy CSV, ``metadata.json`` and a figure (PNG and SVG).

``EXPERIMENTS[name](out=..., quick=..., seed=..., progress=..., resume=...)``.
"""

from . import infomin, self_consistency, staircase, vary_k

EXPERIMENTS = {
    "staircase": staircase.run,
    "vary-k": vary_k.run,
    "self-consistency": self_consistency.run,
    "infomin": infomin.run,
}

__all__ = ["EXPERIMENTS"]
