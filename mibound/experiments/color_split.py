"""I between the channel groups of each colour space on patches of real photographs.

The InfoMin colour-split views (Tian et al. 2020, §3.1: L vs ab) on scikit-image's photographs:
``n_patches`` random ``crop_size x crop_size`` RGB patches (:func:`mibound.images.views.crop_pairs` at
distance 0, each from a photograph drawn uniformly), dequantised once
(``(k + u) / 256`` for the 8-bit value ``k`` and ``u ~ U[0, 1)``: continuous values inside
``(0, 1)``), converted by :func:`mibound.images.colorspaces.color_split` into two channel groups, e.g.
``L | ab``, ``Y | CbCr``, ``R | GB``, ``H | SV``. Every split sees the same patches.

MI is invariant to invertible maps of *each* view, not of the whole patch, so the splits differ:
how much luminance tells about chrominance is the InfoMin question. ``Y | UV`` is a per-group
linear map of ``Y | CbCr`` and must give the same MI (the Gaussian estimate agrees to rounding:
a built-in check).

Estimators (:func:`mibound.estimate_mi`, views flattened): ``gaussian`` and ``gcmi``
(*estimates*: the Gaussian part of the dependence of the pixels / of their copula) and
``infonce`` (a *lower bound*, trained on one split and read out on held-out patches, never above
its ceiling ``log K``). The diagnostics the library attaches (e.g. ``saturated``) are kept in a
column and marked in the figure.

Outputs: ``color_split.csv`` (one row per ``(split, estimator)``: ``split, space, view1, view2,
dim_x, dim_y, estimator, kind, estimate, ci_low, ci_high, is_bound, ceiling, gap_to_ceiling,
n_train, n_test, batch_size, diagnostics, seconds, n_patches, crop_size, seed``),
``metadata.json``, ``color_split.png`` / ``.svg``.

References
----------
Tian, Sun, Poole, Krishnan, Schmid & Isola (2020), "What Makes for Good Views for Contrastive
Learning?", NeurIPS. Ince et al. (2017), "A statistical framework for neuroimaging data analysis
based on mutual information estimated via a Gaussian copula", Human Brain Mapping (gcmi).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from mibound.experiments._common import RunTable, save_figure, settings_for, write_metadata
from mibound.experiments._photos import ESTIMATOR_KIND, estimate_views, result_row
from mibound.images.colorspaces import COLOR_SPACES, color_split
from mibound.images.photographs import PHOTOGRAPHS, load_photographs
from mibound.images.views import crop_pairs
from mibound.inputs.checks import require
from mibound.neural.engine import torch_threads as _torch_threads

__all__ = ["run", "QUICK", "FULL", "SPLITS", "split_label", "make_patches"]

#: ``(space, view-1 channels, view-2 channels)``.
SPLITS = (("rgb", ("R",), ("G", "B")), ("rgb", ("G",), ("R", "B")), ("rgb", ("B",), ("R", "G")),
          ("lab", ("L",), ("a", "b")), ("ycbcr", ("Y",), ("Cb", "Cr")), ("yuv", ("Y",), ("U", "V")),
          ("xyz", ("Y",), ("X", "Z")), ("hsv", ("H",), ("S", "V")), ("hsv", ("V",), ("H", "S")),
          ("hsv", ("S",), ("H", "V")))

QUICK = dict(photographs=PHOTOGRAPHS, splits=(SPLITS[0], SPLITS[3], SPLITS[4], SPLITS[5], SPLITS[7]), crop_size=4,
             n_patches=1500, estimators=("gaussian", "gcmi", "infonce"), batch_size=64, steps=150,
             learning_rate=1e-3, num_threads=1)
FULL = dict(photographs=PHOTOGRAPHS, splits=SPLITS, crop_size=8, n_patches=6000,
            estimators=("gaussian", "gcmi", "infonce"), batch_size=128, steps=1000, learning_rate=1e-3,
            num_threads=1)


def split_label(space: str, view1, view2) -> str:
    """E.g. ``"lab: L | ab"``."""
    return f"{space}: {''.join(view1)} | {''.join(view2)}"


def make_patches(photos: list[np.ndarray], crop_size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` dequantised RGB patches ``(n, 3, crop, crop)`` in ``(0, 1)`` from 8-bit photographs in ``[0, 1]``."""
    patches, _ = crop_pairs(photos, crop_size, distance=0, n_pairs=n, seed=rng)
    return (np.rint(patches * 255.0) + rng.random(patches.shape)) / 256.0


def _check(cfg: dict) -> list[tuple]:
    splits = []
    for item in cfg["splits"]:
        try:
            space, g1, g2 = item
        except (TypeError, ValueError):
            raise ValueError(f"each split must be (space, view-1 channels, view-2 channels), got {item!r}") from None
        g1, g2 = (tuple(g) if not isinstance(g, str) else (g,) for g in (g1, g2))
        color_split(np.full((1, 3, 1, 1), 0.5), space, (g1, g2))  # validates the names
        splits.append((space.strip().lower(), g1, g2))
    if not splits:
        raise ValueError("splits must list at least one colour split")
    unknown = set(cfg["estimators"]) - set(ESTIMATOR_KIND)
    if unknown:
        raise ValueError(f"estimators must be among {sorted(ESTIMATOR_KIND)}, got {sorted(unknown)}")
    return splits


def run(out="results/color-split", quick: bool = True, seed: int = 0, progress: bool = True, resume: bool = False,
        **overrides) -> pd.DataFrame:
    """Run the colour-split experiment; write the CSV, metadata and figure; return the tidy table."""
    cfg = settings_for("color-split", quick, overrides, QUICK, FULL)
    splits = _check(cfg)
    require("images", "the color-split experiment")  # before anything is written
    from threadpoolctl import threadpool_limits

    with _torch_threads(cfg["num_threads"]), threadpool_limits(limits=cfg["num_threads"]):
        return _run(Path(out), quick, seed, progress, resume, cfg, splits)


def _run(out: Path, quick: bool, seed: int, progress: bool, resume: bool, cfg: dict, splits: list) -> pd.DataFrame:
    from tqdm.auto import tqdm

    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    photos = load_photographs(list(cfg["photographs"]))
    crop, n = int(cfg["crop_size"]), int(cfg["n_patches"])
    patches = make_patches(photos, crop, n, np.random.default_rng([seed, 2]))
    table = RunTable(out / "color_split.csv", key=("split", "estimator"), resume=resume)
    jobs = [(sp, est) for sp in splits for est in cfg["estimators"]]
    for (space, g1, g2), est in tqdm(jobs, desc="color-split", disable=not progress):
        label = split_label(space, g1, g2)
        if table.done(split=label, estimator=est):
            continue
        x, y = color_split(patches, space, (g1, g2))
        res = estimate_views(x, y, est, cfg, seed=seed)  # one seed: every split gets the same split and critic init
        table.append(pd.DataFrame([{"split": label, "space": space, "view1": "".join(g1), "view2": "".join(g2),
                                    "dim_x": x[0].size, "dim_y": y[0].size, "estimator": est,
                                    "kind": ESTIMATOR_KIND[est], **result_row(res), "n_patches": n,
                                    "crop_size": crop, "seed": seed}]))
    labels = [split_label(*s) for s in splits]
    f = table.frame  # this configuration's rows only (a resumed folder may hold others)
    frame = f[f["split"].isin(labels) & f["estimator"].isin(list(cfg["estimators"]))].reset_index(drop=True)
    save_figure(_plot(frame, labels), out, "color_split")
    write_metadata(out, "color-split", {**cfg, "splits": [[s[0], list(s[1]), list(s[2])] for s in splits],
                                        "seed": seed, "quick": quick,
                                        "spaces": sorted(COLOR_SPACES)}, started)
    return frame


def _plot(frame: pd.DataFrame, labels: list[str]):
    from mibound.experiments.plotting import _mpl

    plt, sns = _mpl()
    ests = list(dict.fromkeys(frame["estimator"]))
    colours = dict(zip(ESTIMATOR_KIND, sns.color_palette("deep", len(ESTIMATOR_KIND))))
    fig, ax = plt.subplots(figsize=(max(7.0, 0.95 * len(labels) + 3), 4.8))
    width = 0.8 / max(1, len(ests))
    pos = {lab: i for i, lab in enumerate(labels)}
    for j, est in enumerate(ests):
        g = frame[frame["estimator"] == est]
        xs = np.array([pos[s] for s in g["split"]]) + (j - (len(ests) - 1) / 2) * width
        ax.bar(xs, g["estimate"], width=width * 0.95, color=colours[est], label=f"{est}: {ESTIMATOR_KIND[est]}",
               yerr=[g["estimate"] - g["ci_low"], g["ci_high"] - g["estimate"]], capsize=2,
               error_kw={"lw": 0.8})
        for x, (_, row) in zip(xs, g.iterrows()):
            if isinstance(row["diagnostics"], str) and row["diagnostics"]:
                ax.text(x, row["ci_high"] * 1.1 + 0.05, row["diagnostics"].replace(";", "\n"), rotation=90,
                        fontsize=6, ha="center", va="bottom", color="tab:red")
    ceil = frame["ceiling"].dropna()
    if len(ceil):
        ax.axhline(ceil.iloc[0], color="tab:red", ls=":", lw=1, label=f"InfoNCE ceiling log K = {ceil.iloc[0]:.2f}")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30, ha="right")
    crop = int(frame["crop_size"].iloc[0])
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(0, max(10.0, float(frame["ci_high"].max()) * 4))
    ax.set_ylabel("I(view 1; view 2) (nats, symlog)")
    ax.set_title(f"colour splits of {crop}x{crop} photograph patches (n = {int(frame['n_patches'].iloc[0])}); "
                 "red: diagnostics")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, frameon=False)
    fig.tight_layout()
    return fig
