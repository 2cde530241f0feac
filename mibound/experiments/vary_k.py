"""InfoNCE against the batch size ``K``: where the bound saturates at ``log K`` and why.

For several true MIs of the ``d = 20`` correlated Gaussian, InfoNCE is read with the analytic
optimal critic (no training: the bound's own looseness at this ``K``) and with a trained separable
critic (adds optimisation and sample error; the true MIs of one ``K`` train together as one
ensemble, :func:`mibound.estimators.neural.fit_samplers`), for ``K = 2, 4, ..., 1024``. Once ``I > log K`` even
the optimal critic is pinned under ``log K`` (McAllester & Stratos 2020), so the ``K`` needed for a
tight bound grows like ``e^I``.

Outputs: ``vary_k.csv`` (one row per true MI, ``K`` and critic: ``true_mi, K, critic, estimate,
ci_low, ci_high, ceiling, seed``), ``vary_k_summary.csv`` (per true MI, the smallest ``K`` at which
the optimal-critic bound is within 10% of the truth), ``metadata.json``, ``vary_k.png``/``.svg``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mibound.data.gaussian import CorrelatedGaussian
from mibound.estimators.neural import NeuralEstimator, _mean_ci, fit_samplers
from mibound.experiments._common import RunTable, optimal_infonce, save_figure, settings_for, write_metadata
from mibound.inputs.files import atomic_write_text

__all__ = ["run", "QUICK", "FULL", "saturation_table"]

QUICK = dict(dim=20, true_mis=(2.0, 4.0, 8.0), ks=(2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
             trained_ks=(4, 16, 64, 256), steps=600, eval_pairs=8192, learning_rate=1e-3)
FULL = dict(dim=20, true_mis=(1.0, 2.0, 4.0, 6.0, 8.0, 10.0), ks=(2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            trained_ks=(2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), steps=4000, eval_pairs=32768,
            learning_rate=5e-4)


def saturation_table(frame: pd.DataFrame, tolerance: float = 0.1) -> pd.DataFrame:
    """Per true MI and critic, the smallest ``K`` whose estimate is within ``tolerance`` (relative) of the truth.

    ``K_needed`` is empty when no tested ``K`` was enough; ``log_K_needed`` is its log, to compare
    with the true MI (a tight InfoNCE needs ``log K`` well above ``I``).
    """
    rows = []
    for (mi, critic), g in frame.groupby(["true_mi", "critic"]):
        ok = g[g["estimate"] >= (1 - tolerance) * mi].sort_values("K")
        k = int(ok["K"].iloc[0]) if len(ok) else None
        rows.append({"true_mi": mi, "critic": critic, "K_needed": k,
                     "log_K_needed": None if k is None else math.log(k),
                     "best_estimate": float(g["estimate"].max()), "largest_K": int(g["K"].max())})
    table = pd.DataFrame(rows)
    table["K_needed"] = table["K_needed"].astype("Int64")  # integers, empty where no K was enough
    return table


def _plot(frame: pd.DataFrame):
    from mibound.experiments.plotting import _mpl

    plt, sns = _mpl()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    mis = sorted(frame["true_mi"].unique())
    palette = dict(zip(mis, sns.color_palette("viridis", len(mis))))
    for (mi, critic), g in frame.groupby(["true_mi", "critic"]):
        g = g.sort_values("K")
        ls, marker = ("-", "o") if critic == "optimal" else (":", "s")
        ax.errorbar(g["K"], g["estimate"], yerr=[g["estimate"] - g["ci_low"], g["ci_high"] - g["estimate"]],
                    color=palette[mi], ls=ls, marker=marker, ms=3.5, lw=1.4, capsize=2,
                    label=f"I = {mi:g}, {critic}")
    for mi in mis:
        ax.axhline(mi, color=palette[mi], lw=0.8, alpha=0.6)
    ks = np.array(sorted(frame["K"].unique()))
    ax.plot(ks, np.log(ks), color="black", ls="--", lw=1.2, label="log K")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size K")
    ax.set_ylabel("InfoNCE (nats)")
    ax.set_title("InfoNCE saturates at log K (solid: optimal critic, dotted: trained)")
    ax.legend(fontsize=7, ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def run(out="results/vary_k", quick: bool = True, seed: int = 0, progress: bool = True, resume: bool = False,
        **overrides) -> pd.DataFrame:
    """Run the K sweep; write CSVs, metadata and the figure to ``out``; return the tidy table."""
    cfg = settings_for("vary-k", quick, overrides, QUICK, FULL)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    table = RunTable(out / "vary_k.csv", key=("true_mi", "K", "critic"), resume=resume)
    from tqdm.auto import tqdm

    def row(mi, k, critic, est, ci):
        return {"true_mi": mi, "K": k, "critic": critic, "estimate": est, "ci_low": ci[0], "ci_high": ci[1],
                "ceiling": math.log(k), "seed": seed}

    optimal = [(mi, k) for mi in cfg["true_mis"] for k in cfg["ks"]]
    trained = {k: [mi for mi in cfg["true_mis"]] for k in cfg["trained_ks"]}
    bar = tqdm(total=len(optimal) + sum(map(len, trained.values())), desc="vary-k", disable=not progress)
    for j, (mi, k) in enumerate(optimal):
        if not table.done(true_mi=mi, K=k, critic="optimal"):
            vals = optimal_infonce(CorrelatedGaussian.from_mi(mi, cfg["dim"]), k, cfg["eval_pairs"], seed + j)
            est, ci, _ = _mean_ci(vals)
            table.append(pd.DataFrame([row(mi, k, "optimal", est, ci)]))
        bar.update()
    # trained critics: the true MIs of one K share every setting, so they train as one ensemble
    for j, (k, mis) in enumerate(trained.items()):
        todo = [mi for mi in mis if not table.done(true_mi=mi, K=k, critic="trained")]
        if todo:
            ests = [NeuralEstimator("infonce", batch_size=k, steps=cfg["steps"], seed=seed + 1000 * j + i,
                                    learning_rate=cfg["learning_rate"], eval_batches=max(2, cfg["eval_pairs"] // k))
                    for i, _ in enumerate(todo)]
            fit_samplers(ests, [CorrelatedGaussian.from_mi(mi, cfg["dim"]) for mi in todo], progress=False)
            table.append(pd.DataFrame([row(mi, k, "trained", e.result_.estimate, e.result_.ci)
                                       for mi, e in zip(todo, ests)]))
        bar.update(len(mis))
    bar.close()
    frame = table.frame
    atomic_write_text(out / "vary_k_summary.csv", saturation_table(frame).to_csv(index=False))
    fig = _plot(frame)
    save_figure(fig, out, "vary_k")
    write_metadata(out, "vary-k", {**cfg, "seed": seed, "quick": quick}, started)
    return frame
