"""The staircase of Poole et al. (2019), Fig. 2.

A critic is trained on fresh correlated-Gaussian batches (``d = 20``, ``K = 64``) whose true MI
steps up ``2 -> 4 -> 6 -> 8 -> 10`` nats; every step's reported estimate is recorded. The
analytic optimal critic ``log p(y|x) - log p(y)`` is read on the same kind of batches with no
training, which isolates each bound's own looseness (InfoNCE is pinned under ``log K``).

Outputs (in ``out``): ``staircase.csv`` (one row per step, estimator and critic; columns
``step, estimator, critic, true_mi, estimate, batch_size, seed, status``; a run whose training
diverges keeps its steps before the divergence, with ``status = "diverged at step N"``), ``staircase_summary.csv``
(bias, variance and MSE per estimator and MI level, over the second half of each level),
``metadata.json`` and ``staircase.png`` / ``.svg``.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mibound.data.gaussian import CorrelatedGaussian
from mibound.experiments._common import RunTable, save_figure, settings_for, write_metadata
from mibound.neural import engine
from mibound.neural.critics import GaussianOptimalCritic, make_critic
from mibound.neural.objectives import Loss
from mibound.neural.stacking import train_ensemble
from mibound.results import TrainingDiverged

__all__ = ["run", "QUICK", "FULL", "summarize"]

QUICK = dict(dim=20, batch_size=64, levels=(2.0, 4.0, 6.0, 8.0, 10.0), steps_per_level=800,
             estimators=("infonce", "nwj", "mine", "smile"), critics=("separable",), learning_rate=5e-4,
             lr_schedule="constant", ensemble=True)  # constant: the MI level changes during training
FULL = dict(dim=20, batch_size=64, levels=(2.0, 4.0, 6.0, 8.0, 10.0), steps_per_level=4000,
            estimators=("infonce", "nwj", "js", "dv", "mine", "smile", "tuba"), critics=("separable", "concat"),
            learning_rate=5e-4, lr_schedule="constant", ensemble=True)


class _StepStream:
    """Fresh batches whose MI level is set by the step: level ``step // steps_per_level``."""

    def __init__(self, dim, levels, steps_per_level, batch_size, seed):
        self.samplers = [CorrelatedGaussian.from_mi(m, dim) for m in levels]
        self.spl, self.k = steps_per_level, batch_size
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, step):
        return self.samplers[step // self.spl].sample_torch(self.k, self.gen)


def _optimal_run(cfg, seed) -> np.ndarray:
    """InfoNCE with the analytic optimal critic of each level, on fresh batches (no training)."""
    out = []
    stream = _StepStream(cfg["dim"], cfg["levels"], cfg["steps_per_level"], cfg["batch_size"], seed)
    loss = Loss("infonce", cfg["dim"])
    for lvl, sampler in enumerate(stream.samplers):
        critic = GaussianOptimalCritic(sampler.covariance(), cfg["dim"])
        hist = engine.train(engine.SingleRun(critic, loss),
                            lambda s: sampler.sample_torch(cfg["batch_size"], stream.gen), cfg["steps_per_level"],
                            progress=False, record_every_step=True)
        out.append(hist["value"][:, 0].numpy())
    return np.concatenate(out)


def summarize(frame: pd.DataFrame, steps_per_level: int) -> pd.DataFrame:
    """Bias, variance and MSE per (estimator, critic, true MI) over the second half of each level."""
    f = frame[(frame["step"] % steps_per_level) >= steps_per_level // 2]
    g = f.groupby(["estimator", "critic", "true_mi"], sort=False)["estimate"]
    s = g.agg(mean="mean", variance="var").reset_index()
    s["bias"] = s["mean"] - s["true_mi"]
    s["mse"] = s["bias"] ** 2 + s["variance"]
    return s[["estimator", "critic", "true_mi", "mean", "bias", "variance", "mse"]]


def run(out="results/staircase", quick: bool = True, seed: int = 0, progress: bool = True,
        resume: bool = False, **overrides) -> pd.DataFrame:
    """Run the staircase and write its CSVs, metadata and figure to ``out``.

    Parameters
    ----------
    out : path
    quick : bool, default True
        ``QUICK`` settings (4 estimators, separable critic, 800 steps per level: about a minute
        on 2 cores) or ``FULL`` (Poole et al.: 4000 steps per level, 7 estimators, 2 critics).
    seed : int
    progress : bool
    resume : bool
        Keep the runs already in ``out/staircase.csv`` and do only the rest.
    **overrides
        Replace any setting of ``QUICK`` / ``FULL`` (e.g. ``steps_per_level=200``). With
        ``ensemble=True`` (the default) the estimators of one critic are trained together by
        :func:`mibound.neural.stacking.train_ensemble` on the same batches they would see one by one
        (same seeds, same initial weights: the same runs, in one vectorised pass).

    Returns
    -------
    DataFrame
        The per-step table (also written to ``staircase.csv``).
    """
    from mibound.experiments.plotting import plot_staircase

    cfg = settings_for("staircase", quick, overrides, QUICK, FULL)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    table = RunTable(out / "staircase.csv", key=("estimator", "critic"), resume=resume)
    total = cfg["steps_per_level"] * len(cfg["levels"])
    step = np.arange(total)
    true = np.repeat(np.asarray(cfg["levels"], dtype=float), cfg["steps_per_level"])

    def rows(est, critic, values, status="ok"):
        n = len(values)
        return pd.DataFrame({"step": step[:n], "estimator": est, "critic": critic, "true_mi": true[:n],
                             "estimate": values, "batch_size": cfg["batch_size"], "seed": seed, "status": status})

    runs = [(e, c) for c in cfg["critics"] for e in cfg["estimators"]]

    def build(i, est, critic_name):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1000 * i)
            return make_critic(critic_name, cfg["dim"], cfg["dim"]), Loss(est, cfg["dim"])

    def stream():
        return _StepStream(cfg["dim"], cfg["levels"], cfg["steps_per_level"], cfg["batch_size"], seed + 1)

    pending = [(i, est, c) for i, (est, c) in enumerate(runs) if not table.done(estimator=est, critic=c)]
    if cfg["ensemble"]:
        for critic_name in cfg["critics"]:
            group = [(i, est) for i, est, c in pending if c == critic_name]
            if not group:
                continue
            built = [build(i, est, critic_name) for i, est in group]
            shared = stream()  # every run sees the batches it would see alone

            def batch(step, shared=shared, r=len(group)):
                x, y = shared(step)
                return x.expand(r, -1, -1), y.expand(r, -1, -1)

            hists = train_ensemble([c for c, _ in built], [l for _, l in built], batch, total,
                                   learning_rate=cfg["learning_rate"], lr_schedule=cfg["lr_schedule"],
                                   progress=progress, record_every_step=True,
                                   desc=f"{len(group)} estimators / {critic_name}", on_diverge="record")
            for (_, est), hist in zip(group, hists):
                ok = torch.isfinite(hist["value"]) & torch.isfinite(hist["loss"])
                if bool(ok.all()):
                    table.append(rows(est, critic_name, hist["value"].numpy()))
                else:  # keep the steps before it, flagged; the other runs are unaffected
                    bad = int((~ok).nonzero()[0])
                    warnings.warn(f"{est}/{critic_name} training diverged: non-finite loss at step {bad}",
                                  RuntimeWarning, stacklevel=2)
                    table.append(rows(est, critic_name, hist["value"][:bad].numpy(), status=f"diverged at step {bad}"))
    else:
        for i, est, critic_name in pending:
            critic, loss = build(i, est, critic_name)
            try:
                hist = engine.train(engine.SingleRun(critic, loss), stream(), total, learning_rate=cfg["learning_rate"],
                                    lr_schedule=cfg["lr_schedule"], progress=progress, record_every_step=True,
                                    desc=f"[{i + 1}/{len(runs)}] {est}/{critic_name}")
                table.append(rows(est, critic_name, hist["value"][:, 0].numpy()))
            except TrainingDiverged as exc:  # keep the steps before it, flagged; the other runs go on
                warnings.warn(str(exc), RuntimeWarning, stacklevel=2)
                table.append(rows(est, critic_name, exc.partial["value"].numpy(),
                                  status=f"diverged at step {exc.step}"))
    if not table.done(estimator="infonce", critic="optimal"):
        table.append(rows("infonce", "optimal", _optimal_run(cfg, seed + 2)))

    frame = table.frame
    summary = summarize(frame, cfg["steps_per_level"])
    buf = summary.to_csv(index=False)
    from mibound.inputs.files import atomic_write_text

    atomic_write_text(out / "staircase_summary.csv", buf)
    fig = plot_staircase(frame, cfg["batch_size"])
    save_figure(fig, out, "staircase")
    write_metadata(out, "staircase", {**cfg, "seed": seed, "quick": quick}, started)
    return frame
