"""I(crop1; crop2) against the distance between two crops of real photographs, beside a matched GRF.

The InfoMin patch-distance axis (Tian et al. 2020, §3.2) measured on scikit-image's photographs
(:data:`mibound.images.photographs.PHOTOGRAPHS`, grey luma, each standardised to mean 0 and
variance 1):

1. **Spectrum.** The radially averaged power spectrum of each photograph (Hann window) is fitted
   by a power law ``S(f) ~ f^-alpha`` on the band ``spectrum_band`` (cycles per pixel) by least
   squares in log-log; ``alpha`` of the pooled (geometric-mean) spectrum defines the model.
   Natural images give ``alpha`` near 2 (Field 1987; van der Schaaf & van Hateren 1996).
2. **Matched Gaussian random field.** :class:`~mibound.data.images.GaussianRandomFieldCrops` with
   ``spectrum="powerlaw"``, that ``alpha``, ``f0 = 1 / torus_size`` (the torus' fundamental: no
   extra low-frequency cut-off) and per-view pixel noise equal in variance to the photographs'
   dequantisation noise (``1 / (255 sqrt(12))`` over each photograph's standard deviation,
   averaged). Its exact ``I(crop1; crop2)`` at each horizontal offset is the ``exact`` curve.
3. **Estimates at the same n.** For each distance, ``n_pairs`` crop pairs of the photographs
   (:func:`mibound.images.views.crop_pairs`, horizontal offset, each pair from a photograph drawn
   uniformly, dequantised per view by :func:`~mibound.experiments._photos.dequantise`) and
   ``n_pairs`` pairs of the GRF go through the same estimators of :func:`mibound.estimate_mi`:
   ``gaussian`` (an *estimate*; consistent for the GRF, only the Gaussian part of the dependence
   for photographs) and ``infonce`` (a *lower bound*, trained on one split, read out on held-out
   pairs, never above ``log K``). The GRF rows show each estimator's own error at this ``n``.

What the photographs' pairs share that a stationary field cannot: the identity of the
photograph (both crops come from the same one: up to ``log 7`` nats at any distance), its
non-stationary content (edges, objects) and non-Gaussian marginals.

Outputs: ``patch_distance.csv`` (one row per ``(source, distance, estimator)``: ``source``
(``photographs`` / ``grf``), ``distance``, ``estimator`` (``exact`` for the GRF curve),
``kind``, ``estimate, ci_low, ci_high, is_bound, ceiling, gap_to_ceiling, exact_mi, n_pairs,
n_train, n_test, batch_size, diagnostics, seconds, crop_size, alpha, seed``),
``patch_distance_spectrum.csv`` (per photograph and pooled: ``alpha, intercept`` and the binned
spectrum), ``metadata.json`` (settings, the fitted ``alpha``, the GRF noise),
``patch_distance.png`` / ``.svg``.

References
----------
Tian, Sun, Poole, Krishnan, Schmid & Isola (2020), "What Makes for Good Views for Contrastive
Learning?", NeurIPS. Field (1987), "Relations between the statistics of natural images and the
response properties of cortical cells", JOSA A. van der Schaaf & van Hateren (1996), "Modelling
the power spectra of natural images", Vision Research.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mibound.data.images import GaussianRandomFieldCrops
from mibound.experiments._common import RunTable, save_figure, settings_for, write_metadata
from mibound.experiments._photos import ESTIMATOR_KIND, dequantise, estimate_views, result_row
from mibound.images.photographs import PHOTOGRAPHS, load_photographs
from mibound.images.views import crop_pairs
from mibound.inputs.checks import require
from mibound.inputs.files import atomic_write_text
from mibound.neural.engine import torch_threads as _torch_threads

__all__ = ["run", "QUICK", "FULL", "radial_power_spectrum", "fit_power_law", "photograph_spectra"]

QUICK = dict(photographs=PHOTOGRAPHS, crop_size=6, distances=(2, 8, 20), n_pairs=1500,
             estimators=("gaussian", "infonce"), batch_size=64, steps=200, learning_rate=1e-3,
             spectrum_band=(1 / 64, 1 / 4), spectrum_bins=16, num_threads=1)
FULL = dict(photographs=PHOTOGRAPHS, crop_size=8, distances=(1, 2, 4, 8, 12, 16, 24, 32, 48, 64), n_pairs=6000,
            estimators=("gaussian", "infonce"), batch_size=128, steps=1000, learning_rate=1e-3,
            spectrum_band=(1 / 64, 1 / 4), spectrum_bins=16, num_threads=1)


# ---------------------------------------------------------------------------------------------
# the power spectrum
# ---------------------------------------------------------------------------------------------
def radial_power_spectrum(image: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Radially averaged power spectrum of one grey image, in frequency bins.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Standardised here (mean 0, variance 1), then multiplied by a 2-D Hann window normalised
        to mean square 1 (no leakage from the borders).
    edges : ndarray, shape (b + 1,)
        Bin edges in cycles per pixel (``|f| = sqrt(fy^2 + fx^2)``).

    Returns
    -------
    ndarray, shape (b,)
        Mean of ``|fft2|^2 / (H W)`` over the frequencies of each bin (NaN for an empty bin);
        with this normalisation the mean over all frequencies is the variance (1).
    """
    g = np.asarray(image, dtype=np.float64)
    if g.ndim != 2:
        raise ValueError(f"image must be 2-D (H, W), got shape {g.shape}")
    g = (g - g.mean()) / g.std()
    h, w = g.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    win /= np.sqrt((win**2).mean())
    power = np.abs(np.fft.fft2(g * win)) ** 2 / (h * w)
    f = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]).ravel()
    idx = np.digitize(f, edges) - 1
    ok = (idx >= 0) & (idx < len(edges) - 1)
    total = np.bincount(idx[ok], weights=power.ravel()[ok], minlength=len(edges) - 1)
    count = np.bincount(idx[ok], minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def fit_power_law(freqs: np.ndarray, power: np.ndarray) -> tuple[float, float]:
    """Least-squares fit of ``log S = intercept - alpha log f``; returns ``(alpha, intercept)``."""
    freqs, power = np.asarray(freqs, float), np.asarray(power, float)
    ok = np.isfinite(power) & (power > 0) & (freqs > 0)
    if ok.sum() < 2:
        raise ValueError("need at least two positive spectrum values to fit a power law")
    slope, intercept = np.polyfit(np.log(freqs[ok]), np.log(power[ok]), 1)
    return float(-slope), float(intercept)


def photograph_spectra(greys: list[np.ndarray], names, band: tuple[float, float], bins: int) -> pd.DataFrame:
    """Per photograph and pooled (geometric mean): binned spectrum and power-law fit on ``band``.

    Returns a tidy frame ``photograph, frequency, power, alpha, intercept`` (one row per bin).
    """
    lo, hi = band
    if not 0 < lo < hi <= 0.5:
        raise ValueError(f"spectrum_band must satisfy 0 < low < high <= 0.5 cycles/pixel, got {band!r}")
    edges = np.geomspace(lo, hi, int(bins) + 1)
    centres = np.sqrt(edges[1:] * edges[:-1])
    rows, logs = [], []
    for name, g in zip(names, greys):
        s = radial_power_spectrum(g, edges)
        logs.append(np.log(s))
        alpha, icpt = fit_power_law(centres, s)
        rows.append(pd.DataFrame({"photograph": name, "frequency": centres, "power": s, "alpha": alpha,
                                  "intercept": icpt}))
    pooled = np.exp(np.nanmean(logs, axis=0))
    alpha, icpt = fit_power_law(centres, pooled)
    rows.append(pd.DataFrame({"photograph": "pooled", "frequency": centres, "power": pooled, "alpha": alpha,
                              "intercept": icpt}))
    return pd.concat(rows, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# the experiment
# ---------------------------------------------------------------------------------------------
def _grf(cfg: dict, alpha: float, noise: float, distance: int) -> GaussianRandomFieldCrops:
    size = cfg["crop_size"] + max(int(d) for d in cfg["distances"])
    return GaussianRandomFieldCrops(image_size=size, crop_size=cfg["crop_size"], offset=(0, int(distance)),
                                    spectrum="powerlaw", alpha=alpha, f0=1.0 / (2 * size), noise=noise)


def _check(cfg: dict) -> None:
    ds = [int(d) if isinstance(d, (int, np.integer)) and not isinstance(d, bool) else None for d in cfg["distances"]]
    if not ds or any(d is None or d < 0 for d in ds):
        raise ValueError(f"distances must be non-negative integers (pixels), got {cfg['distances']!r}")
    unknown = set(cfg["estimators"]) - set(ESTIMATOR_KIND)
    if unknown:
        raise ValueError(f"estimators must be among {sorted(ESTIMATOR_KIND)}, got {sorted(unknown)}")


def run(out="results/patch-distance", quick: bool = True, seed: int = 0, progress: bool = True,
        resume: bool = False, **overrides) -> pd.DataFrame:
    """Run the patch-distance experiment; write the CSVs, metadata and figure; return the tidy table."""
    cfg = settings_for("patch-distance", quick, overrides, QUICK, FULL)
    _check(cfg)
    require("images", "the patch-distance experiment")  # before anything is written
    from threadpoolctl import threadpool_limits

    with _torch_threads(cfg["num_threads"]), threadpool_limits(limits=cfg["num_threads"]):
        return _run(Path(out), quick, seed, progress, resume, cfg)


def _run(out: Path, quick: bool, seed: int, progress: bool, resume: bool, cfg: dict) -> pd.DataFrame:
    from tqdm.auto import tqdm

    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    names = list(cfg["photographs"])
    greys = [g[0] for g in load_photographs(names, grey=True)]
    spectra = photograph_spectra(greys, names, tuple(cfg["spectrum_band"]), cfg["spectrum_bins"])
    atomic_write_text(out / "patch_distance_spectrum.csv", spectra.to_csv(index=False))
    alpha = float(spectra.loc[spectra["photograph"] == "pooled", "alpha"].iloc[0])
    stds = np.array([g.std() for g in greys])
    standardised = [(g - g.mean()) / s for g, s in zip(greys, stds)]
    deq_scale = 1.0 / (255.0 * stds)  # one 8-bit step in each photograph's standardised units
    grf_noise = float(np.mean(deq_scale) / math.sqrt(12.0))  # the same noise variance, averaged
    crop = int(cfg["crop_size"])
    distances = [int(d) for d in cfg["distances"]]

    table = RunTable(out / "patch_distance.csv", key=("source", "distance", "estimator"), resume=resume)
    common = {"n_pairs": int(cfg["n_pairs"]), "crop_size": crop, "alpha": alpha, "seed": seed}
    exact_ds = sorted(set(range(1, max(distances) + 1)) | set(distances))
    todo = [d for d in exact_ds if not table.done(source="grf", distance=d, estimator="exact")]
    if todo:
        rows = []
        for d in todo:
            mi = _grf(cfg, alpha, grf_noise, d).mutual_information()
            rows.append({"source": "grf", "distance": d, "estimator": "exact", "kind": "exact MI of the GRF",
                         "estimate": mi, "ci_low": mi, "ci_high": mi, "is_bound": False, "exact_mi": mi, **common})
        table.append(pd.DataFrame(rows))

    jobs = [(src, d, est) for d in distances for src in ("photographs", "grf") for est in cfg["estimators"]]
    views: dict = {}
    for src, d, est in tqdm(jobs, desc="patch-distance", disable=not progress):
        if table.done(source=src, distance=d, estimator=est):
            continue
        key = (src, d)
        if key not in views:
            views.clear()
            views[key] = _views(src, d, cfg, standardised, deq_scale, alpha, grf_noise, seed)
        x, y, exact = views[key]
        res = estimate_views(x, y, est, cfg, seed=seed + 7919 * d)
        table.append(pd.DataFrame([{"source": src, "distance": d, "estimator": est, "kind": ESTIMATOR_KIND[est],
                                    **result_row(res), "exact_mi": exact, **common}]))

    f = table.frame  # this configuration's rows only (a resumed folder may hold others)
    mine = ((f["estimator"] == "exact") & f["distance"].isin(exact_ds)) | (
        f["estimator"].isin(list(cfg["estimators"])) & f["distance"].isin(distances))
    frame = f[mine].sort_values(["source", "estimator", "distance"]).reset_index(drop=True)
    save_figure(_plot(frame, spectra, cfg), out, "patch_distance")
    pooled = spectra[spectra["photograph"] != "pooled"].groupby("photograph")["alpha"].first()
    write_metadata(out, "patch-distance", {**cfg, "seed": seed, "quick": quick, "alpha_pooled": alpha,
                                           "alpha_per_photograph": {k: float(v) for k, v in pooled.items()},
                                           "grf_noise": grf_noise, "grf_f0": 1.0 / (2 * (crop + max(distances)))},
                   started)
    return frame


def _views(src: str, d: int, cfg: dict, standardised, deq_scale, alpha: float, grf_noise: float, seed: int):
    """``(x, y, exact_mi)`` for one source and distance: fresh pairs, seeded by the distance."""
    n, crop = int(cfg["n_pairs"]), int(cfg["crop_size"])
    if src == "photographs":
        rng = np.random.default_rng([seed, d, 1])
        x, y, pos = crop_pairs(standardised, crop, distance=d, n_pairs=n, seed=rng, return_positions=True)
        scale = deq_scale[pos[:, 0]][:, None, None]
        return dequantise(x, scale, rng), dequantise(y, scale, rng), math.nan
    sampler = _grf(cfg, alpha, grf_noise, d)
    x, y = sampler.sample(n, seed=seed + 104729 + d, dtype=np.float64)
    return x, y, sampler.mutual_information()


def _plot(frame: pd.DataFrame, spectra: pd.DataFrame, cfg: dict):
    from mibound.experiments.plotting import _mpl

    plt, sns = _mpl()
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1.5, 1]})
    ax = axes[0]
    alpha = float(frame["alpha"].iloc[0])
    exact = frame[frame["estimator"] == "exact"].sort_values("distance")
    ax.plot(exact["distance"], exact["estimate"], color="black", lw=1.6,
            label=f"GRF exact I (power law alpha = {alpha:.2f}, fitted to the photographs)")
    colours = dict(zip(ESTIMATOR_KIND, sns.color_palette("deep", len(ESTIMATOR_KIND))))
    for (src, est), g in frame[frame["estimator"] != "exact"].groupby(["source", "estimator"]):
        g = g.sort_values("distance")
        photo = src == "photographs"
        ax.errorbar(g["distance"], g["estimate"], yerr=[g["estimate"] - g["ci_low"], g["ci_high"] - g["estimate"]],
                    fmt="o-" if photo else "s--", ms=5 if photo else 4, lw=1.4 if photo else 1.0, capsize=2,
                    color=colours[est], alpha=1.0 if photo else 0.7, mfc=colours[est] if photo else "white",
                    label=f"{'photographs' if photo else 'GRF'}: {est} — {ESTIMATOR_KIND[est]}")
    ceil = frame["ceiling"].dropna()
    if len(ceil):
        ax.axhline(ceil.iloc[0], color="tab:red", ls=":", lw=1, label=f"InfoNCE ceiling log K = {ceil.iloc[0]:.2f}")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xscale("log")
    ax.set_ylim(bottom=-0.3)
    crop = int(frame["crop_size"].iloc[0])
    ax.axvline(crop, color="0.6", lw=0.8, ls="--", label=f"distance = crop size ({crop}): crops stop overlapping")
    ax.set_xlabel(f"horizontal distance between two {crop}x{crop} crops (pixels, log)")
    ax.set_ylabel("I(crop1; crop2) (nats, symlog)")
    ax.set_title(f"patch distance: photographs vs a matched GRF (n = {int(frame['n_pairs'].iloc[0])} pairs)")
    ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)

    ax = axes[1]
    pal = sns.color_palette("husl", spectra["photograph"].nunique())
    for (name, g), c in zip(spectra.groupby("photograph", sort=False), pal):
        pooled = name == "pooled"
        ax.loglog(g["frequency"], g["power"], "o-" if pooled else "-", color="black" if pooled else c,
                  lw=2 if pooled else 1, ms=3, label=f"{name}: alpha = {g['alpha'].iloc[0]:.2f}")
    pooled = spectra[spectra["photograph"] == "pooled"]
    f = pooled["frequency"].to_numpy()
    ax.loglog(f, np.exp(pooled["intercept"].iloc[0]) * f ** (-pooled["alpha"].iloc[0]), color="tab:red", lw=1,
              ls="--", label="fitted power law (pooled)")
    ref = float(pooled["power"].iloc[len(f) // 2]) * (f / f[len(f) // 2]) ** -2.0
    ax.loglog(f, ref, color="0.5", lw=1, ls=":", label="1/f^2 reference")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())  # the minor labels of a short log axis overlap
    ax.set_xlabel("spatial frequency |f| (cycles / pixel)")
    ax.set_ylabel("radially averaged power (standardised grey)")
    ax.set_title("power spectra of the photographs")
    ax.legend(fontsize=6.5)
    fig.tight_layout()
    return fig
