"""Figures (seaborn). Kept apart from the numerics; every function returns the matplotlib figure."""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["plot_staircase"]


def _mpl():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    return plt, sns


def plot_staircase(frame: pd.DataFrame, batch_size: int, smooth: int = 100):
    """Poole et al. (2019) Fig. 2: per-step estimates (faint), smoothed (bold), truth, ``log K``.

    Parameters
    ----------
    frame : DataFrame
        Columns ``step``, ``estimator``, ``critic``, ``true_mi``, ``estimate`` (nats).
    batch_size : int
        ``K``; ``log K`` is drawn dashed.
    smooth : int, default 100
        Window of the exponential moving average drawn bold.
    """
    plt, sns = _mpl()
    estimators = list(dict.fromkeys(frame["estimator"]))
    critics = list(dict.fromkeys(frame["critic"]))
    palette = dict(zip(critics, sns.color_palette("deep", len(critics))))
    ncol = min(4, len(estimators))
    nrow = math.ceil(len(estimators) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 2.8 * nrow), sharex=True, sharey=True,
                             squeeze=False)
    top = float(frame["true_mi"].max())
    for ax, est in zip(axes.flat, estimators):
        sub = frame[frame["estimator"] == est]
        for critic, g in sub.groupby("critic", sort=False):
            g = g.sort_values("step")
            color = palette[critic]
            ax.plot(g["step"], g["estimate"], color=color, alpha=0.15, lw=0.6)
            ax.plot(g["step"], g["estimate"].ewm(span=smooth).mean(), color=color, lw=1.8, label=critic)
        truth = sub.drop_duplicates("step").sort_values("step")
        ax.plot(truth["step"], truth["true_mi"], color="black", lw=1.2, drawstyle="steps-post", label="true MI")
        ax.axhline(math.log(batch_size), color="grey", ls="--", lw=1.0, label=f"log K (K={batch_size})")
        ax.set_title(est)
        ax.set_ylim(-1, top + 4)
        ax.set_xlabel("training step")
    for ax in axes[:, 0]:
        ax.set_ylabel("MI (nats)")
    for ax in list(axes.flat)[len(estimators):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, bbox_to_anchor=(0.5, -0.04))
    fig.tight_layout()
    return fig
