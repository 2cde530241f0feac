"""Song & Ermon (2020) self-consistency tests on scikit-learn's bundled digits (8x8 images).

``X`` is an image and ``Y_t`` the same image with only its top ``t`` rows visible (the rest zeroed).
The true MI is unknown, but three laws must hold:

1. **baseline** -- ``I(X; Y_t)`` grows with ``t`` and is zero at ``t = 0`` (independence);
2. **data processing** -- ``I([X, X]; [Y_t, Y_{t-3}]) / I(X; Y_t) = 1`` (``Y_{t-3}`` is a function of ``Y_t``);
3. **additivity** -- ``I([X1, X2]; [Y1_t, Y2_t]) / I(X; Y_t) = 2`` for two independent images.

Each estimator is trained on a training split of the digits and read out on held-out pairs.

Outputs: ``self_consistency.csv`` (one row per test, estimator and ``t``: ``test, estimator, t,
estimate, reference, ratio, seed``), ``self_consistency_summary.csv`` (which estimator passes which
test, with the criteria stated), ``metadata.json`` and ``self_consistency.png``/``.svg``.

Reference: Song & Ermon (2020), "Understanding the Limitations of Variational Mutual Information
Estimators", ICLR, sec. 6.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from mibound.estimators.neural import NeuralEstimator
from mibound.experiments._common import RunTable, save_figure, settings_for, write_metadata
from mibound.inputs.files import atomic_write_text

__all__ = ["run", "QUICK", "FULL", "load_digits_images", "summarize"]

QUICK = dict(estimators=("infonce", "nwj", "smile"), ts=(0, 2, 4, 6, 8), steps=600, batch_size=64,
             learning_rate=1e-3, hidden_dim=128)
FULL = dict(estimators=("infonce", "nwj", "js", "mine", "smile"), ts=(0, 1, 2, 3, 4, 5, 6, 7, 8), steps=4000,
            batch_size=64, learning_rate=5e-4, hidden_dim=256)

#: pass criteria (stated in the summary): baseline monotone within this many nats, |I(t=0)| below it;
#: ratios within these relative tolerances of their ideal values
MONOTONE_TOL = 0.15
RATIO_TOL = 0.15


def load_digits_images() -> np.ndarray:
    """scikit-learn's bundled digits as float32 images in ``[0, 1]``, shape ``(1797, 8, 8)``."""
    from sklearn.datasets import load_digits

    return (load_digits().images / 16.0).astype(np.float32)


def _mask(images: np.ndarray, t: int) -> np.ndarray:
    out = np.zeros_like(images)
    out[:, :t] = images[:, :t]
    return out.reshape(len(images), -1)


def _views(test: str, images: np.ndarray, t: int, rng: np.random.Generator):
    n = len(images)
    flat = images.reshape(n, -1)
    if test == "baseline":
        return flat, _mask(images, t)
    if test == "data_processing":
        return np.c_[flat, flat], np.c_[_mask(images, t), _mask(images, max(t - 3, 0))]
    if test == "additivity":
        other = images[rng.permutation(n)]  # an independent second image for every pair
        return np.c_[flat, other.reshape(n, -1)], np.c_[_mask(images, t), _mask(other, t)]
    raise ValueError(f"unknown test {test!r}")


def _estimate(x: np.ndarray, y: np.ndarray, estimator: str, cfg: dict, seed: int) -> float:
    """Train on 80% of the pairs, report on the held-out 20%: a :class:`NeuralEstimator` fit whose data
    skip the input check (``Y_0`` is constant, and constant columns are exactly the point there)."""
    est = NeuralEstimator(estimator, batch_size=cfg["batch_size"], steps=cfg["steps"],
                          learning_rate=cfg["learning_rate"], critic_options={"hidden_dim": cfg["hidden_dim"]},
                          seed=seed, progress=False, lr_schedule="constant")
    return est.fit_arrays(x.astype(np.float32), y.astype(np.float32), None, "memory").result_.estimate


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Which estimator passes which test, and by how much."""
    rows = []
    for est, g in frame.groupby("estimator", sort=False):
        base = g[g["test"] == "baseline"].sort_values("t")
        drops = np.diff(base["estimate"].to_numpy())
        at0 = base[base["t"] == 0]["estimate"]
        rows.append({"estimator": est, "test": "baseline", "statistic": "max drop; |I(t=0)|",
                     "value": f"{max(0.0, -drops.min()) if drops.size else 0.0:.3f}; "
                              f"{abs(float(at0.iloc[0])) if len(at0) else float('nan'):.3f}",
                     "passes": bool((drops >= -MONOTONE_TOL).all() and (len(at0) == 0 or abs(at0.iloc[0]) < MONOTONE_TOL))})
        for test, ideal in (("data_processing", 1.0), ("additivity", 2.0)):
            r = g[(g["test"] == test) & (g["t"] > 0)]["ratio"].dropna()
            rows.append({"estimator": est, "test": test, "statistic": f"mean ratio (ideal {ideal:g})",
                         "value": f"{r.mean():.3f}" if len(r) else "n/a",
                         "passes": bool(len(r) and abs(r.mean() - ideal) <= RATIO_TOL * ideal)})
    return pd.DataFrame(rows)


def _plot(frame: pd.DataFrame):
    from mibound.experiments.plotting import _mpl

    plt, sns = _mpl()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    base = frame[frame["test"] == "baseline"]
    sns.lineplot(base, x="t", y="estimate", hue="estimator", marker="o", ax=axes[0])
    k = int(frame["batch_size"].iloc[0]) if "batch_size" in frame else 64
    axes[0].axhline(np.log(k), color="grey", ls="--", lw=1, label=f"log K (K={k})")
    axes[0].legend(fontsize=7)
    axes[0].set(title="baseline: I(X; Y_t) grows with t", xlabel="rows visible t", ylabel="estimate (nats)")
    for ax, (test, ideal) in zip(axes[1:], (("data_processing", 1.0), ("additivity", 2.0))):
        sub = frame[(frame["test"] == test) & (frame["t"] > 0)]
        sns.lineplot(sub, x="t", y="ratio", hue="estimator", marker="o", ax=ax, legend=False)
        ax.axhline(ideal, color="black", ls="--", lw=1)
        ax.set(title=f"{test.replace('_', ' ')}: ideal ratio {ideal:g}", xlabel="rows visible t", ylabel="ratio")
    fig.tight_layout()
    return fig


def run(out="results/self_consistency", quick: bool = True, seed: int = 0, progress: bool = True,
        resume: bool = False, **overrides) -> pd.DataFrame:
    """Run the three tests; write CSVs, metadata and the figure to ``out``; return the tidy table."""
    cfg = settings_for("self-consistency", quick, overrides, QUICK, FULL)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    images = load_digits_images()
    table = RunTable(out / "self_consistency.csv", key=("test", "estimator", "t"), resume=resume)
    from tqdm.auto import tqdm

    jobs = [(test, est, t) for est in cfg["estimators"] for test in ("baseline", "data_processing", "additivity")
            for t in cfg["ts"] if not (test != "baseline" and t == 0)]
    for j, (test, est, t) in enumerate(tqdm(jobs, desc="self-consistency", disable=not progress)):
        if table.done(test=test, estimator=est, t=t):
            continue
        x, y = _views(test, images, t, np.random.default_rng(seed + j))
        value = _estimate(x, y, est, cfg, seed + j)
        table.append(pd.DataFrame([{"test": test, "estimator": est, "t": t, "estimate": value,
                                    "reference": np.nan, "ratio": np.nan, "batch_size": cfg["batch_size"],
                                    "seed": seed}]))
    frame = table.frame.copy()
    base = frame[frame["test"] == "baseline"].set_index(["estimator", "t"])["estimate"]
    ref = [base.get((e, t), np.nan) if test != "baseline" else np.nan
           for test, e, t in zip(frame["test"], frame["estimator"], frame["t"])]
    frame["reference"] = ref
    frame["ratio"] = frame["estimate"] / frame["reference"]
    atomic_write_text(out / "self_consistency.csv", frame.to_csv(index=False))
    atomic_write_text(out / "self_consistency_summary.csv", summarize(frame).to_csv(index=False))
    fig = _plot(frame)
    save_figure(fig, out, "self_consistency")
    write_metadata(out, "self-consistency", {**cfg, "seed": seed, "quick": quick}, started)
    return frame
