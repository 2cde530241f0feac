"""Shared plumbing of the experiments: output folder, metadata, atomic and resumable CSVs."""

from __future__ import annotations

import io
import platform
import sys
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import torch

from mibound.inputs.files import atomic_write_json, atomic_write_text

__all__ = ["RunTable", "settings_for", "write_metadata", "save_figure", "optimal_infonce"]


class RunTable:
    """A tidy CSV that grows one finished run at a time and is rewritten atomically.

    An interrupted experiment leaves every finished run in the file; with ``resume=True`` the
    runs already present (by their ``key`` columns) are reported by :meth:`done` so they can be
    skipped. A kill in the middle of a rewrite can leave the writer's temporary file
    (``.NAME.*.tmp``) beside the table; opening the table removes it.
    """

    def __init__(self, path: Path, key: Iterable[str], resume: bool = False):
        self.path = Path(path)
        self.key = list(key)
        # a run killed (SIGKILL) in the middle of a rewrite leaves its writer's temporary file behind
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            stale.unlink(missing_ok=True)
        if resume and self.path.exists() and self.path.stat().st_size:
            self.frame = pd.read_csv(self.path)
        else:
            self.frame = pd.DataFrame()

    def done(self, **key: Any) -> bool:
        if self.frame.empty:
            return False
        mask = np.ones(len(self.frame), dtype=bool)
        for k, v in key.items():
            mask &= (self.frame[k].astype(str) == str(v)).to_numpy()
        return bool(mask.any())

    def append(self, rows: pd.DataFrame) -> None:
        self.frame = rows.copy() if self.frame.empty else pd.concat([self.frame, rows], ignore_index=True)
        buf = io.StringIO()
        self.frame.to_csv(buf, index=False)
        atomic_write_text(self.path, buf.getvalue())


def settings_for(name: str, quick: bool, overrides: dict[str, Any], quick_cfg: dict, full_cfg: dict) -> dict:
    """The experiment's settings: ``quick_cfg`` or ``full_cfg`` updated by ``overrides`` (unknown keys raise)."""
    unknown = set(overrides) - set(quick_cfg)
    if unknown:
        raise TypeError(f"unknown {name} setting(s) {sorted(unknown)}; valid: {sorted(quick_cfg)}")
    return {**(quick_cfg if quick else full_cfg), **overrides}


def write_metadata(out: Path, name: str, settings: dict[str, Any], started: float) -> None:
    import scipy
    import seaborn

    from mibound import __version__

    atomic_write_json(out / "metadata.json", {
        "experiment": name,
        "settings": settings,
        "duration_seconds": round(time.time() - started, 3),
        "torch_threads": torch.get_num_threads(),
        "versions": {"mibound": __version__, "python": sys.version.split()[0], "torch": torch.__version__,
                     "numpy": np.__version__, "scipy": scipy.__version__, "pandas": pd.__version__,
                     "seaborn": seaborn.__version__},
        "platform": platform.platform(),
        "units": "nats",
    })


def save_figure(fig, out: Path, stem: str) -> list[Path]:
    """Save a matplotlib figure as PNG and SVG (each atomically via a temporary name), then close it."""
    paths = []
    for ext in ("png", "svg"):
        final = out / f"{stem}.{ext}"
        tmp = out / f".{stem}.tmp.{ext}"
        fig.savefig(tmp, dpi=130, bbox_inches="tight")
        tmp.replace(final)
        paths.append(final)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths


def optimal_infonce(sampler, k: int, n_pairs: int, seed: int) -> np.ndarray:
    """InfoNCE with the analytic optimal critic on ``max(2, n_pairs // k)`` fresh batches of ``K = k``.

    ``sampler`` is a Gaussian sampler with ``covariance()`` (e.g. :class:`~mibound.data.CorrelatedGaussian`,
    or :class:`~mibound.data.EncodedViews` of linear encoders). Returns the per-batch values (nats).
    """
    from mibound.neural import engine
    from mibound.neural.critics import GaussianOptimalCritic
    from mibound.neural.objectives import Loss

    critic = GaussianOptimalCritic(sampler.covariance(), sampler.dim_x)
    gen = torch.Generator().manual_seed(seed)
    batches = (sampler.sample_torch(k, gen, dtype=torch.float64) for _ in range(max(2, n_pairs // k)))
    return engine.evaluate(engine.SingleRun(critic, Loss("infonce", sampler.dim_y)), batches)[0].numpy()
