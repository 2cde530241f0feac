"""A gallery of real view pairs that ship offline: what ``auto`` and the permutation test say.

There is no ground truth for real data. What the library can still say, per pair: ``auto``'s
estimate with its panel (every member's test estimate and interval: agreement or not, lower
bounds under estimates), its diagnostics (dropped constant columns, discrete pixels, ...), and a
permutation test of independence (:func:`mibound.permutation_test`: p-value, null mean and spread,
excess of the estimate over the null).

The pairs
---------
* ``digits-left-right`` / ``digits-top-bottom``: scikit-learn's 1797 handwritten digits (8x8 pixels,
  integers 0..16), the left 4 columns against the right 4 (32 + 32 pixels), the top 4 rows against
  the bottom 4.
* ``breast-cancer-mean-worst``: scikit-learn's breast-cancer data (569 tumours), the 10 "mean"
  features against the 10 "worst" (largest) ones of the same nuclei measurements.
* ``wine-phenolics-rest``: scikit-learn's wine data (178 wines). The 13 chemical measurements split
  by what they measure: phenolic compounds and colour (total phenols, flavanoids, non-flavanoid
  phenols, proanthocyanins, colour intensity, hue, OD280/OD315; the phenolics make the colour)
  against alcohol, acids, ash, minerals and the amino acid proline (alcohol, malic acid, ash,
  alcalinity of ash, magnesium, proline).
* ``photo-crops-near`` / ``photo-crops-far``: 3x3 grey-level (luma) patches of the scikit-image
  photographs astronaut, chelsea, coffee and rocket (:func:`photo_crops`, on
  :func:`mibound.images.views.crop_pairs`), each against the patch ``offsets[0]`` (adjacent) or
  ``offsets[1]`` pixels to its right; needs scikit-image (``pip install 'mibound[images]'``).

Outputs: ``real_pairs.csv`` (one row per pair: ``pair, n, dim_x, dim_y, dropped, estimate, ci_low,
ci_high, is_bound, chosen, panel, diagnostics, perm_estimator, perm_estimate, null_mean, null_std,
excess, p_value, n_permutations``), ``metadata.json`` and ``real_pairs.png`` / ``.svg``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mibound.experiments._common import RunTable, save_figure, settings_for, write_metadata
from mibound.inputs.checks import require

__all__ = ["run", "QUICK", "FULL", "PAIRS", "load_pair_named", "photo_crops"]

#: Every pair of the gallery, in the order of the table.
PAIRS = ("digits-left-right", "digits-top-bottom", "breast-cancer-mean-worst", "wine-phenolics-rest",
         "photo-crops-near", "photo-crops-far")

QUICK = dict(pairs=PAIRS, max_rows=1400, photo_rows=500, patch=3, offsets=(3, 24), neural=False, steps=300,
             n_permutations=19, permutation_estimator="gcmi")
FULL = dict(pairs=PAIRS, max_rows=None, photo_rows=3000, patch=3, offsets=(3, 24), neural=True, steps=2000,
            n_permutations=200, permutation_estimator="gcmi")

_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
_WINE_PHENOLICS = ("total_phenols", "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity",
                   "hue", "od280/od315_of_diluted_wines")


def photo_crops(n: int, patch: int, offset: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` pairs of ``patch x patch`` grey-level patches, the second ``offset`` pixels right of the first.

    :func:`mibound.images.views.crop_pairs` on the luma of the scikit-image photographs astronaut, chelsea,
    coffee and rocket (:func:`mibound.images.photographs.load_photographs`, values in ``[0, 1]``): each
    pair picks a photograph and a position uniformly (``seed``). Columns are named ``x[r,c]`` / ``y[r,c]``.
    """
    from mibound.images.photographs import load_photographs
    from mibound.images.views import crop_pairs

    a, b = crop_pairs(load_photographs(_PHOTOS, grey=True), patch, distance=offset, n_pairs=n, seed=seed)
    names = [f"{r},{c}" for r in range(patch) for c in range(patch)]
    return (pd.DataFrame(a.reshape(n, -1), columns=[f"x[{s}]" for s in names]),
            pd.DataFrame(b.reshape(n, -1), columns=[f"y[{s}]" for s in names]))


def load_pair_named(name: str, cfg: dict, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two views of gallery pair ``name`` (a key of :data:`PAIRS`) as named frames, raw values."""
    from sklearn import datasets

    if name.startswith("digits"):
        img = datasets.load_digits().images
        if name == "digits-left-right":
            a, b = img[:, :, :4], img[:, :, 4:]
            cols = [[f"px[{r},{c}]" for r in range(8) for c in range(lo, lo + 4)] for lo in (0, 4)]
        else:
            a, b = img[:, :4, :], img[:, 4:, :]
            cols = [[f"px[{r},{c}]" for r in range(lo, lo + 4) for c in range(8)] for lo in (0, 4)]
        x, y = pd.DataFrame(a.reshape(len(img), -1), columns=cols[0]), pd.DataFrame(b.reshape(len(img), -1),
                                                                                    columns=cols[1])
    elif name == "breast-cancer-mean-worst":
        frame = datasets.load_breast_cancer(as_frame=True).data
        x = frame[[c for c in frame.columns if c.startswith("mean ")]]
        y = frame[[c for c in frame.columns if c.startswith("worst ")]]
    elif name == "wine-phenolics-rest":
        frame = datasets.load_wine(as_frame=True).data
        x = frame[list(_WINE_PHENOLICS)]
        y = frame[[c for c in frame.columns if c not in _WINE_PHENOLICS]]
    elif name in ("photo-crops-near", "photo-crops-far"):
        offset = cfg["offsets"][0 if name.endswith("near") else 1]
        return photo_crops(cfg["photo_rows"], cfg["patch"], offset, seed)
    else:
        raise ValueError(f"unknown pair {name!r}; valid: {', '.join(PAIRS)}")
    if cfg.get("max_rows") and len(x) > cfg["max_rows"]:
        rows = np.sort(np.random.default_rng(seed).choice(len(x), cfg["max_rows"], replace=False))
        x, y = x.iloc[rows], y.iloc[rows]
    return x, y


def _panel_text(panel: dict) -> str:
    parts = []
    for k, v in panel.items():
        if v.get("estimate") is None:
            parts.append(f"{k} (left out)")
        else:
            parts.append(f"{k} {v['estimate']:.3f} [{v['ci'][0]:.3f}, {v['ci'][1]:.3f}]")
    return "; ".join(parts)


def _one(name: str, cfg: dict, seed: int, progress: bool) -> tuple[dict, dict]:
    """The table row of pair ``name`` and ``auto``'s panel (for the figure)."""
    from mibound.estimators.permutation import permutation_test
    from mibound.registry import make_estimator

    x, y = load_pair_named(name, cfg, seed)
    auto = make_estimator("auto", neural=cfg["neural"], steps=cfg["steps"], seed=seed, progress=progress)
    try:
        res = auto.fit(x, y).result_
    except RuntimeError as exc:  # no member's domain holds these rows (e.g. gcmi: fewer than 5 per dimension)
        res = None
        refusal = str(exc)  # with each member's reason
    test = permutation_test(x, y, estimator=cfg["permutation_estimator"], n_permutations=cfg["n_permutations"],
                            seed=seed, progress=progress)
    if res is None:
        return {"pair": name, "n": len(x), "dim_x": x.shape[1], "dim_y": y.shape[1], "dropped": 0,
                "estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan, "is_bound": False, "chosen": "refused",
                "panel": refusal, "diagnostics": "refused", "perm_estimator": test.estimator,
                "perm_estimate": test.estimate, "null_mean": test.null_mean, "null_std": test.null_std,
                "excess": test.excess, "p_value": test.p_value, "n_permutations": test.n_permutations,
                "seed": seed}, {}
    dropped = res.settings["dropped_columns"]
    return {"pair": name, "n": len(x), "dim_x": x.shape[1], "dim_y": y.shape[1],
            "dropped": len(dropped["x"]) + len(dropped["y"]), "estimate": res.estimate, "ci_low": res.ci[0],
            "ci_high": res.ci[1], "is_bound": res.is_bound, "chosen": res.settings["choice"]["estimator"],
            "panel": _panel_text(res.settings["panel"]), "diagnostics": ";".join(d["code"] for d in res.diagnostics),
            "perm_estimator": test.estimator, "perm_estimate": test.estimate, "null_mean": test.null_mean,
            "null_std": test.null_std, "excess": test.excess, "p_value": test.p_value,
            "n_permutations": test.n_permutations, "seed": seed}, res.settings["panel"]


def _plot(frame: pd.DataFrame, panels: dict[str, dict]):
    from mibound.experiments.plotting import _mpl

    plt, sns = _mpl()
    members = ["discrete", "gcmi", "ksg", "infonce"]
    colors = dict(zip(members, sns.color_palette("deep", len(members))))
    fig, ax = plt.subplots(figsize=(7.2, 0.55 * len(frame) + 1.4))
    for i, row in enumerate(frame.itertuples()):
        lo, hi = row.null_mean - 2 * row.null_std, row.null_mean + 2 * row.null_std
        ax.plot([lo, hi], [i, i], color="0.6", lw=6, alpha=0.5, solid_capstyle="butt",
                label="null (shuffled pairs), mean +- 2 sd" if i == 0 else None)
        for j, (k, v) in enumerate((panels.get(row.pair) or {}).items()):
            if v.get("estimate") is None or k not in colors:
                continue
            y = i + 0.12 * (j - 1.5)
            ruled_out = "note" in v  # in the panel, but not eligible (e.g. discrete on too many cells)
            ax.errorbar(v["estimate"], y, xerr=[[v["estimate"] - v["ci"][0]], [v["ci"][1] - v["estimate"]]],
                        fmt="o", ms=4, color=colors[k], capsize=2, lw=1, mfc="white" if ruled_out else colors[k],
                        label=f"{k} (not eligible)" if ruled_out else k)
        ax.plot(row.perm_estimate, i + 0.3, marker="D", ms=4, mfc="white", color="0.3", ls="none",
                label=f"{row.perm_estimator} on all rows (the test's statistic)")
        ax.plot(row.estimate, i, marker="*", ms=12, color="black", ls="none",
                label="auto's estimate" if i == 0 else None)
        ax.annotate(f"p = {row.p_value:.3g} ({row.n_permutations} shuffles)",
                    (np.nanmax([row.ci_high, row.estimate, row.perm_estimate]), i), xytext=(8, -3),
                    textcoords="offset points", fontsize=7)
    ax.set_yticks(range(len(frame)))
    ax.set_yticklabels(frame["pair"])
    ax.invert_yaxis()
    ax.set_xlabel("nats (test-row estimates, 95% intervals)")
    ax.set_title("Real view pairs: auto's panel, its choice (star) and the permutation null")
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    ax.legend(seen.values(), seen.keys(), fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.13),
              ncol=3)
    fig.tight_layout()
    return fig


def run(out="results/real_pairs", quick: bool = True, seed: int = 0, progress: bool = True, resume: bool = False,
        **overrides) -> pd.DataFrame:
    """Run ``auto`` and the permutation test on every pair; write the table, metadata and figure to ``out``."""
    import json

    cfg = settings_for("real-pairs", quick, overrides, QUICK, FULL)
    unknown = sorted(set(cfg["pairs"]) - set(PAIRS))
    if unknown:
        raise ValueError(f"unknown pair(s) {unknown}; valid: {', '.join(PAIRS)}")
    if any(p.startswith("photo-") for p in cfg["pairs"]):
        require("images", "the photo-crops pairs of real-pairs")  # before anything is written
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    table = RunTable(out / "real_pairs.csv", key=("pair",), resume=resume)
    panels_path = out / "real_pairs_panels.json"
    panels = json.loads(panels_path.read_text()) if resume and panels_path.exists() else {}
    from tqdm.auto import tqdm

    from mibound.inputs.files import atomic_write_json

    for name in tqdm(cfg["pairs"], desc="real-pairs", disable=not progress):
        if table.done(pair=name) and name in panels:
            continue
        row, panels[name] = _one(name, cfg, seed, progress=False)
        atomic_write_json(panels_path, panels)  # before the row: a resumed run finds the panel of every row
        table.append(pd.DataFrame([row]))
    frame = table.frame
    atomic_write_json(panels_path, panels)
    save_figure(_plot(frame, panels), out, "real_pairs")
    write_metadata(out, "real-pairs", {**cfg, "seed": seed, "quick": quick}, started)
    return frame
