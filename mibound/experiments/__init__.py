"""Named experiments: each writes a tidy CSV, ``metadata.json`` and a figure (PNG and SVG).

``EXPERIMENTS[name](out=..., quick=..., seed=..., progress=..., resume=...)``.
"""

from mibound.experiments import (color_split, contrastive, dpi, infomin, infomin_learn, patch_distance, real_pairs,
                                 self_consistency, staircase, vary_k)

EXPERIMENTS = {
    "staircase": staircase.run,
    "vary-k": vary_k.run,
    "dpi": dpi.run,
    "infomin": infomin.run,
    "infomin-learn": infomin_learn.run,
    "self-consistency": self_consistency.run,
    "patch-distance": patch_distance.run,
    "color-split": color_split.run,
    "real-pairs": real_pairs.run,
    "contrastive": contrastive.run,
}

__all__ = ["EXPERIMENTS"]
