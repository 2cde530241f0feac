"""Learned InfoMin views (Tian et al. 2020, sec. 4): a colour flow trained to share less, against fixed colour splits.

The generator
-------------
A :class:`~mibound.images.colorflow.ColorFlow` (invertible map of the three colour channels, the same at
every pixel) turns an image into three output channels; view 1 is output channel 0, view 2 the
other two. It is trained through :func:`mibound.neural.engine.train` with the strategy
:class:`~mibound.images.colorflow.InfoMinRun`: the generator *minimises* the InfoNCE of a separable critic
between its views while the critic *maximises* it (gradient reversal), and in the
semi-supervised form two small heads keep the digit label predictable from each view (their
cross-entropy is minimised by the heads and the generator). The flow starts at the identity,
i.e. at the RGB split, and is held fixed for the first ``warmup_steps`` while the critic (and the
heads) train. The **trajectory** (``infomin_learn_trajectory.csv``) is the training critic's
InfoNCE on each training batch, a lower bound on ``I(v1; v2)`` of the current views at
``K = gen_batch_size`` (not a held-out number; it also moves as the critic learns), with the
flow's mean log-determinant per image and the label cross-entropy.

The evaluation (same budget for every view pair)
------------------------------------------------
For the learned views (flow frozen) and the fixed splits RGB (R | GB), Lab (L | ab) and
YCbCr (Y | CbCr), each view channel standardised with statistics of training images:

1. a contrastive encoder pair (separable critic: two MLP towers, cosine scores with a
   temperature, as in SimCLR) is trained with InfoNCE on views of the *training* digits
   (:meth:`~mibound.estimators.NeuralEstimator.fit_sampler`, same steps, ``K`` and learning rate
   for all); ``infonce`` is its InfoNCE on views of the *held-out* digits (fresh textures), read
   at ``K = eval_readout_k``: a lower bound on ``I(v1; v2)`` (ceiling ``log K``), with its interval;
2. a linear probe (standardised logistic regression) on the frozen towers' last hidden layers,
   both views concatenated, fitted on one rendering of each training digit and scored on the
   held-out digits: ``probe_accuracy``. The held-out digits were seen by no training and no choice.

Data: :class:`~mibound.data.color_digits.ColorDigits` (scikit-learn's digits in colour with a
colour-coded random texture that every fixed split shares); and, for the unsupervised form only,
``8 x 8`` patches of scikit-image photographs (``mibound[images]``; downsampled by 4; training
patches from the top 2/3 of each photograph, held-out patches from the bottom 1/3; no probe).

Outputs: ``infomin_learn.csv`` (one row per ``(dataset, views, seed)``: ``dataset, views, kind,
infonce, ci_low, ci_high, ceiling, K (readout), train_K, eval_steps, probe_accuracy, seed``),
``infomin_learn_trajectory.csv`` (``dataset, form, seed, step, infonce_train, log_det,
label_ce``), ``infomin_learn_summary.csv`` (per dataset and views: means over seeds),
``flows/*.pt`` (the trained generators, for resuming), ``metadata.json``, ``infomin_learn.png`` /
``.svg``: (a) the trajectories, (b) probe accuracy against the held-out InfoNCE of each view pair,
(c) the photographs' held-out InfoNCE per view pair.

References
----------
Tian, Sun, Poole, Krishnan, Schmid & Isola (2020), "What Makes for Good Views for Contrastive
Learning?", NeurIPS (sec. 4: learned views; unsupervised and semi-supervised InfoMin).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mibound.data.base import Sampler
from mibound.data.color_digits import ColorDigits
from mibound.data.digits import GLYPH
from mibound.estimators.neural import NeuralEstimator
from mibound.experiments._common import RunTable, save_figure, settings_for, write_metadata
from mibound.experiments.infomin import _probe, _split, load_digits_pool
from mibound.images.colorflow import ColorFlow, InfoMinRun
from mibound.images.colorspaces import channel_split, rgb_to
from mibound.images.photographs import PHOTOGRAPHS, load_photographs
from mibound.inputs.checks import check_choice, require
from mibound.inputs.files import atomic_write_text
from mibound.neural.critics import SeparableCritic, mlp
from mibound.neural.engine import torch_threads, train

__all__ = ["run", "QUICK", "FULL", "FORMS", "FIXED_SPLITS", "train_generator", "summarize"]

#: the two forms of the generator's objective
FORMS = ("unsupervised", "semi-supervised")
#: fixed colour splits (:func:`mibound.images.colorspaces.rgb_to`): channel 0 of the space against channels 1 and 2
FIXED_SPLITS = {"rgb": "RGB: R | GB", "lab": "Lab: L | ab", "ycbcr": "YCbCr: Y | CbCr"}
#: the two views: output channel 0 against output channels 1 and 2
GROUPS = ((0,), (1, 2))

QUICK = dict(forms=FORMS, splits=tuple(FIXED_SPLITS), n_seeds=1, n_digits=600, test_fraction=0.33, batch_size=64,
             gen_batch_size=64, gen_steps=60, warmup_steps=10, gen_learning_rate=2e-3, blocks=2, flow_hidden=16,
             critic_hidden=64, head_hidden=32, label_weight=5.0, eval_steps=60, eval_learning_rate=1e-3,
             eval_hidden=64, embed_dim=16, temperature=0.2, eval_batches=4, eval_readout_k=128, log_every=10,
             glyph_contrast=0.4, texture_contrast=0.12, noise_sigma=0.02, photographs=("astronaut",),
             photo_downsample=4, photo_gen_steps=40, photo_eval_steps=40, num_threads=1)
FULL = dict(forms=FORMS, splits=tuple(FIXED_SPLITS), n_seeds=3, n_digits=None, test_fraction=0.33, batch_size=64,
            gen_batch_size=256, gen_steps=1200, warmup_steps=200, gen_learning_rate=2e-3, blocks=2, flow_hidden=16,
            critic_hidden=128, head_hidden=64, label_weight=5.0, eval_steps=1000, eval_learning_rate=1e-3,
            eval_hidden=128, embed_dim=16, temperature=0.2, eval_batches=16, eval_readout_k=512, log_every=25,
            glyph_contrast=0.4, texture_contrast=0.12, noise_sigma=0.02,
            photographs=("astronaut", "chelsea", "coffee", "rocket"), photo_downsample=4, photo_gen_steps=1000,
            photo_eval_steps=800, num_threads=1)


# ---------------------------------------------------------------------------------------------
# image sources and view pairs
# ---------------------------------------------------------------------------------------------
class _PhotoPatches:
    """``8 x 8`` RGB patches of scikit-image photographs (downsampled), from a band of rows of each."""

    def __init__(self, names, downsample: int, rows: tuple[float, float]):
        self.photos = []
        for a in load_photographs(names):  # (3, H, W) in [0, 1]
            h, w = (a.shape[1] // downsample) * downsample, (a.shape[2] // downsample) * downsample
            a = a[:, :h, :w].reshape(3, h // downsample, downsample, w // downsample, downsample).mean((2, 4))
            lo, hi = int(rows[0] * a.shape[1]), int(rows[1] * a.shape[1])
            self.photos.append(torch.as_tensor(a[:, lo:hi]).contiguous())
        self.shape = (3, GLYPH, GLYPH)

    def draw(self, n: int, generator: torch.Generator, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        which = torch.randint(0, len(self.photos), (n,), generator=generator)
        out = torch.empty(n, 3, GLYPH, GLYPH, dtype=torch.float64)
        for k, p in enumerate(self.photos):
            rows = (which == k).nonzero().flatten()
            if rows.numel():
                i = torch.randint(0, p.shape[1] - GLYPH + 1, (rows.numel(),), generator=generator)
                j = torch.randint(0, p.shape[2] - GLYPH + 1, (rows.numel(),), generator=generator)
                r = torch.arange(GLYPH)
                out[rows] = p[:, (i[:, None] + r)[:, :, None], (j[:, None] + r)[:, None, :]].permute(1, 0, 2, 3)
        return out.to(dtype), torch.zeros(n, dtype=torch.long)


class _ViewPairs(Sampler):
    """The views :data:`GROUPS` of ``transform(images)`` (three channels), each channel standardised by ``stats``."""

    exact = False  # no ground truth: fit_sampler reports no error

    def __init__(self, source, transform, stats: tuple[torch.Tensor, torch.Tensor] | None = None, seed: int = 0):
        self.source, self.transform = source, transform
        if stats is None:
            imgs, _ = source.draw(2048, torch.Generator().manual_seed(seed))
            z = self._channels(imgs)
            stats = (z.mean((0, 2, 3), keepdim=True), z.std((0, 2, 3), keepdim=True).clamp_min(1e-8))
        self.stats = stats
        self.shape_x, self.shape_y = (1, GLYPH, GLYPH), (2, GLYPH, GLYPH)
        self.dim_x, self.dim_y = GLYPH * GLYPH, 2 * GLYPH * GLYPH

    @torch.no_grad()
    def _channels(self, images: torch.Tensor) -> torch.Tensor:
        return self.transform(images.float()).double()

    def views(self, images: torch.Tensor, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        v1, v2 = channel_split((self._channels(images) - self.stats[0]) / self.stats[1], GROUPS)
        return v1.flatten(1).to(dtype), v2.flatten(1).to(dtype)

    def mutual_information(self) -> float:
        raise NotImplementedError("learned and colour-split views of images have no exact MI")

    def _sample_torch(self, n, generator, dtype):
        imgs, _ = self.source.draw(n, generator)
        return self.views(imgs, dtype)


# ---------------------------------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------------------------------
def train_generator(source, form: str, cfg: dict, seed: int, n_classes: int = 10,
                    progress: bool = False) -> tuple[ColorFlow, pd.DataFrame]:
    """Train a :class:`ColorFlow` adversarially on images of ``source``; return it (frozen) and its trajectory.

    Parameters
    ----------
    source : object with ``draw(n, generator) -> (images (n, 3, 8, 8), labels (n,))``
    form : {"unsupervised", "semi-supervised"}
    cfg : dict
        ``gen_steps, warmup_steps, gen_learning_rate, gen_batch_size, blocks, flow_hidden, critic_hidden, head_hidden,
        label_weight, log_every``.
    seed : int

    Returns
    -------
    flow : ColorFlow
        In eval mode, parameters frozen.
    trajectory : DataFrame
        ``step, infonce_train`` (the training critic's InfoNCE, nats, a lower bound at
        ``K = gen_batch_size``), ``log_det`` (mean log-determinant per image, nats), ``label_ce``.
    """
    form = check_choice(form, FORMS, "form")
    k = cfg["gen_batch_size"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        flow = ColorFlow(3, blocks=cfg["blocks"], hidden=cfg["flow_hidden"])
        d1, d2 = GLYPH * GLYPH, 2 * GLYPH * GLYPH
        critic = SeparableCritic(d1, d2, hidden_dim=cfg["critic_hidden"], layers=2, embed_dim=32)
        heads = None
        if form == "semi-supervised":
            heads = (mlp(d1, [cfg["head_hidden"]], n_classes), mlp(d2, [cfg["head_hidden"]], n_classes))
    runs = InfoMinRun(flow, critic, (3, GLYPH, GLYPH), first=(0,), heads=heads, label_weight=cfg["label_weight"],
                      warmup_steps=cfg["warmup_steps"], label=f"infomin ({form})")
    gen = torch.Generator().manual_seed(seed + 7919)

    def next_batch(step: int):
        imgs, labels = source.draw(k, gen)
        return imgs.flatten(1), labels

    steps = cfg["gen_steps"]
    hist = train(runs, next_batch, steps, learning_rate=cfg["gen_learning_rate"], lr_schedule="constant",
                 log_every=cfg["log_every"], progress=progress, desc=f"generator ({form})")
    trace = torch.stack(runs.trace)[hist["step"]]
    traj = pd.DataFrame({"step": hist["step"].numpy() + 1, "infonce_train": hist["value"][:, 0].numpy(),
                         "log_det": trace[:, 0].numpy(), "label_ce": trace[:, 1].numpy()})
    if not np.isfinite(traj["log_det"]).all():
        raise RuntimeError(f"the colour flow's log-determinant left the finite range during training ({form})")
    flow.eval()
    flow.requires_grad_(False)
    return flow, traj


# ---------------------------------------------------------------------------------------------
# the evaluation of one view pair
# ---------------------------------------------------------------------------------------------
def _evaluate_views(train_views: _ViewPairs, test_views: _ViewPairs, probe_sets, cfg: dict, seed: int,
                    steps: int) -> dict:
    """Contrastive encoders on the views (fixed budget); held-out InfoNCE and, with ``probe_sets``, the probe."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic = SeparableCritic(train_views.dim_x, train_views.dim_y, hidden_dim=cfg["eval_hidden"], layers=2,
                                 embed_dim=cfg["embed_dim"], cosine=True, temperature=cfg["temperature"])
    k, k_eval = cfg["batch_size"], cfg["eval_readout_k"]
    est = NeuralEstimator("infonce", critic=critic, batch_size=k, steps=steps, seed=seed, progress=False,
                          learning_rate=cfg["eval_learning_rate"], eval_batches=cfg["eval_batches"],
                          eval_batch_size=k_eval, lr_schedule="constant", log_every=cfg["log_every"])
    res = est.fit_sampler(train_views, held_out=test_views).result_
    acc = float("nan")
    if probe_sets is not None:
        critic.eval()
        (xtr, ytr), (xte, yte) = probe_sets
        with torch.no_grad():
            feats = [torch.cat([critic.g[:-1](a), critic.h[:-1](b)], 1).numpy()
                     for a, b in (train_views.views(xtr), test_views.views(xte))]
        acc = _probe(feats[0], ytr.numpy(), feats[1], yte.numpy())
    return {"infonce": res.estimate, "ci_low": res.ci[0], "ci_high": res.ci[1], "ceiling": math.log(k_eval),
            "K": k_eval, "train_K": k,
            "eval_steps": steps, "probe_accuracy": acc}


# ---------------------------------------------------------------------------------------------
# summary and figure
# ---------------------------------------------------------------------------------------------
def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Per ``(dataset, views)``: mean / sd of the held-out InfoNCE and of the probe accuracy over seeds."""
    g = frame.groupby(["dataset", "views"], sort=False)
    return g.agg(kind=("kind", "first"), infonce_mean=("infonce", "mean"), infonce_sd=("infonce", "std"),
                 probe_accuracy_mean=("probe_accuracy", "mean"), probe_accuracy_sd=("probe_accuracy", "std"),
                 ceiling=("ceiling", "first"), n_seeds=("seed", "nunique")).reset_index()


def _plot(frame: pd.DataFrame, traj: pd.DataFrame, summary: pd.DataFrame, gen_k: int, warmup: int = 0):
    from mibound.experiments.plotting import _mpl

    plt, sns = _mpl()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), gridspec_kw={"width_ratios": [1.3, 1.1, 0.9]})
    colors = dict(zip(["learned (unsupervised)", "learned (semi-supervised)", *FIXED_SPLITS.values()],
                      sns.color_palette("deep", 2 + len(FIXED_SPLITS))))
    styles = {"digits": "-", "photographs": "--"}
    ax = axes[0]
    for (dataset, form), grp in traj.groupby(["dataset", "form"], sort=False):
        name = f"learned ({form})"
        for seed, g in grp.groupby("seed"):
            ax.plot(g["step"], g["infonce_train"], styles.get(dataset, "-"), color=colors[name], lw=0.6, alpha=0.3)
            ax.plot(g["step"], g["infonce_train"].rolling(5, min_periods=1, center=True).mean(),
                    styles.get(dataset, "-"), color=colors[name], lw=1.5,
                    label=f"{dataset}: {form} (rolling mean of 5 records)" if seed == grp["seed"].min() else None)
    ax.axhline(math.log(gen_k), color="black", ls=":", lw=1, label=f"log K = {math.log(gen_k):.2f} (K = {gen_k})")
    if warmup:
        ax.axvline(warmup, color="0.4", ls="--", lw=0.8, label=f"end of the critic's warm-up (step {warmup})")
    ax.set_xlabel("generator step")
    ax.set_ylabel("training critic's InfoNCE (nats; lower bound at K)")
    ax.set_title("(a) I(v1; v2) of the learned views during training")
    ax.legend(fontsize=7)

    ceiling = float(frame["ceiling"].iloc[0])
    ax = axes[1]
    dig = summary[summary["dataset"] == "digits"]
    for _, row in dig.iterrows():
        pts = frame[(frame["dataset"] == "digits") & (frame["views"] == row["views"])]
        ax.scatter(pts["infonce"], pts["probe_accuracy"], color=colors.get(row["views"], "0.5"), s=14, alpha=0.4)
        ax.errorbar(row["infonce_mean"], row["probe_accuracy_mean"], xerr=np.nan_to_num(row["infonce_sd"]),
                    yerr=np.nan_to_num(row["probe_accuracy_sd"]), fmt="o" if row["kind"] == "learned" else "s", ms=7,
                    color=colors.get(row["views"], "0.5"), capsize=2,
                    label=f"{row['views']}: acc {row['probe_accuracy_mean']:.3f}, I >= {row['infonce_mean']:.2f}")
    ax.axvline(ceiling, color="black", ls=":", lw=1, label=f"log K = {ceiling:.2f} (readout K)")
    ax.set_xlabel("held-out InfoNCE of the view pair (nats; lower bound at K)")
    ax.set_ylabel("linear-probe accuracy (held-out digits)")
    ax.set_title("(b) coloured digits: probe accuracy vs estimated I(v1; v2)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)

    ax = axes[2]
    ph = summary[summary["dataset"] == "photographs"]
    if len(ph):
        ax.barh(ph["views"], ph["infonce_mean"], xerr=np.nan_to_num(ph["infonce_sd"]),
                color=[colors.get(v, "0.5") for v in ph["views"]])
        ax.axvline(ceiling, color="black", ls=":", lw=1, label=f"log K = {ceiling:.2f}")
        ax.legend(fontsize=7)
    ax.set_xlabel("held-out InfoNCE (nats; lower bound at K)")
    ax.set_title("(c) photograph patches (unsupervised)")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# the experiment
# ---------------------------------------------------------------------------------------------
def _check(cfg: dict) -> None:
    if not cfg["forms"] and not cfg["splits"]:
        raise ValueError("nothing to run: forms and splits are both empty")
    for f in cfg["forms"]:
        check_choice(f, FORMS, "form")
    for s in cfg["splits"]:
        check_choice(s, FIXED_SPLITS, "split")
    for p in cfg["photographs"]:
        if p not in PHOTOGRAPHS:
            raise ValueError(f"unknown photograph {p!r}; valid: {', '.join(PHOTOGRAPHS)}")
    if int(cfg["n_seeds"]) < 1:
        raise ValueError(f"n_seeds must be >= 1, got {cfg['n_seeds']}")
    if not 0.0 < float(cfg["test_fraction"]) < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {cfg['test_fraction']}")


def run(out="results/infomin-learn", quick: bool = True, seed: int = 0, progress: bool = True, resume: bool = False,
        **overrides) -> pd.DataFrame:
    """Learn InfoMin views (both forms) and compare them with fixed colour splits; write CSVs, metadata, figure.

    Returns the tidy evaluation table (``infomin_learn.csv``).
    """
    cfg = settings_for("infomin-learn", quick, overrides, QUICK, FULL)
    _check(cfg)
    require("flow", "the infomin-learn experiment")  # before anything is written
    if cfg["photographs"]:
        require("images", "the infomin-learn experiment's photographs")
    from threadpoolctl import threadpool_limits

    with torch_threads(cfg["num_threads"]), threadpool_limits(limits=cfg["num_threads"]):
        return _run(Path(out), quick, seed, progress, resume, cfg)


def _digit_sources(cfg: dict, seed: int):
    images, labels = load_digits_pool()
    if cfg["n_digits"] is not None:
        keep = np.random.default_rng(seed).permutation(len(images))[:int(cfg["n_digits"])]
        images, labels = images[np.sort(keep)], labels[np.sort(keep)]
    tr, te = _split(len(images), cfg["test_fraction"], seed)
    opts = dict(glyph_contrast=cfg["glyph_contrast"], texture_contrast=cfg["texture_contrast"],
                noise_sigma=cfg["noise_sigma"])
    train_src, test_src = ColorDigits(images[tr], labels[tr], **opts), ColorDigits(images[te], labels[te], **opts)
    gen = torch.Generator().manual_seed(seed + 104729)  # one rendering of every digit for the probe
    probe = ((train_src.render(np.arange(len(tr)), gen), train_src.labels),
             (test_src.render(np.arange(len(te)), gen), test_src.labels))
    return train_src, test_src, probe


def _run(out: Path, quick: bool, seed: int, progress: bool, resume: bool, cfg: dict) -> pd.DataFrame:
    from tqdm.auto import tqdm

    out.mkdir(parents=True, exist_ok=True)
    (out / "flows").mkdir(exist_ok=True)
    started = time.time()
    table = RunTable(out / "infomin_learn.csv", key=("dataset", "views", "seed"), resume=resume)
    traj_table = RunTable(out / "infomin_learn_trajectory.csv", key=("dataset", "form", "seed"), resume=resume)
    seeds = [seed + r for r in range(int(cfg["n_seeds"]))]
    datasets = ["digits"] + (["photographs"] if cfg["photographs"] else [])
    jobs = [(d, r) for r in seeds for d in datasets]
    for dataset, r in tqdm(jobs, desc="infomin-learn", disable=not progress):
        if dataset == "digits":
            train_src, test_src, probe = _digit_sources(cfg, r)
            forms, gen_steps, eval_steps = cfg["forms"], cfg["gen_steps"], cfg["eval_steps"]
        else:
            train_src = _PhotoPatches(cfg["photographs"], cfg["photo_downsample"], (0.0, 2 / 3))
            test_src = _PhotoPatches(cfg["photographs"], cfg["photo_downsample"], (2 / 3, 1.0))
            probe = None
            forms = [f for f in cfg["forms"] if f == "unsupervised"]
            gen_steps, eval_steps = cfg["photo_gen_steps"], cfg["photo_eval_steps"]
        pairs = {}
        for form in forms:
            views = f"learned ({form})"
            path = out / "flows" / f"{dataset}_{form.replace('-', '_')}_seed{r}.pt"
            if table.done(dataset=dataset, views=views, seed=r):
                continue
            if resume and path.exists() and traj_table.done(dataset=dataset, form=form, seed=r):
                flow = ColorFlow(3, blocks=cfg["blocks"], hidden=cfg["flow_hidden"])
                flow.load_state_dict(torch.load(path))
                flow.eval().requires_grad_(False)
            else:
                flow, traj = train_generator(train_src, form, {**cfg, "gen_steps": gen_steps}, r, progress=progress)
                torch.save(flow.state_dict(), path)
                traj_table.append(traj.assign(dataset=dataset, form=form, seed=r)[
                    ["dataset", "form", "seed", "step", "infonce_train", "log_det", "label_ce"]])
            pairs[views] = ("learned", lambda x, f=flow: f(x)[0])
        for split in cfg["splits"]:
            pairs[FIXED_SPLITS[split]] = ("fixed", lambda x, s=split: rgb_to(x, s))
        for views, (kind, transform) in pairs.items():
            if table.done(dataset=dataset, views=views, seed=r):
                continue
            train_views = _ViewPairs(train_src, transform, seed=r)
            test_views = _ViewPairs(test_src, transform, stats=train_views.stats)
            row = _evaluate_views(train_views, test_views, probe, cfg, r + 1, eval_steps)
            table.append(pd.DataFrame([{"dataset": dataset, "views": views, "kind": kind, **row, "seed": r}]))

    frame = table.frame[table.frame["seed"].isin(seeds)].reset_index(drop=True)
    traj = traj_table.frame[traj_table.frame["seed"].isin(seeds)].reset_index(drop=True)
    summary = summarize(frame)
    atomic_write_text(out / "infomin_learn_summary.csv", summary.to_csv(index=False))
    save_figure(_plot(frame, traj, summary, cfg["gen_batch_size"], cfg["warmup_steps"]), out, "infomin_learn")
    write_metadata(out, "infomin-learn", {**cfg, "seed": seed, "quick": quick,
                                          "infonce": "held-out InfoNCE of a contrastive encoder trained on the "
                                                     "views (lower bound on I(v1; v2) at K, capped at log K)",
                                          "trajectory": "training critic's InfoNCE on training batches "
                                                        "(lower bound at K; not held out)"}, started)
    return frame
