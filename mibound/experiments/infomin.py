"""The InfoMin "sweet spot" (Tian et al. 2020): probe accuracy against the views' exact shared information.

The views
---------
Each view is a two-channel ``8 x 8`` image (:class:`DigitTextureViews`): channel 0 is a digit glyph
from scikit-learn's bundled digits (pixel values in ``[0, 1]``, class known), channel 1 a
Gaussian-random-field texture (unit variance, scaled by ``contrast``; a nuisance). One ordered
parameter ``s in [0, 2)`` says what the two views share (:func:`sweep_setting`):

- ``0 <= s <= 1``: **the digit class** is shared with probability ``p = s``: view 2 shows another
  digit of view 1's class with probability ``p``, an independent digit otherwise; the textures are
  independent. ``s = 0``: the views share nothing.
- ``1 < s < 2``: the class is always shared and **the texture** too, with correlation
  ``rho = s - 1`` (two channels of :class:`mibound.data.images.ChannelSplitViews`, per-view pixel
  noise ``texture_noise``). Near ``s = 2`` the views share an almost identical high-contrast
  background: a shortcut that identifies the positive pair without looking at the digit.

The MI axis (exact)
-------------------
``I(v1; v2) = I(C1; C2) + I(T1; T2)``, exactly, because the digit pair and the texture pair are
independent:

- digits: the glyph channel is noise-free and every glyph has one class, so
  ``I(D1; D2) = I(C1; C2)`` (the partner depends on view 1 only through its class and is uniform
  within its own class), with the class-pair law ``P(c, c') = pi_c (p [c = c'] + (1 - p) pi_c')``
  over the training digits' class frequencies ``pi`` (:func:`class_sharing_mi`; ``= H(C) ~ log 10``
  at ``p = 1``);
- textures: jointly Gaussian, ``I(T1; T2)`` from the field's kernel
  (:meth:`~mibound.data.images.ChannelSplitViews.mutual_information`).

So ``mi`` is the exact MI of the views (``mi_kind = "exact"``) of the *training* distribution
(training digits, fresh textures). The ``infonce`` column is the trained encoder's InfoNCE on
held-out pairs (test digits, fresh textures): a lower bound, capped at ``log K``.

Protocol
--------
For each ``(s, seed)`` a separable critic (MLP towers, cosine scores with a temperature, SimCLR
style) is trained as a :class:`~mibound.estimators.NeuralEstimator` (``fit_sampler``), then frozen; a
logistic-regression probe is fitted on the view-1 tower's embedding of one view of each training
digit and scored on the held-out digits (each with its own random texture). Where the views share
nothing the encoder has nothing to learn (InfoNCE pushes it towards a constant); where they share
the class it learns the class; where they also share the texture, InfoNCE reaches its ``log K``
ceiling from the texture alone and the digit is left out: the reverse-U.

Also: the GRF crop-offset sweep: exact ``I(crop1; crop2)`` of
:class:`~mibound.data.images.GaussianRandomFieldCrops` against the horizontal offset, and InfoNCE
estimates (trained separable critic) at a few offsets with the ``log K`` ceiling.

Outputs: ``infomin.csv`` (one row per ``(sweep, seed)``: ``sweep, share_digit, share_texture, mi,
mi_digit, mi_texture, mi_kind, probe_accuracy, probe_accuracy_hidden, infonce, ceiling, K, steps,
seed``), ``infomin_summary.csv`` (per setting: mean / sd accuracy, ``is_peak``),
``infomin_reference.csv`` (probes on raw pixels and on the untrained encoder, per seed),
``infomin_offsets.csv`` (``offset, mi, mi_kind, infonce, ci_low, ci_high, ceiling, seed``),
``metadata.json``, ``infomin.png`` / ``.svg``.

References
----------
Tian, Sun, Poole, Krishnan, Schmid & Isola (2020), "What Makes for Good Views for Contrastive
Learning?", NeurIPS (InfoMin; the reverse-U of accuracy against I(v1; v2)).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mibound.data.digits import GLYPH, DigitTextureViews, class_sharing_mi
from mibound.data.images import GaussianRandomFieldCrops, mi_vs_offset
from mibound.estimators.neural import NeuralEstimator
from mibound.experiments._common import RunTable, save_figure, settings_for, write_metadata
from mibound.inputs.checks import check_float
from mibound.inputs.files import atomic_write_text
from mibound.neural.critics import SeparableCritic
from mibound.neural.engine import torch_threads as _torch_threads

__all__ = ["run", "QUICK", "FULL", "DigitTextureViews", "class_sharing_mi", "sweep_setting", "summarize",
           "load_digits_pool"]

QUICK = dict(sweep=(0.0, 0.25, 0.5, 0.75, 1.0, 1.15, 1.3, 1.6, 1.75, 1.9, 1.99), n_seeds=3, steps=600, batch_size=64,
             learning_rate=1e-3, hidden_dim=256, embed_dim=16, temperature=0.2, contrast=1.0,
             texture_noise=0.1, texture_alpha=1.5, test_fraction=0.33, eval_batches=16, probe_hidden=False,
             offsets=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16), infonce_offsets=(2, 6, 8, 10),
             offset_steps=600, offset_noise=0.1, num_threads=1)
FULL = dict(sweep=(0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.15, 1.3, 1.45, 1.6, 1.75, 1.9, 1.95, 1.99), n_seeds=5,
            steps=3000, batch_size=64, learning_rate=5e-4, hidden_dim=256, embed_dim=16, temperature=0.2,
            contrast=1.0, texture_noise=0.1, texture_alpha=1.5, test_fraction=0.33, eval_batches=64,
            probe_hidden=True, offsets=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 20, 24),
            infonce_offsets=(0, 2, 4, 6, 7, 8, 9, 10, 12), offset_steps=3000, offset_noise=0.1,
            num_threads=1)

# ---------------------------------------------------------------------------------------------
# the sweep and the digits
# ---------------------------------------------------------------------------------------------
def sweep_setting(s: float) -> tuple[float, float]:
    """The sweep coordinate ``s in [0, 2)`` -> ``(share_digit p, share_texture rho)``.

    ``s <= 1``: ``(s, 0)``; ``s > 1``: ``(1, s - 1)``. The exact MI is non-decreasing in ``s``.
    """
    s = check_float(s, "sweep", minimum=0.0, maximum=2.0)
    if s >= 2.0:
        raise ValueError(f"sweep must be < 2 (texture correlation below 1), got {s}")
    return (s, 0.0) if s <= 1.0 else (1.0, s - 1.0)


def load_digits_pool() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits: images ``(1797, 8, 8)`` float32 in ``[0, 1]`` and labels ``(1797,)``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# one run: train a contrastive encoder, freeze it, probe it
# ---------------------------------------------------------------------------------------------
def _split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_test = max(10, int(round(test_fraction * n)))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def _critic(dim: int, cfg: dict, seed: int) -> SeparableCritic:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SeparableCritic(dim, dim, hidden_dim=cfg["hidden_dim"], layers=2, embed_dim=cfg["embed_dim"],
                               cosine=True, temperature=cfg["temperature"])


def _probe(train_feats: np.ndarray, train_y: np.ndarray, test_feats: np.ndarray, test_y: np.ndarray) -> float:
    """Accuracy of a standardised multinomial logistic regression on held-out features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(train_feats, train_y)
    return float(model.score(test_feats, test_y))


@torch.no_grad()
def _features(critic: SeparableCritic, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """View-1 tower: ``(embedding (n, e) as scored (normalised), last hidden layer (n, hidden))``."""
    hidden = critic.g[:-1](x)
    emb = torch.nn.functional.normalize(critic.g[-1](hidden), dim=1)
    return emb.numpy(), hidden.numpy()


def _probe_encoder(critic, train_views, test_views, pool_y, test_y, hidden: bool) -> tuple[float, float]:
    etr, htr = _features(critic, train_views)
    ete, hte = _features(critic, test_views)
    acc = _probe(etr, pool_y, ete, test_y)
    acc_h = _probe(htr, pool_y, hte, test_y) if hidden else float("nan")
    return acc, acc_h


def _one_run(s: float, seed: int, cfg: dict, images: np.ndarray, labels: np.ndarray) -> dict:
    p, rho = sweep_setting(s)
    tr, te = _split(len(images), cfg["test_fraction"], seed)
    opts = dict(share_digit=p, share_texture=rho, contrast=cfg["contrast"], texture_noise=cfg["texture_noise"],
                texture_alpha=cfg["texture_alpha"])
    views = DigitTextureViews(images[tr], labels[tr], **opts)
    held_out = DigitTextureViews(images[te], labels[te], **opts)
    k = cfg["batch_size"]
    critic = _critic(views.dim_x, cfg, seed)
    est = NeuralEstimator("infonce", critic=critic, batch_size=k, steps=cfg["steps"], seed=seed, progress=False,
                          learning_rate=cfg["learning_rate"], eval_batches=cfg["eval_batches"], lr_schedule="constant")
    infonce = est.fit_sampler(views, held_out=held_out).result_.estimate
    critic.eval()
    probe_gen = torch.Generator().manual_seed(seed + 104729)
    train_views = views.single_views(np.arange(len(tr)), probe_gen)
    test_views = held_out.single_views(np.arange(len(te)), probe_gen)
    acc, acc_h = _probe_encoder(critic, train_views, test_views, labels[tr], labels[te], cfg["probe_hidden"])
    parts = views.mi_parts()
    return {"sweep": s, "share_digit": p, "share_texture": rho, "mi": views.mutual_information(),
            "mi_digit": parts["digit"], "mi_texture": parts["texture"], "mi_kind": "exact",
            "probe_accuracy": acc, "probe_accuracy_hidden": acc_h, "infonce": infonce,
            "ceiling": math.log(k), "K": k, "steps": cfg["steps"], "seed": seed}


def _references(seed: int, cfg: dict, images: np.ndarray, labels: np.ndarray) -> list[dict]:
    """Probes that need no contrastive training: raw pixels of one view, and the untrained encoder."""
    tr, te = _split(len(images), cfg["test_fraction"], seed)
    views = DigitTextureViews(images[tr], labels[tr], contrast=cfg["contrast"], texture_noise=cfg["texture_noise"],
                              texture_alpha=cfg["texture_alpha"])
    held_out = DigitTextureViews(images[te], labels[te], contrast=cfg["contrast"],
                                 texture_noise=cfg["texture_noise"], texture_alpha=cfg["texture_alpha"])
    gen = torch.Generator().manual_seed(seed + 104729)  # the same probe views as the runs of this seed
    xtr = views.single_views(np.arange(len(tr)), gen)
    xte = held_out.single_views(np.arange(len(te)), gen)
    raw = _probe(xtr.numpy(), labels[tr], xte.numpy(), labels[te])
    acc, acc_h = _probe_encoder(_critic(views.dim_x, cfg, seed), xtr, xte, labels[tr], labels[te],
                                cfg["probe_hidden"])
    return [{"reference": "raw pixels (one view)", "probe_accuracy": raw, "probe_accuracy_hidden": float("nan"),
             "seed": seed},
            {"reference": "untrained encoder", "probe_accuracy": acc, "probe_accuracy_hidden": acc_h, "seed": seed}]


def _offset_infonce(offset: int, seed: int, cfg: dict) -> dict:
    sampler = GaussianRandomFieldCrops(crop_size=GLYPH, offset=(0, offset), noise=cfg["offset_noise"])
    k = cfg["batch_size"]
    res = NeuralEstimator("infonce", critic="separable", batch_size=k, steps=cfg["offset_steps"], seed=seed,
                          progress=False,
                          learning_rate=cfg["learning_rate"],
                          eval_batches=cfg["eval_batches"], num_threads=cfg["num_threads"]).fit_sampler(sampler).result_
    return {"estimate": res.estimate, "ci_low": res.ci[0], "ci_high": res.ci[1]}


# ---------------------------------------------------------------------------------------------
# summary and figure
# ---------------------------------------------------------------------------------------------
def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Per sweep setting: exact MI, mean / sd / min / max probe accuracy, mean InfoNCE; ``is_peak`` marks the best mean."""
    g = frame.groupby("sweep", sort=True)
    table = g.agg(share_digit=("share_digit", "first"), share_texture=("share_texture", "first"),
                  mi=("mi", "first"), mi_kind=("mi_kind", "first"), accuracy_mean=("probe_accuracy", "mean"),
                  accuracy_sd=("probe_accuracy", "std"), accuracy_min=("probe_accuracy", "min"),
                  accuracy_max=("probe_accuracy", "max"), hidden_accuracy_mean=("probe_accuracy_hidden", "mean"),
                  infonce_mean=("infonce", "mean"), ceiling=("ceiling", "first"),
                  n_seeds=("seed", "nunique")).reset_index()
    table["is_peak"] = table["accuracy_mean"] == table["accuracy_mean"].max()
    return table


def _plot(frame: pd.DataFrame, summary: pd.DataFrame, refs: pd.DataFrame, offsets: pd.DataFrame,
          label_entropy: float):
    from mibound.experiments.plotting import _mpl

    plt, sns = _mpl()
    fig, axes = plt.subplots(1, 3, figsize=(15.5, 4.4), gridspec_kw={"width_ratios": [1.35, 1, 1]})
    phase = np.where(frame["share_texture"] > 0, "class + texture shared (rho = s - 1)",
                     "class shared with prob. p = s")
    palette = dict(zip(["class shared with prob. p = s", "class + texture shared (rho = s - 1)"],
                       sns.color_palette("deep", 2)))

    ax = axes[0]
    ax.scatter(frame["mi"], frame["probe_accuracy"], c=[palette[k] for k in phase], s=14, alpha=0.35, lw=0)
    ax.plot(summary["mi"], summary["accuracy_mean"], color="0.3", lw=1.2, zorder=1)
    for name, grp in summary.groupby(np.where(summary["share_texture"] > 0, list(palette)[1], list(palette)[0])):
        ax.errorbar(grp["mi"], grp["accuracy_mean"], yerr=grp["accuracy_sd"].fillna(0), fmt="o", ms=6,
                    color=palette[name], capsize=2, label=name, zorder=3)
    peak = summary[summary["is_peak"]].iloc[0]
    ax.scatter([peak["mi"]], [peak["accuracy_mean"]], marker="*", s=260, color="gold", edgecolor="black", zorder=4,
               label=f"peak: I = {peak['mi']:.2f} nats, acc {peak['accuracy_mean']:.3f} (s = {peak['sweep']:g})")
    styles = {"raw pixels (one view)": ":", "untrained encoder": "-."}
    for name, grp in refs.groupby("reference"):
        ax.axhline(grp["probe_accuracy"].mean(), color="0.45", ls=styles.get(name, "--"), lw=1,
                   label=f"probe on {name}: {grp['probe_accuracy'].mean():.3f}")
    ax.axhline(1.0 / 10, color="0.7", lw=0.8, label="chance (0.1)")
    ax.axvline(label_entropy, color="tab:red", ls="--", lw=0.9, label=f"H(label) = {label_entropy:.2f} nats")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(-0.05, max(2.0, frame["mi"].max() * 1.6))
    ax.set_ylim(0, 1.1)
    for x, text in ((0.3 * label_entropy, "too little shared"), (label_entropy, "sweet spot"),
                    (max(2.0, frame["mi"].max() * 1.6) ** 0.75, "shortcut: texture shared")):
        ax.text(x, 1.065, text, ha="center", va="center", fontsize=8, style="italic", color="0.25")
    ax.set_xlabel("exact I(v1; v2) of the views (nats, symlog)")
    ax.set_ylabel("linear-probe accuracy on the digit (held-out)")
    ax.set_title("InfoMin sweet spot: accuracy vs shared information")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)

    ax = axes[1]
    ax.scatter(frame["mi"], frame["infonce"], c=[palette[k] for k in phase], s=16, alpha=0.6, lw=0)
    ax.plot(summary["mi"], summary["infonce_mean"], color="0.3", lw=1.0)
    top = max(2.0, frame["mi"].max() * 1.6)
    grid = np.linspace(0, top, 400)
    ax.plot(grid, grid, color="black", lw=0.8, label="InfoNCE = I(v1; v2)")
    ax.axhline(frame["ceiling"].iloc[0], color="black", ls="--", lw=1.0, label=f"log K = {frame['ceiling'].iloc[0]:.2f}")
    ax.axvline(label_entropy, color="tab:red", ls="--", lw=0.9)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(-0.05, top)
    ax.set_ylim(-0.2, frame["ceiling"].iloc[0] + 0.6)
    ax.set_xlabel("exact I(v1; v2) (nats, symlog)")
    ax.set_ylabel("InfoNCE of the trained encoder (held-out, nats)")
    ax.set_title("what the encoder captures: InfoNCE <= min(I, log K)")
    ax.legend(fontsize=7, loc="upper left")

    ax = axes[2]
    off = offsets.sort_values("offset")
    ax.plot(off["offset"], off["mi"], "o-", color="tab:blue", ms=4, label="exact I(crop1; crop2)")
    est = off.dropna(subset=["infonce"])
    ax.errorbar(est["offset"], est["infonce"], yerr=[est["infonce"] - est["ci_low"], est["ci_high"] - est["infonce"]],
                fmt="s", color="tab:orange", ms=6, capsize=3, label="InfoNCE (trained critic)")
    ax.axhline(off["ceiling"].iloc[0], color="black", ls="--", lw=1.0, label=f"log K = {off['ceiling'].iloc[0]:.2f}")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_ylim(0, off["mi"].max() * 2)
    ax.set_xlabel("horizontal offset between two 8x8 crops (pixels)")
    ax.set_ylabel("nats (symlog)")
    ax.set_title("GRF crops: exact MI falls with the offset")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# the experiment
# ---------------------------------------------------------------------------------------------
def run(out="results/infomin", quick: bool = True, seed: int = 0, progress: bool = True, resume: bool = False,
        **overrides) -> pd.DataFrame:
    """Run the InfoMin sweep and the crop-offset sweep; write CSVs, metadata and the figure; return the tidy table."""
    cfg = settings_for("infomin", quick, overrides, QUICK, FULL)
    sweep = [float(s) for s in cfg["sweep"]]
    if not sweep:
        raise ValueError("sweep must list at least one setting s in [0, 2)")
    for s in sweep:
        sweep_setting(s)  # validate before any work
    limit = 32 - GLYPH  # GaussianRandomFieldCrops' default 32-pixel window
    for o in (*cfg["offsets"], *cfg["infonce_offsets"]):
        if isinstance(o, bool) or not isinstance(o, (int, np.integer)) or not 0 <= o <= limit:
            raise ValueError(f"offsets must be integers in [0, {limit}] (two 8x8 crops in a 32-pixel window), got {o!r}")
    if int(cfg["n_seeds"]) < 1:
        raise ValueError(f"n_seeds must be >= 1, got {cfg['n_seeds']}")
    from threadpoolctl import threadpool_limits

    # small models: one thread each for torch and for numpy / scikit-learn (on a shared CPU more
    # threads spin against each other: one run took 10x longer with two threads under load)
    with _torch_threads(cfg["num_threads"]), threadpool_limits(limits=cfg["num_threads"]):
        return _run(Path(out), quick, seed, progress, resume, cfg, sweep)


def _run(out: Path, quick: bool, seed: int, progress: bool, resume: bool, cfg: dict, sweep: list) -> pd.DataFrame:
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    images, labels = load_digits_pool()
    from tqdm.auto import tqdm

    seeds = [seed + r for r in range(int(cfg["n_seeds"]))]
    table = RunTable(out / "infomin.csv", key=("sweep", "seed"), resume=resume)
    ref_table = RunTable(out / "infomin_reference.csv", key=("reference", "seed"), resume=resume)
    off_table = RunTable(out / "infomin_offsets.csv", key=("offset",), resume=resume)
    if not off_table.frame.empty:  # the finished file also lists the untrained (exact-only) offsets
        off_table.frame = off_table.frame.dropna(subset=["infonce"]).reset_index(drop=True)
    jobs = [("ref", None, r) for r in seeds] + [("run", s, r) for r in seeds for s in sweep]
    jobs += [("offset", o, seed) for o in cfg["infonce_offsets"]]
    for kind, s, r in tqdm(jobs, desc="infomin", disable=not progress):
        if kind == "ref":
            if not ref_table.done(seed=r):
                ref_table.append(pd.DataFrame(_references(r, cfg, images, labels)))
        elif kind == "run":
            if not table.done(sweep=s, seed=r):
                table.append(pd.DataFrame([_one_run(s, r, cfg, images, labels)]))
        elif not off_table.done(offset=s):
            row = _offset_infonce(int(s), seed + 1000 + int(s), cfg)
            off_table.append(pd.DataFrame([{"offset": int(s), "infonce": row["estimate"], "ci_low": row["ci_low"],
                                            "ci_high": row["ci_high"], "seed": seed}]))

    frame = table.frame[table.frame["sweep"].isin(sweep) & table.frame["seed"].isin(seeds)].reset_index(drop=True)
    summary = summarize(frame)
    atomic_write_text(out / "infomin_summary.csv", summary.to_csv(index=False))

    offsets = sorted({int(o) for o in cfg["offsets"]} | {int(o) for o in cfg["infonce_offsets"]})
    exact = mi_vs_offset([(0, o) for o in offsets], crop_size=GLYPH, noise=cfg["offset_noise"])
    est = off_table.frame.set_index("offset") if not off_table.frame.empty else pd.DataFrame(
        columns=["infonce", "ci_low", "ci_high"])
    off = pd.DataFrame({"offset": offsets, "mi": exact, "mi_kind": "exact"})
    for col in ("infonce", "ci_low", "ci_high"):
        off[col] = [float(est.loc[o, col]) if o in est.index and o in cfg["infonce_offsets"] else np.nan
                    for o in offsets]
    off["ceiling"] = math.log(cfg["batch_size"])
    off["seed"] = seed
    atomic_write_text(out / "infomin_offsets.csv", off.to_csv(index=False))

    refs = ref_table.frame[ref_table.frame["seed"].isin(seeds)]
    _, lab = np.unique(labels, return_inverse=True)
    pi = np.bincount(lab) / len(lab)
    fig = _plot(frame, summary, refs, off, float(-(pi * np.log(pi)).sum()))
    save_figure(fig, out, "infomin")
    peak = summary[summary["is_peak"]].iloc[0]
    write_metadata(out, "infomin", {**cfg, "seed": seed, "quick": quick,
                                    "peak": {"sweep": float(peak["sweep"]), "mi": float(peak["mi"]),
                                             "accuracy_mean": float(peak["accuracy_mean"])}}, started)
    return frame
