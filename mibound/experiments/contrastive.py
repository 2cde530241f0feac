"""A SimCLR-style learner watched live: ``I(v1; v2) >= I(z1; z2) >= held-out InfoNCE``, ``log K - L <= log K``.

A small MLP encoder (shared by both views, cosine similarity at a temperature, InfoNCE over the
batch) trains on CPU under :class:`mibound.monitor.ContrastiveMonitor`, which reads a held-out
probe set 20 times a run:

- ``grf``: two 8x8 crops of one Gaussian random field at a horizontal offset, plus pixel noise
  (:class:`~mibound.data.GaussianRandomFieldCrops`), so ``I(v1; v2)`` is exact; fresh pairs every
  step; two batch sizes ``K`` (``ks``). At the small ``K`` the training bound ``log K - L`` runs
  into ``log K`` while ``I(z1; z2)`` (``gcmi`` on the probe embeddings) and the held-out bound at
  ``K_probe`` keep rising: the ``saturated`` diagnostic says "raise K".
- ``digits``: scikit-learn's 8x8 digits, two SimCLR augmentations of each image
  (:class:`mibound.views.Augment`: resized crop, brightness/contrast jitter, pixel noise). No
  ground truth: ``I(v1; v2)`` is a ``gcmi`` estimate on the pixels of every augmented pair (the
  training pool and the probe), and a linear probe's
  accuracy (logistic regression on ``z1`` of half the probe images, scored on the other half) is
  recorded beside the information, the InfoMin reading (Tian et al. 2020). The training pairs are
  ``augment_rounds`` augmentations of each training image drawn once (the augmentations run in
  numpy, 1 ms per pair); the probe images are never trained on.

Outputs: ``contrastive.csv`` (the monitors' tidy tables: ``views, K_train, seed, step, quantity,
value, ci_low, ci_high, kind, K, estimator``), ``contrastive_diagnostics.csv``, ``metadata.json``,
``contrastive.png``/``.svg`` (one panel per run). Finished runs are appended atomically; with
``resume=True`` they are skipped.

References
----------
Chen, Kornblith, Norouzi & Hinton (2020), "A Simple Framework for Contrastive Learning of Visual
Representations", ICML. Tian, Sun, Poole, Krishnan, Schmid & Isola (2020), "What Makes for Good
Views for Contrastive Learning?", NeurIPS.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mibound.data.images import GaussianRandomFieldCrops
from mibound.experiments._common import RunTable, save_figure, settings_for, write_metadata
from mibound.inputs.files import atomic_write_text
from mibound.monitor import ContrastiveMonitor

__all__ = ["run", "QUICK", "FULL", "grf_views", "train_contrastive"]

QUICK = dict(views=("grf", "digits"), ks=(8, 256), steps=600, digits_steps=600, digits_k=128, n_probe=2048,
             hidden=128, out_dim=16, temperature=0.1, learning_rate=3e-3, seeds=(0,), augment_rounds=4)
FULL = dict(views=("grf", "digits"), ks=(8, 256), steps=4000, digits_steps=3000, digits_k=256, n_probe=4096,
            hidden=256, out_dim=32, temperature=0.1, learning_rate=1e-3, seeds=(0, 1), augment_rounds=16)


def grf_views() -> GaussianRandomFieldCrops:
    """8x8 crops two pixels apart on a 16x16 window of a 32x32 torus, noise 0.3: about 31.9 nats shared."""
    return GaussianRandomFieldCrops(image_size=16, crop_size=8, offset=(0, 2), noise=0.3, torus_size=32)


def _encoder(dim_in: int, hidden: int, out_dim: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(dim_in, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, out_dim))


def train_contrastive(encoder: torch.nn.Module, batches, steps: int, monitor: ContrastiveMonitor,
                      temperature: float, learning_rate: float, progress=None) -> ContrastiveMonitor:
    """SimCLR-style training (shared encoder, cosine / temperature, InfoNCE over ``K`` pairs) under ``monitor``.

    ``batches()`` returns the next ``(x, y)`` of ``K`` positive pairs.
    """
    opt = torch.optim.Adam(encoder.parameters(), lr=learning_rate)
    for _ in range(steps):
        x, y = batches()
        z1 = torch.nn.functional.normalize(encoder(x), dim=1)
        z2 = torch.nn.functional.normalize(encoder(y), dim=1)
        logits = z1 @ z2.T
        labels = torch.arange(x.shape[0])
        loss = torch.nn.functional.cross_entropy(logits / temperature, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        monitor.update(loss, k=x.shape[0])
        if progress is not None:
            progress.update(1)
    monitor.close(figure=False)
    return monitor


def _grf_run(cfg: dict, k: int, seed: int, progress) -> ContrastiveMonitor:
    sampler = grf_views()
    f = _encoder(sampler.dim_x, cfg["hidden"], cfg["out_dim"], seed)
    mon = ContrastiveMonitor.from_sampler(sampler, n_probe=cfg["n_probe"], probe_seed=10_000 + seed, encoder=f,
                                          temperature=cfg["temperature"], total_steps=cfg["steps"], seed=seed)
    gen = torch.Generator().manual_seed(seed)
    return train_contrastive(f, lambda: sampler.sample_torch(k, gen), cfg["steps"], mon, cfg["temperature"],
                             cfg["learning_rate"], progress)


def _digits_run(cfg: dict, seed: int, progress) -> ContrastiveMonitor:
    from sklearn.linear_model import LogisticRegression

    from mibound.experiments.infomin import load_digits_pool
    from mibound.images.views import Augment, augment_pairs

    images, labels = load_digits_pool()
    images = images[:, None]  # (n, 1, 8, 8)
    perm = np.random.default_rng(seed).permutation(len(images))
    n_probe = min(cfg["n_probe"], 600)
    probe_idx, train_idx = perm[:n_probe], perm[n_probe:]
    aug = Augment(size=8, scale=(0.3, 1.0), flip=0.0, brightness=0.4, contrast=0.4, saturation=0.0, hue=0.0,
                  noise=0.05)
    rng = np.random.default_rng(seed + 1)
    pairs = [augment_pairs(images[train_idx], aug, seed=rng) for _ in range(cfg["augment_rounds"])]
    tx = torch.from_numpy(np.concatenate([p[0] for p in pairs]))
    ty = torch.from_numpy(np.concatenate([p[1] for p in pairs]))
    probe = augment_pairs(images[probe_idx], aug, seed=rng)
    probe_labels = labels[probe_idx]
    half = n_probe // 2

    def linear_probe(z1, z2) -> float:
        """Accuracy of a logistic regression on ``z1`` of half the probe images, scored on the other half."""
        z = z1.numpy()
        clf = LogisticRegression(max_iter=500).fit(z[:half], probe_labels[:half])
        return float(clf.score(z[half:], probe_labels[half:]))

    # I(v1;v2) has no ground truth here: gcmi on the pixels of every augmented pair (the training pool and the
    # probe; no model is involved), far more rows than the probe's alone for its 64 + 64 columns
    from mibound.registry import make_estimator

    pool_x = np.concatenate([tx.reshape(len(tx), -1).numpy(), probe[0].reshape(n_probe, -1)])
    pool_y = np.concatenate([ty.reshape(len(ty), -1).numpy(), probe[1].reshape(n_probe, -1)])
    mi_views = make_estimator("gcmi", n_subsamples=20, seed=seed).fit(pool_x, pool_y).result_
    k = cfg["digits_k"]
    f = _encoder(64, cfg["hidden"], cfg["out_dim"], seed)
    mon = ContrastiveMonitor(probe, encoder=f, temperature=cfg["temperature"], total_steps=cfg["digits_steps"],
                             probe_k=n_probe, metrics={"probe_accuracy": linear_probe}, mi_views=mi_views, seed=seed)
    gen = torch.Generator().manual_seed(seed)

    def batches():
        idx = torch.randint(0, tx.shape[0], (k,), generator=gen)
        return tx[idx], ty[idx]

    return train_contrastive(f, batches, cfg["digits_steps"], mon, cfg["temperature"], cfg["learning_rate"], progress)


def _plot(frame: pd.DataFrame):
    from mibound.experiments.plotting import _mpl
    from mibound.monitor.plot import plot_chain

    plt, _ = _mpl()
    runs = list(frame.groupby(["views", "K_train", "seed"], sort=False))
    runs = [r for r in runs if r[0][2] == runs[0][0][2]]  # the first seed of each setting
    fig, axes = plt.subplots(1, len(runs), figsize=(5.6 * len(runs), 4.4), squeeze=False)
    for ax, ((views, k, _), sub) in zip(axes[0], runs):
        ax.set_yscale("symlog", linthresh=2.0)  # before plot_chain, which sets the upper limit
        plot_chain(sub, ax=ax, title=f"{views}, K = {k}")
        acc = sub[sub["quantity"] == "probe_accuracy"]
        if len(acc):
            twin = ax.twinx()
            twin.plot(acc["step"], acc["value"], "s-", ms=3, color="tab:purple", label="linear probe accuracy")
            twin.set_ylim(0, 1)
            twin.set_ylabel("linear probe accuracy", color="tab:purple")
            twin.grid(False)
            twin.legend(fontsize=7, loc="lower right")
    fig.suptitle("A contrastive learner watched live: I(v1;v2) >= I(z1;z2) >= held-out InfoNCE; log K - L <= log K")
    fig.tight_layout()
    return fig


def run(out="results/contrastive", quick: bool = True, seed: int = 0, progress: bool = True, resume: bool = False,
        **overrides) -> pd.DataFrame:
    """Train the SimCLR-style encoder on each views kind (and each ``K`` for ``grf``) under the monitor; write outputs."""
    cfg = settings_for("contrastive", quick, overrides, QUICK, FULL)
    bad = set(cfg["views"]) - {"grf", "digits"}
    if bad:
        raise ValueError(f"unknown views {sorted(bad)}; valid: ['digits', 'grf']")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    table = RunTable(out / "contrastive.csv", key=("views", "K_train", "seed"), resume=resume)
    diag_path = out / "contrastive_diagnostics.csv"
    diags = pd.read_csv(diag_path) if resume and diag_path.exists() and diag_path.stat().st_size else pd.DataFrame()
    runs = [("grf", k, s) for k in cfg["ks"] for s in cfg["seeds"]] if "grf" in cfg["views"] else []
    runs += [("digits", cfg["digits_k"], s) for s in cfg["seeds"]] if "digits" in cfg["views"] else []
    from tqdm.auto import tqdm

    total = sum(cfg["steps"] if v == "grf" else cfg["digits_steps"] for v, _, _ in runs)
    bar = tqdm(total=total, desc="contrastive", disable=not progress)
    for views, k, s in runs:
        steps = cfg["steps"] if views == "grf" else cfg["digits_steps"]
        if table.done(views=views, K_train=k, seed=seed + s):
            bar.update(steps)
            continue
        mon = _grf_run(cfg, k, seed + s, bar) if views == "grf" else _digits_run(cfg, seed + s, bar)
        rows = mon.frame()
        rows.insert(0, "seed", seed + s)
        rows.insert(0, "K_train", k)
        rows.insert(0, "views", views)
        d = mon.diagnostics_frame()
        d.insert(0, "seed", seed + s)
        d.insert(0, "K_train", k)
        d.insert(0, "views", views)
        diags = d if diags.empty else pd.concat([diags, d], ignore_index=True)
        atomic_write_text(diag_path, diags.to_csv(index=False))
        table.append(rows)
    bar.close()
    frame = table.frame
    if not diag_path.exists():
        atomic_write_text(diag_path, "views,K_train,seed,step,code,message\n")
    save_figure(_plot(frame), out, "contrastive")
    write_metadata(out, "contrastive", {**cfg, "seed": seed, "quick": quick,
                                        "mi_views_grf": grf_views().mutual_information(),
                                        "log_k": {str(k): math.log(k) for k in cfg["ks"]}}, started)
    return frame
