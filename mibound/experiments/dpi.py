"""The data-processing chain ``I(v1; v2) >= I(z1; z2) >= log K - L_InfoNCE``, every term measured.

For Gaussian views (correlated Gaussian vectors, GRF crops, channel splits) and encoders
``z = f(v)`` (identity, average pooling, random linear maps of several ranks, top-k CCA, and fixed
random MLP / small-CNN encoders), at several batch sizes ``K``:

- ``mi_views`` = ``I(v1; v2)``, exact;
- ``mi_codes`` = ``I(z1; z2)``, exact for linear encoders (empty for nonlinear ones);
- ``infonce_optimal``: InfoNCE with the analytic optimal critic on ``z`` — the bound's own
  looseness at this ``K`` (empty where the codes are not Gaussian);
- ``infonce_trained``: InfoNCE with a trained separable critic on ``z``, read on held-out batches
  — adds the critic's optimisation and sample error (the seeds of one setting train together as
  one ensemble, :func:`mibound.estimators.neural.fit_samplers`). The setting ``critic="auto"`` trains the
  convolutional critic (:class:`~mibound.neural.critics.ConvCritic`) on codes that are images (the
  identity and average-pooling encoders of the image views) and the separable critic elsewhere;
  the ``critic`` column records the one used.

Three gaps follow, each ``>= 0`` up to noise: information lost by the encoder
(``mi_views - mi_codes``), looseness of the bound (``mi_codes - infonce_optimal``) and optimisation
error (``infonce_optimal - infonce_trained``).

Outputs: ``dpi.csv`` (one row per views, encoder, ``K`` and seed: ``views, encoder, K, seed,
mi_views, mi_codes, infonce_optimal, infonce_trained, ceiling, critic``), ``dpi_gaps.csv`` (the three gaps),
``metadata.json``, ``dpi.png``/``.svg`` (gaps stacked per encoder).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from mibound.data import CorrelatedPairs, EncodedViews
from mibound.data.encoders import AvgPool, Identity, MLPEncoder, SmallCNNEncoder, cca_encoders, random_linear_encoder
from mibound.data.images import ChannelSplitViews, GaussianRandomFieldCrops
from mibound.estimators.neural import NeuralEstimator, _mean_ci, fit_samplers, resolve_critic
from mibound.experiments._common import RunTable, optimal_infonce, save_figure, settings_for, write_metadata
from mibound.inputs.checks import check_choice
from mibound.inputs.files import atomic_write_text

__all__ = ["run", "QUICK", "FULL", "VIEWS", "encoders_for", "gaps"]

QUICK = dict(views=("gaussian", "grf_crops", "channels"), ks=(16, 128), seeds=(0,), steps=600,
             eval_pairs=4096, learning_rate=1e-3, critic="separable")
FULL = dict(views=("gaussian", "grf_crops", "channels"), ks=(4, 16, 64, 256, 1024), seeds=(0, 1, 2), steps=4000,
            eval_pairs=32768, learning_rate=5e-4, critic="separable")

#: the trained critic's options per critic name (the separable critic of the recorded figures: 2 x 128 units)
CRITIC_OPTIONS = {"separable": {"hidden_dim": 128}, "conv": {}}

#: the view families: moderate MI so that the gaps are visible next to log K
VIEWS: dict[str, Callable[[], object]] = {
    "gaussian": lambda: CorrelatedPairs.from_mi(6.0, 16, decay=0.8),
    "grf_crops": lambda: GaussianRandomFieldCrops(image_size=16, crop_size=8, offset=(0, 6), noise=0.5,
                                                  torus_size=32),
    "channels": lambda: ChannelSplitViews.from_mi(8.0, crop_size=8, channels=2, noise=0.5),
}


def encoders_for(views: str, sampler) -> dict[str, tuple]:
    """Encoder pairs ``name -> (encoder_x, encoder_y)`` suited to a view family."""
    dx, dy = sampler.dim_x, sampler.dim_y
    if views == "gaussian":
        pairs = {"identity": (Identity(), Identity())}
        for k in (8, 4, 2):
            pairs[f"random-linear-{k}"] = (random_linear_encoder(dx, k, seed=k),
                                           random_linear_encoder(dy, k, seed=100 + k))
        for k in (4, 1):
            pairs[f"cca-top{k}"] = cca_encoders(sampler, k)
        pairs["mlp (nonlinear)"] = (MLPEncoder(dx, out_dim=8, seed=1), MLPEncoder(dy, out_dim=8, seed=2))
        return pairs
    (cx, _, _), (cy, _, _) = sampler.view_shapes
    pairs = {"identity": (Identity(), Identity()), "avgpool-2x2": (AvgPool(2), AvgPool(2)),
             "avgpool-4x4": (AvgPool(4), AvgPool(4)),
             "random-linear-8": (random_linear_encoder(dx, 8, seed=8), random_linear_encoder(dy, 8, seed=9)),
             "cca-top2": cca_encoders(sampler, 2),
             "cnn (nonlinear)": (SmallCNNEncoder(cx, out_dim=8, seed=1), SmallCNNEncoder(cy, out_dim=8, seed=2))}
    return pairs


def gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """The three gaps of the chain per row: encoder loss, bound looseness, optimisation error (nats)."""
    g = frame[["views", "encoder", "K", "seed"]].copy()
    g["encoder_loss"] = frame["mi_views"] - frame["mi_codes"]
    g["bound_looseness"] = frame["mi_codes"] - frame["infonce_optimal"]
    g["optimisation_error"] = frame["infonce_optimal"] - frame["infonce_trained"]
    return g


def _plot(frame: pd.DataFrame):
    from mibound.experiments.plotting import _mpl

    plt, sns = _mpl()
    kmax = frame["K"].max()
    sub = frame[frame["K"] == kmax].groupby(["views", "encoder"], sort=False).mean(numeric_only=True).reset_index()
    views = list(dict.fromkeys(sub["views"]))
    fig, axes = plt.subplots(1, len(views), figsize=(4.6 * len(views), 4.2), squeeze=False)
    colors = sns.color_palette("deep", 4)
    for ax, v in zip(axes[0], views):
        s = sub[sub["views"] == v]
        x = np.arange(len(s))
        trained = s["infonce_trained"].to_numpy()
        optimal = s["infonce_optimal"].to_numpy()
        codes = s["mi_codes"].to_numpy()
        total = s["mi_views"].to_numpy()
        exact = ~np.isnan(codes)
        seg = [("InfoNCE, trained critic", np.zeros_like(trained), trained),
               ("optimisation error", trained, np.where(exact, optimal - trained, 0)),
               ("bound looseness at K", np.where(exact, optimal, trained), np.where(exact, codes - optimal, 0)),
               ("lost by the encoder", np.where(exact, codes, trained), np.where(exact, total - codes, 0))]
        for (label, bottom, height), c in zip(seg, colors):
            ax.bar(x, height, bottom=bottom, color=c, label=label, width=0.7)
        ax.bar(x[~exact], (total - trained)[~exact], bottom=trained[~exact], color="lightgrey", hatch="//",
               width=0.7, label="not separable (nonlinear codes)")
        ax.axhline(math.log(kmax), color="black", ls="--", lw=1, label=f"log K (K={kmax})")
        ax.set_xticks(x, s["encoder"], rotation=40, ha="right")
        ax.set_title(f"{v}: I(v1;v2) = {total[0]:.2f} nats")
        ax.set_ylabel("nats")
        top = float(np.nanmax(total))
        if top > 6 * math.log(kmax):
            ax.set_yscale("symlog", linthresh=1.0)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False, bbox_to_anchor=(0.5, -0.12))
    fig.suptitle("I(v1;v2) >= I(z1;z2) >= InfoNCE(optimal) >= InfoNCE(trained): the gaps, stacked")
    fig.tight_layout()
    return fig


def run(out="results/dpi", quick: bool = True, seed: int = 0, progress: bool = True, resume: bool = False,
        **overrides) -> pd.DataFrame:
    """Run the chain for every views kind, encoder, ``K`` and seed; write CSVs, metadata, figure."""
    cfg = settings_for("dpi", quick, overrides, QUICK, FULL)
    bad = set(cfg["views"]) - set(VIEWS)
    if bad:
        raise ValueError(f"unknown views {sorted(bad)}; valid: {sorted(VIEWS)}")
    check_choice(cfg["critic"], ("auto", *CRITIC_OPTIONS), "dpi critic")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    table = RunTable(out / "dpi.csv", key=("views", "encoder", "K", "seed"), resume=resume)
    from tqdm.auto import tqdm

    groups = []  # one (views, encoder, K) setting; its seeds train together as one ensemble
    for views in cfg["views"]:
        sampler = VIEWS[views]()
        for enc, (ex, ey) in encoders_for(views, sampler).items():
            for k in cfg["ks"]:
                groups.append((views, sampler, enc, EncodedViews(sampler, ex, ey), k))
    for g, (views, sampler, enc, codes, k) in enumerate(tqdm(groups, desc="dpi", disable=not progress)):
        todo = [s for s in cfg["seeds"] if not table.done(views=views, encoder=enc, K=k, seed=seed + s)]
        if not todo:
            continue
        exact = codes.exact
        mi_codes = codes.mutual_information() if exact else np.nan
        critic = resolve_critic(cfg["critic"], *codes.view_shapes)
        ests = [NeuralEstimator("infonce", critic=critic, batch_size=k, steps=cfg["steps"], seed=seed + 1000 * s + g,
                                learning_rate=cfg["learning_rate"], eval_batches=max(2, cfg["eval_pairs"] // k),
                                critic_options=CRITIC_OPTIONS[critic]) for s in todo]
        fit_samplers(ests, [codes] * len(todo), progress=False)
        table.append(pd.DataFrame([{
            "views": views, "encoder": enc, "K": k, "seed": seed + s, "mi_views": sampler.mutual_information(),
            "mi_codes": mi_codes,
            "infonce_optimal": _mean_ci(optimal_infonce(codes, k, cfg["eval_pairs"], seed + 1000 * s + g))[0] if exact else np.nan,
            "infonce_trained": e.result_.estimate, "ceiling": math.log(k), "critic": critic}
            for s, e in zip(todo, ests)]))
    frame = table.frame
    atomic_write_text(out / "dpi_gaps.csv", gaps(frame).to_csv(index=False))
    fig = _plot(frame)
    save_figure(fig, out, "dpi")
    write_metadata(out, "dpi", {**cfg, "seed": seed, "quick": quick}, started)
    return frame
