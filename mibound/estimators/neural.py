"""Estimator classes in scikit-learn style.

Hyper-parameters are keyword arguments stored unchanged by ``__init__`` (the classes are
scikit-learn estimators: ``get_params``, ``set_params``, ``sklearn.base.clone`` and ``repr``
behave as there); ``fit(x, y)`` validates the data (:func:`mibound.inputs.pair.read_pair`: column names
kept, constant columns dropped with a ``constant_columns`` diagnostic, 0 exactly for a view without
a varying column), trains on a training split, evaluates on a held-out split and returns ``self``; fitted state ends in ``_`` (``result_``, ``critic_``,
``history_``). ``result_`` is an :class:`~mibound.results.EstimateResult`. Reading fitted state
before ``fit`` raises :class:`~mibound.results.NotFittedError`.

Every neural fit reads its batches from one :class:`~mibound.neural.plan.FitPlan` (arrays and memory
maps alike) or from seeded :class:`~mibound.neural.batches.SamplerStream` s, and is one call of
:func:`fit_critics`, the one driver of critic fits. The paths differ in a small strategy only: one
critic (:meth:`NeuralEstimator._runs`, a distributed one in
:class:`~mibound.estimators.distributed.DistributedNeuralEstimator`), or stacked runs (cross-fitting
and permutation nulls: :func:`~mibound.estimators.stacked.reordered_runs`; :func:`fit_samplers`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mibound.data.base import Sampler
from mibound.estimators.base import _Base, _mean_ci
from mibound.estimators.stacked import check_named_critic, fold_orders, fold_parts, reordered_runs
from mibound.inputs.checks import (
    IMAGE_LAYOUTS,
    check_choice,
    check_float,
    check_int,
    check_rates,
    check_seed,
    flatten_views,
)
from mibound.inputs.maps import PREPROCESS, fit_column_map
from mibound.inputs.pair import read_pair
from mibound.neural import engine
from mibound.neural.batches import SamplerStream, ShardedBatchStream
from mibound.neural.critics import CRITICS, IMAGE_CRITICS, make_critic
from mibound.neural.engine import LR_SCHEDULES, DistContext
from mibound.neural.objectives import NEURAL_ESTIMATORS, OBJECTIVES, Loss
from mibound.neural.plan import FitPlan, grouped_order
from mibound.neural.selection import RateRace, choose_rates, chosen_runs, selection_record, trained_rates
from mibound.neural.stacking import CandidateRuns, StackedRuns, shards, stack_batches
from mibound.registry import NEURAL_DEFAULTS as _N  # the signature's defaults (one source)
from mibound.results import EstimateResult, TrainingDiverged, _versions, diagnostic

__all__ = ["NeuralEstimator", "CriticFit", "fit_critics", "resolve_critic", "neural_diagnostics", "fit_samplers"]


def resolve_critic(critic: str, shape_x: tuple[int, ...], shape_y: tuple[int, ...]) -> str:
    """The critic that ``critic="auto"`` means for views of these per-sample shapes.

    ``"conv"`` (:class:`~mibound.neural.critics.ConvCritic`) when both views are images (shapes
    ``(C, H, W)``), ``"separable"`` otherwise (flat views, or an image paired with a vector,
    which the MLP critic takes flattened). Any other name is returned as it is.
    """
    if critic != "auto":
        return critic
    return "conv" if len(shape_x) == 3 and len(shape_y) == 3 else "separable"


class NeuralEstimator(_Base):
    """A variational MI estimator: a critic trained on one bound's surrogate, read out on held-out data.

    Parameters
    ----------
    estimator : {"infonce", "nwj", "dv", "mine", "tuba", "js", "smile", "alpha_infonce"}, default "infonce"
        A key of :data:`mibound.neural.objectives.OBJECTIVES`.
    critic : {"auto", "separable", "bilinear", "concat", "conv"} or nn.Module, default "auto"
        A name, or a ready module mapping ``(x (K, dx), y (K, dy))`` to scores ``(K, K)`` (e.g.
        :class:`~mibound.neural.critics.GaussianOptimalCritic`; a module without trainable parameters
        is not trained). ``"auto"`` (:func:`resolve_critic`): the convolutional critic
        (:class:`~mibound.neural.critics.ConvCritic`) when both views are images — arrays ``(n, H, W)``
        or ``(n, C, H, W)``, or a sampler whose ``view_shapes`` are ``(C, H, W)`` — and the
        separable MLP critic otherwise; ``settings["critic"]`` records the one used.
    batch_size : int, default 64
        ``K``, the pairs per score matrix (InfoNCE's ceiling is ``log K``).
    steps : int, default 2000
        Optimiser steps.
    learning_rate : float or sequence of float, default (5e-4, 1e-4)
        Adam's rate. With several rates and validation rows, one critic per rate trains on the
        same batches from the same initial critic, each picks its checkpoint on the validation
        rows, and the critic with the best validation value is the one read on the test rows
        (``settings["selection"]`` records the rate used and every rate's ``candidates``). The
        pair is a measured default: 5e-4 (Poole et al. 2019) learns high MI within ``steps``;
        1e-4 generalises better from a few thousand rows in many dimensions (SMILE on the 25+25
        sparse Gaussian of 1.02 nats: 0.76 instead of 0.69 nats). Without validation rows
        (``validation_fraction=0``, samplers) only the first rate trains. The rates race
        (:class:`~mibound.neural.selection.RateRace`): after ``min_steps`` a rate whose best validation
        value is behind the leader's by more than their validation noise, and not catching up,
        stops training (``candidates`` record each rate's ``stopped_step`` and why it ``stopped``).
    test_fraction : float, default 0.2
        Share of the samples held out for the reported estimate (at least two batches of ``K``).
    seed : int, default 0
        Seeds the critic's initialisation, the split and the batches (:class:`~mibound.neural.plan.FitPlan`).
    progress : bool, default True
        Show a progress bar while training.
    critic_options : dict, optional
        Passed to the critic's constructor (e.g. ``{"hidden_dim": 128, "cosine": True}``).
    clip : float, default 5.0
        SMILE's ``tau``.
    ema_rate : float, default 0.01
        MINE's moving-average rate.
    eval_batches : int, default 64
        Held-out batches drawn from a :class:`~mibound.data.Sampler` by :meth:`fit_sampler`.
    log_every : int, default 100
        Steps between history records, progress updates and divergence checks.
    num_threads : int, optional
        torch intra-op threads during ``fit`` (``None``: leave torch's setting). Small critics
        gain nothing from more than one; the value used is recorded in ``settings``.
    lr_schedule : {"cosine", "constant"}, default "cosine"
        Learning-rate schedule (:func:`~mibound.neural.engine.make_scheduler`): the cosine decay ends
        with small steps that bring the critic closer to its optimum on fixed data.
    validation_fraction : float, default 0.1
        Arrays (:meth:`fit`): share of the rows held out for model selection. Every
        ``log_every`` steps the critic is read on the validation rows; the fit keeps the critic of
        the best validation value (its step is ``settings["selection"]["selected_step"]``) and
        stops once ``patience`` steps bring no better one. The reported estimate comes from the
        test rows, which no choice has seen. ``0`` turns selection off (the last step's critic).
    patience : int or None, default 500
        Steps without a better validation value before training stops (``None``: train all
        ``steps``, still selecting the best validated critic).
    min_steps : int, default 300
        Never stop before this many steps.
    eval_batch_size : int, optional
        ``K`` of the validation and test readouts of arrays. Default: as many pairs as give four
        test batches per process, at least ``batch_size`` and at most 1024 — a bound read at a
        larger ``K`` is tighter (InfoNCE's ceiling is ``log K`` of the readout). Samplers
        (:meth:`fit_sampler`) read at ``batch_size`` unless this is given.
    preprocess : {"robust", "standardize", "none"}, default "robust"
        Per-column input map fitted on training rows (:func:`mibound.inputs.maps.fit_column_map`;
        strictly increasing, so the MI is unchanged): median / IQR scaling and ``asinh`` keep
        heavy tails from dominating the scores. Image views are mapped per channel (one map
        for all pixels of a channel). Arrays only; samplers are used as they are.
    weight_decay : float, default 0.0
        Decoupled weight decay (AdamW) of the critic.
    alpha : float, default 0.01
        ``alpha_infonce``'s interpolation between InfoNCE (1) and TUBA (0) (Poole et al. 2019).
    image_layout : {"auto", "channels_first"}, default "auto"
        How 4-D arrays are read (:func:`mibound.inputs.checks.image_shape`): ``"auto"`` refuses
        arrays that look channel-last (``(n, H, W, C)`` with ``C <= 4 < min(H, W)``) with the
        fix; ``"channels_first"`` takes every 4-D array as ``(n, C, H, W)``.
    folds : int, default 1
        Arrays in memory: ``folds >= 2`` cross-fits (:mod:`mibound.estimators.stacked`). The rows outside
        the validation part are cut into ``folds`` equal folds (``test_fraction`` is then not
        used); critic ``f`` trains on the other folds, picks its checkpoint on the shared
        validation rows and is read on fold ``f``. The estimate is the mean of all folds' held-out
        batches: every such row is read once, by a critic that never trained on it (nor chose
        anything on it), and each critic trains on ``(folds - 1) / folds`` of those rows instead
        of what one test part leaves, which lowers the bias of a critic short of data. The
        critics train together as one stacked ensemble (about ``folds / 2`` times one fit's
        time). ``settings["cross_fit"]`` holds each fold's estimate; ``critic_`` is fold 0's
        critic. Not for memory maps, samplers or distributed fits.

    Attributes
    ----------
    result_ : EstimateResult
    critic_ : nn.Module
    loss_ : Loss
    history_ : dict of lists
    """

    kind = "neural"
    _cross_fits = True  # folds >= 2 is possible (one process)

    def __init__(self, estimator: str = _N["estimator"], critic=_N["critic"], batch_size: int = _N["batch_size"],
                 steps: int = _N["steps"], learning_rate: float | tuple[float, ...] = _N["learning_rate"],
                 test_fraction: float = _N["test_fraction"], seed: int = _N["seed"], progress: bool = _N["progress"],
                 critic_options: dict | None = _N["critic_options"], clip: float | None = _N["clip"],
                 ema_rate: float = _N["ema_rate"], eval_batches: int = _N["eval_batches"],
                 log_every: int = _N["log_every"], num_threads: int | None = _N["num_threads"],
                 lr_schedule: str = _N["lr_schedule"], validation_fraction: float = _N["validation_fraction"],
                 patience: int | None = _N["patience"], min_steps: int = _N["min_steps"],
                 eval_batch_size: int | None = _N["eval_batch_size"], preprocess: str = _N["preprocess"],
                 weight_decay: float = _N["weight_decay"], alpha: float = _N["alpha"],
                 image_layout: str = _N["image_layout"], folds: int = _N["folds"]):
        self.estimator = estimator
        self.critic = critic
        self.batch_size = batch_size
        self.steps = steps
        self.learning_rate = learning_rate
        self.test_fraction = test_fraction
        self.seed = seed
        self.progress = progress
        self.critic_options = critic_options
        self.clip = clip
        self.ema_rate = ema_rate
        self.eval_batches = eval_batches
        self.log_every = log_every
        self.num_threads = num_threads
        self.lr_schedule = lr_schedule
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.min_steps = min_steps
        self.eval_batch_size = eval_batch_size
        self.preprocess = preprocess
        self.weight_decay = weight_decay
        self.alpha = alpha
        self.image_layout = image_layout
        self.folds = folds

    # -- validation -------------------------------------------------------------------------
    def checked_params(self) -> dict[str, Any]:
        """The hyper-parameters, checked: a dict of them (``critic`` by name), raising on a bad one."""
        p = dict(
            estimator=check_choice(self.estimator, NEURAL_ESTIMATORS, "estimator"),
            batch_size=check_int(self.batch_size, "batch_size", minimum=2),
            steps=check_int(self.steps, "steps", minimum=0),
            learning_rate=check_rates(self.learning_rate),
            test_fraction=check_float(self.test_fraction, "test_fraction", minimum=0.0, maximum=1.0,
                                      exclusive_min=True, exclusive_max=True),
            seed=check_seed(self.seed),
            eval_batches=check_int(self.eval_batches, "eval_batches", minimum=2),
            log_every=check_int(self.log_every, "log_every", minimum=1),
            lr_schedule=check_choice(self.lr_schedule, LR_SCHEDULES, "lr_schedule"),
            ema_rate=check_float(self.ema_rate, "ema_rate", minimum=0.0, maximum=1.0, exclusive_min=True,
                                 exclusive_max=True),
            clip=None if self.clip is None else check_float(self.clip, "clip", minimum=0.0, exclusive_min=True),
            validation_fraction=check_float(self.validation_fraction, "validation_fraction", minimum=0.0,
                                            maximum=1.0, exclusive_max=True),
            patience=None if self.patience is None else check_int(self.patience, "patience", minimum=1),
            min_steps=check_int(self.min_steps, "min_steps", minimum=0),
            eval_batch_size=None if self.eval_batch_size is None else check_int(self.eval_batch_size,
                                                                                "eval_batch_size", minimum=2),
            preprocess=check_choice(self.preprocess, PREPROCESS, "preprocess"),
            weight_decay=check_float(self.weight_decay, "weight_decay", minimum=0.0),
            alpha=check_float(self.alpha, "alpha", minimum=0.0, maximum=1.0),
            image_layout=check_choice(self.image_layout, IMAGE_LAYOUTS, "image_layout"),
            folds=check_int(self.folds, "folds", minimum=1),
        )
        if self.num_threads is not None:
            check_int(self.num_threads, "num_threads", minimum=1)
        if self.critic_options is not None and not isinstance(self.critic_options, dict):
            raise TypeError(f"critic_options must be a dict, got {type(self.critic_options).__name__}")
        if isinstance(self.critic, str):
            p["critic"] = check_choice(self.critic, [*CRITICS, "auto"], "critic")
        elif isinstance(self.critic, nn.Module):
            p["critic"] = type(self.critic).__name__
        else:
            raise TypeError(f"critic must be a name (auto, {', '.join(CRITICS)}) or an nn.Module, "
                            f"got {type(self.critic).__name__}")
        return p

    def build(self, p: dict[str, Any], shape_x, shape_y) -> tuple[nn.Module, Loss]:
        """The seeded critic and loss for views of per-sample shapes ``shape_x``, ``shape_y`` (ints: flat).

        Resolves ``p["critic"] == "auto"`` in place (:func:`resolve_critic`), so the settings
        record the critic that was used.
        """
        shape_x, shape_y = (tuple(s) if isinstance(s, (tuple, list)) else (int(s),) for s in (shape_x, shape_y))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(p["seed"])
            if isinstance(self.critic, nn.Module):
                critic = self.critic
            else:
                p["critic"] = resolve_critic(p["critic"], shape_x, shape_y)
                dims = (shape_x, shape_y) if p["critic"] in IMAGE_CRITICS else (math.prod(shape_x), math.prod(shape_y))
                critic = make_critic(p["critic"], *dims, **(self.critic_options or {}))
            loss = Loss(p["estimator"], math.prod(shape_y), clip=p["clip"], ema_rate=p["ema_rate"], alpha=p["alpha"])
        return critic, loss

    # -- the process context and the strategy (overridden for distributed fits) ----------------
    def _context(self):
        """The processes of the fit: one (a :class:`~mibound.neural.engine.DistContext` of size 1)."""
        return contextlib.nullcontext(DistContext())

    def _runs(self, critic: nn.Module, loss: Loss, ctx: DistContext) -> engine.Runs:
        """The training strategy: one critic in this process."""
        return engine.SingleRun(critic, loss)

    def _settings(self, ctx: DistContext, data: str, critic: nn.Module, loss: Loss, p: dict[str, Any]) -> dict[str, Any]:
        return {"data": "stream"} if data == "mmap" else {}

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, x, y, true_mi: float | None = None) -> "NeuralEstimator":
        """Train on the training rows, choose the critic on the validation rows, report on the test rows.

        Parameters
        ----------
        x : array_like, shape (n, dx), (n,), or images (n, H, W) / (n, C, H, W)
        y : array_like, shape (n, dy), (n,), or images
        true_mi : float, optional
            Known MI (nats), stored in the result for comparison.

        Image views are read as rows of ``C*H*W`` pixels (channel-first; see ``image_layout``)
        with their shapes kept for the critic (``critic="auto"`` then means the conv critic);
        the plan and the batches index rows, as for any array.

        Constant columns of arrays in memory are dropped (:func:`mibound.inputs.pair.read_pair`; a
        ``constant_columns`` diagnostic names them); a view without a varying column gives 0. The
        pixels of an image view are all kept (a constant pixel does no harm on the pixel grid).
        The split and the batches come from a :class:`~mibound.neural.plan.FitPlan` seeded by ``seed``,
        the same for arrays in memory and memory maps. Memory-mapped input
        (``np.load(path, mmap_mode="r")``) is not loaded: batches are read from it as they are
        needed (and checked as they are read), so the file may be larger than memory.

        Returns
        -------
        self
        """
        data = "mmap" if isinstance(x, np.memmap) or isinstance(y, np.memmap) else "memory"
        p = self.checked_params()  # bad parameters before bad data
        x, y, shapes = flatten_views(x, y, p["image_layout"])
        if data == "mmap":
            return self.fit_arrays(x, y, true_mi, data, shapes=shapes)
        pair = read_pair(x, y, dtype=np.float32, keep=(shapes[0] is not None, shapes[1] is not None))
        self._check_domain(pair)
        if p["preprocess"] == "none" and not pair.degenerate:
            _check_raw_scale(pair)
        if pair.degenerate:  # constant columns dropped, and said so
            self.result_ = pair.zero_result(p["estimator"], seed=p["seed"], true_mi=true_mi, settings=p)
            return self
        if pair.continuous_copies:  # copies of a row stay in one part (one fold): held out means held out
            plan = self.plans(p, pair.n)[0]
            order, straddling = grouped_order(plan, pair.row_groups, p["seed"],
                                              fold_parts(plan, p["folds"]) if p["folds"] > 1 else None)
            self.fit_arrays(pair.x[order], pair.y[order], true_mi, data, shapes=shapes)
            self.result_.settings["grouped_copies"] = {"distinct_pairs": pair.distinct_rows[2],
                                                       "straddling_groups": straddling}
        else:
            self.fit_arrays(pair.x, pair.y, true_mi, data, shapes=shapes)
        return self.annotate(pair)

    def annotate(self, pair) -> "NeuralEstimator":
        """Add what the :class:`~mibound.inputs.pair.Pair` says (dropped and discrete columns) to ``result_``."""
        self.result_.diagnostics += [d for d in pair.report().diagnostics(
            "the critic reads the values as they are: its bound is on the MI of these discrete values")
            if d["code"] == "discrete_columns"]
        pair.annotate(self.result_)
        return self

    @staticmethod
    def plans(p: dict[str, Any], n: int, world_size: int = 1) -> tuple[FitPlan, FitPlan, int]:
        """The training plan of ``n`` rows, the readout plan (the same split at ``K = k_eval``) and ``k_eval``.

        With ``folds >= 2`` the test part is one fold (see ``folds``).

        ``k_eval`` is ``eval_batch_size``, by default as many pairs as give four test batches per
        process (and at most the validation rows), at least ``batch_size`` and at most 1024.
        """
        val_batches = 1 if p["validation_fraction"] else 0
        test_fraction = p["test_fraction"]
        if p.get("folds", 1) > 1:  # one fold is the test part: floor((n - n_validation) / folds) rows
            test_fraction = ((n - int(round(n * p["validation_fraction"]))) // p["folds"]) / n
            if test_fraction == 0:
                raise ValueError(f"too few samples: n={n} cannot be cut into folds={p['folds']} folds")
        plan = FitPlan(n, p["batch_size"], p["seed"], test_fraction, p["validation_fraction"],
                       world_size).check(validation_batches=val_batches)
        held = min(plan.shard_rows("test") // 4, plan.shard_rows("validation") or plan.n)  # a validation batch too
        k_eval = p["eval_batch_size"] or min(1024, max(p["batch_size"], held))
        return plan, dataclasses.replace(plan, batch_size=k_eval).check(validation_batches=val_batches), k_eval

    def fit_arrays(self, x, y, true_mi: float | None, data: str, shapes=(None, None)) -> "NeuralEstimator":
        """:meth:`fit` of checked float32 arrays (``data="memory"``) or memory maps (``"mmap"``).

        ``shapes``: the per-sample image shapes ``(C, H, W)`` of flattened image views (``None``: flat).
        """
        p = self.checked_params()
        if p["folds"] > 1:
            if data != "memory" or not self._cross_fits:
                raise ValueError(f"folds={p['folds']} cross-fits arrays in memory in one process; memory maps and "
                                 "distributed fits take folds=1")
            return self._fit_folds(p, x, y, true_mi, shapes)
        with self._context() as ctx:
            n = len(x)
            if len(y) != n:
                raise ValueError(f"x and y must have the same number of samples (rows), got {n} and {len(y)}")
            plan, readout, k_eval = self.plans(p, n, ctx.world_size)
            rows = plan.sample_rows("train", 20_000)
            maps = tuple(fit_column_map(np.asarray(a[rows]).reshape(len(rows), -1), p["preprocess"], shape)
                         for a, shape in zip((x, y), shapes))
            self.maps_ = maps  # fitted on training rows only (read_test maps new rows with them)
            if data == "memory":  # map once; memory maps are mapped batch by batch
                x, y, transform = maps[0](x), maps[1](y), None
            else:
                transform = maps
            common = dict(rank=ctx.rank, device=ctx.device, check_values=data == "mmap", transform=transform)
            train, test, train_readout = (ShardedBatchStream(x, y, plan=q, split=split, **common) for q, split in
                                          ((plan, "train"), (readout, "test"), (readout, "train")))
            val = (ShardedBatchStream(x, y, plan=readout, split="validation", **common)
                   if p["validation_fraction"] else None)
            shapes = tuple(s or (d,) for s, d in zip(shapes, (train.dim_x, train.dim_y)))
            return self._fit(p, ctx, shapes, train.batch, test, train.n_used, readout.rows_used("test"), true_mi,
                             data, k_eval * ctx.world_size, validation=val, train=train_readout)

    def read_test(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The fitted critic's held-out values on the test rows of new arrays of the fitted rows' shape.

        ``x (n, dx)``, ``y (n, dy)``: checked float32 rows in the order :meth:`fit_arrays` had them
        (e.g. the same rows with the test rows of ``y`` shuffled among themselves). The same plan, the
        same input maps (fitted on the training rows) and the same readout ``K`` as the fit's estimate:
        returns the per-batch values ``(B,)``, nats, whose mean would be ``result_.estimate`` on the
        fitted rows. Nothing is trained. One process, arrays in memory, ``folds=1``.
        """
        p = self.checked_params()
        if not hasattr(self, "maps_") or p["folds"] > 1:
            raise ValueError("read_test needs a fit of arrays in memory with folds=1")
        _, readout, _ = self.plans(p, len(x))
        x, y = self.maps_[0](x), self.maps_[1](y)
        test = ShardedBatchStream(x, y, plan=readout, split="test")
        return engine.evaluate(engine.SingleRun(self.critic_, self.loss_), test)[0].numpy()

    def _fit_folds(self, p, x, y, true_mi: float | None, shapes) -> "NeuralEstimator":
        """:meth:`fit` with ``folds >= 2``: one critic per fold, stacked (:mod:`mibound.estimators.stacked`)."""
        t0 = time.perf_counter()
        check_named_critic(self, p)
        plan, readout, k_eval = self.plans(p, len(x))
        orders = [(o, o) for o in fold_orders(plan, p["folds"])]
        fit = fit_critics(p=p, num_threads=self.num_threads, progress=bool(self.progress),
                          desc=f"{p['estimator']} x{p['folds']} folds",
                          **reordered_runs(self, x, y, orders, p=p, plan=plan, readout=readout, shapes=shapes))
        self.selection_history_ = fit.validation_history()
        hist = {**fit.hist, "value": fit.hist["value"].mean(1, keepdim=True), "loss": fit.hist["loss"].mean(1, keepdim=True)}
        return self.finish(p, fit, hist=hist, values=fit.values.ravel(), batch_size=p["batch_size"],
                           n_train=plan.sizes["train"], n_test=p["folds"] * readout.rows_used("test"), true_mi=true_mi,
                           t0=t0, eval_batch_size=k_eval,
                           settings={"test_fraction": plan.test_fraction, "selection": fit.selection(range(p["folds"])),
                                     "view_shapes": [list(s or (a.shape[1],)) for s, a in zip(shapes, (x, y))],
                                     "cross_fit": {"folds": p["folds"], "fold_rows": plan.sizes["test"],
                                                   "fold_estimates": fit.values.mean(1).tolist()}})

    def fit_sampler(self, sampler: Sampler, true_mi: float | None = None, *,
                    held_out: Sampler | None = None) -> "NeuralEstimator":
        """Train on fresh samples from ``sampler`` every step; report on ``eval_batches`` fresh batches.

        A sampler whose ``view_shapes`` are images ``(C, H, W)`` gets the conv critic under
        ``critic="auto"``; its flat ``(K, C*H*W)`` batches are read on the pixel grid by the critic.

        Parameters
        ----------
        sampler : Sampler
        true_mi : float, optional
            Defaults to ``sampler.mutual_information()`` (``None`` for a sampler whose ``exact``
            attribute is false, e.g. nonlinear codes).
        held_out : Sampler, optional
            Draw the held-out batches from this sampler instead (e.g. the same views of images
            kept out of training); same dimensions.
        """
        p = self.checked_params()
        if p["folds"] > 1:
            raise ValueError(f"folds={p['folds']} cross-fits finite data; a sampler gives fresh pairs every step "
                             "(pass folds=1)")
        with self._context() as ctx:
            next_batch, test, true_mi = self._sampler_streams(p, sampler, true_mi, ctx, held_out)
            big_k, k_eval = p["batch_size"] * ctx.world_size, (p["eval_batch_size"] or p["batch_size"]) * ctx.world_size
            return self._fit(p, ctx, sampler.view_shapes, next_batch, test, p["steps"] * big_k, len(test) * k_eval,
                             true_mi, "sampler", k_eval)

    @staticmethod
    def _sampler_streams(p, sampler: Sampler, true_mi: float | None = None, ctx: DistContext = DistContext(),
                         held_out: Sampler | None = None):
        """``(next_batch, test_batches, true_mi)`` of :meth:`fit_sampler`, seeded by ``p["seed"]`` and the rank."""
        for name, s in (("sampler", sampler), ("held_out", held_out)):
            if s is not None and not isinstance(s, Sampler):
                raise TypeError(f"{name} must be a mibound.data.Sampler, got {type(s).__name__}")
        if held_out is not None and (held_out.dim_x, held_out.dim_y) != (sampler.dim_x, sampler.dim_y):
            raise ValueError(f"held_out has dimensions ({held_out.dim_x}, {held_out.dim_y}), the sampler "
                             f"({sampler.dim_x}, {sampler.dim_y})")
        opts = dict(seed=p["seed"], rank=ctx.rank, device=ctx.device)
        train = SamplerStream(sampler, p["batch_size"], stream=1, **opts)
        test = SamplerStream(held_out or sampler, p.get("eval_batch_size") or p["batch_size"], stream=2,
                             **opts).batches(p["eval_batches"])
        if true_mi is None and getattr(sampler, "exact", True):
            true_mi = sampler.mutual_information()
        return train.batch, test, true_mi

    def _fit(self, p, ctx: DistContext, shapes, next_batch, test, n_train: int, n_test: int, true_mi: float | None,
             data: str, k_eval: int, validation=None, train=()) -> "NeuralEstimator":
        """One critic (per trained rate) in this process, or this rank's share of a distributed one (:meth:`_runs`)."""
        t0 = time.perf_counter()
        fit = fit_critics(lambda: [self.build(p, *shapes)], lambda cs, ls: [self._runs(cs[0], ls[0], ctx)],
                          next_batch, p, test=test, validation=validation, train=train, num_threads=self.num_threads,
                          progress=bool(self.progress) and ctx.is_main,
                          desc=p["estimator"] if ctx.world_size == 1 else f"{p['estimator']} x{ctx.world_size}")
        self.selection_history_ = fit.validation_history()
        return self.finish(p, fit, batch_size=p["batch_size"] * ctx.world_size, n_train=n_train, n_test=n_test,
                           true_mi=true_mi, t0=t0, eval_batch_size=k_eval,
                           settings={"selection": fit.selection(), "view_shapes": [list(s) for s in shapes],
                                     **self._settings(ctx, data, fit.critics[0], fit.losses[0], p)})

    def finish(self, p: dict[str, Any], fit: "CriticFit", *, batch_size: int, n_train: int, n_test: int,
               true_mi: float | None, t0: float, eval_batch_size: int, settings: dict[str, Any], run: int = 0,
               hist: dict[str, Any] | None = None, values: np.ndarray | None = None) -> "NeuralEstimator":
        """Store run ``run`` of ``fit`` as the fitted state and its :class:`~mibound.results.EstimateResult`.

        ``hist`` and ``values`` (shape ``(B,)``, held-out readouts of ``eval_batch_size`` pairs; the
        estimate is their mean) replace the run's own; ``settings`` are added to ``p`` in the result.
        """
        hist = fit.hist if hist is None else hist
        values = fit.values[run] if values is None else values
        if not np.all(np.isfinite(values)):
            raise TrainingDiverged(p["estimator"], p["steps"], None, what="held-out estimate")
        estimate, ci, sd = _mean_ci(values)
        obj = OBJECTIVES[p["estimator"]]
        self.critic_, self.loss_ = fit.critics[run], fit.losses[run]
        self.history_ = {"step": hist["step"].tolist(), "train_estimate": hist["value"][:, run].tolist(),
                         "loss": hist["loss"][:, run].tolist()}
        self.result_ = EstimateResult(
            estimator=p["estimator"], estimate=estimate, ci=ci, std=sd,
            ceiling=None if obj.ceiling is None else obj.ceiling(eval_batch_size),
            true_mi=None if true_mi is None else float(true_mi), is_bound=obj.is_bound,
            n_train=n_train, n_test=n_test, batch_size=batch_size, seed=p["seed"],
            seconds=time.perf_counter() - t0, history=self.history_,
            settings={**p, "critic_options": dict(self.critic_options or {}), "num_threads": fit.threads,
                      "eval_batches": values.size, "eval_batch_size": eval_batch_size,
                      "interval": f"t-interval over {values.size} held-out batches of {eval_batch_size} test pairs: "
                                  "the readout's sampling noise, not the bound's gap to the MI", **settings,
                      "versions": _versions()},
        )
        self.result_.diagnostics = neural_diagnostics(self.result_, values)
        return self


@dataclass
class CriticFit:
    """What :func:`fit_critics` trained and read, per run ``r = 0 .. R - 1``.

    Attributes
    ----------
    critics, losses : lists of R
        Each run's critic (at its chosen rate and selected checkpoint) and loss.
    hist : dict
        :func:`mibound.neural.engine.train`'s history of the chosen runs (column ``r``: run ``r``).
    values, train_values : ndarray, shapes (R, B) and (R, B')
        Readouts of the test batches and of up to four training batches (``each=True``: ``values``
        is a list of R arrays ``(B_r,)``).
    has_validation : bool
    learning_rates, candidates : lists
        Each run's chosen rate, and each trained rate's record (:func:`~mibound.neural.selection.choose_rates`).
    threads : int
        torch intra-op threads during the fit.
    """

    critics: list
    losses: list
    hist: dict[str, Any]
    values: np.ndarray
    train_values: np.ndarray
    has_validation: bool
    learning_rates: list
    candidates: list
    threads: int

    def selection(self, runs: Sequence[int] = (0,)) -> dict[str, Any]:
        """``settings["selection"]`` of ``runs`` (:func:`~mibound.neural.selection.selection_record`)."""
        rates = self.learning_rates[runs[0]] if len(runs) == 1 else [self.learning_rates[r] for r in runs]
        return selection_record(self.hist, self.has_validation, self.train_values, self.values, runs, rates,
                                self.candidates)

    def validation_history(self) -> dict[str, list] | None:
        """``selection_history_``: the validated steps (1-based) and the runs' mean validation value at each."""
        h = self.hist
        return None if not self.has_validation else {"step": (h["validation_step"] + 1).tolist(),
                                                     "validation_estimate": h["validation_value"].mean(1).tolist()}


def fit_critics(build: Callable[[], list[tuple[nn.Module, Loss]]],
                runs: Callable[[list[nn.Module], list[Loss]], list[engine.Runs]], next_batch: engine.Batch,
                p: dict[str, Any], *, test: Iterable, validation: Sequence | None = None, train: Iterable = (),
                each: bool = False, num_threads: int | None = None, progress: bool = True,
                desc: str | None = None) -> CriticFit:
    """The one driver of every critic fit: train ``R`` runs at every rate, choose each run's rate, read.

    With validation batches every rate of ``p["learning_rate"]`` trains one critic per run (same
    initial critics, same batches) in one :func:`~mibound.neural.engine.train`; the rates race
    (:class:`~mibound.neural.selection.RateRace`: after a warm-up of ``p["min_steps"]`` steps a run
    that is behind its group's leader by more than their validation noise and not catching up
    stops); each critic keeps its best validated checkpoint and each run the rate whose checkpoint
    reads best on the validation rows (:func:`~mibound.neural.selection.choose_rates`; the
    candidates' record says when each stopped and why). Only then are the chosen
    critics read on the test and training rows. Without validation only the first rate trains.

    Where each rate is one plain :class:`~mibound.neural.engine.SingleRun` of a critic of
    :data:`~mibound.neural.critics.CRITICS` (every single fit, ``folds=1``, one process), the rates train
    as one stacked critic (:class:`~mibound.neural.stacking.CandidateRuns`: one batched pass, a rate
    per run) while more than one is in the race, and the survivor goes on alone with its optimiser
    state; the trajectories are those of the rates trained one by one (``tests/neural/test_stacking.py``).

    Parameters
    ----------
    build : callable ``() -> R pairs (critic, loss)``
        The seeded initial critics and losses, called once per trained rate (a critic object
        returned again, a given module, trains as a deep copy at the later rates).
    runs : callable ``(critics, losses) -> list of Runs``
        The strategy: one rate's critics as what the engine steps (a
        :class:`~mibound.neural.engine.SingleRun` or a distributed run, stacked shards), runs in order.
    next_batch : callable ``step -> (x, y)``
        Training batches in the shape the runs take (``(K, d)``, or ``(R, K, d)`` stacks).
    p : dict
        :meth:`NeuralEstimator.checked_params` (rates, ``steps`` and the other engine settings).
    test, validation, train : iterables of ``(x, y)``
        Held-out batches in the shape the runs take: test rows, validation rows (``None``: no
        selection) and training rows (the first four are read). ``each=True``: ``test`` is a
        list of R iterables, run ``r``'s read by its critic alone.
    num_threads : int, optional
        torch intra-op threads during the fit (``None``: leave torch's setting).
    progress, desc
        The progress bar and its label.

    Returns
    -------
    CriticFit
    """
    rates = trained_rates(p, validation is not None)
    built = [list(build()) for _ in rates]  # the same initial critics at every rate
    for b in built[1:]:  # a critic object given again (a module) trains as a copy
        b[:] = [(copy.deepcopy(c) if c is c0 else c, l) for (c, l), (c0, _) in zip(b, built[0])]
    parts = [runs([c for c, _ in b], [l for _, l in b]) for b in built]
    flat = [q for rate_parts in parts for q in rate_parts]
    race = None if validation is None or len(rates) < 2 else RateRace(rates, len(built[0]), p["min_steps"])
    stepped, stepped_rates = flat, [r for r, q in zip(rates, parts) for _ in q]
    if race is not None and all(len(q) == 1 and type(q[0]) is engine.SingleRun for q in parts):
        with contextlib.suppress(TypeError, ValueError):  # a critic that does not stack trains rate by rate
            stepped, stepped_rates = [CandidateRuns(flat)], [tuple(rates)]
    with engine.torch_threads(num_threads) as threads:
        hist = engine.train(stepped, next_batch, p["steps"], learning_rate=stepped_rates,
                            log_every=p["log_every"], progress=progress, desc=desc, lr_schedule=p["lr_schedule"],
                            weight_decay=p["weight_decay"], patience=p["patience"], min_steps=p["min_steps"],
                            validation=validation, race=race)
        chosen, candidates = choose_rates(hist, rates, len(built[0]), race)
        for b, rate_parts in zip(built, parts):
            for q in (q for q in rate_parts if isinstance(q, StackedRuns)):
                q.write_back([c for c, _ in b], [l for _, l in b])
        every = [c_l for b in built for c_l in b]
        critics, losses = [every[i][0] for i in chosen], [every[i][1] for i in chosen]
        owner = [j for j, q in enumerate(flat) for _ in range(q.runs)]  # the Runs stepping each run
        needed = sorted({owner[i] for i in chosen})  # only the chosen runs' Runs are read
        cols = [i for i, j in enumerate(owner) if j in needed]
        read = lambda batches: (engine.evaluate([flat[j] for j in needed], batches)  # noqa: E731
                                .numpy()[[cols.index(i) for i in chosen]])
        values = ([engine.evaluate(engine.SingleRun(c, l), t)[0].numpy() for c, l, t in zip(critics, losses, test)]
                  if each else read(test))
        train_values = read(list(itertools.islice(train, 4)))
    return CriticFit(critics, losses, chosen_runs(hist, chosen), values, train_values, validation is not None,
                     [rates[i // len(built[0])] for i in chosen], candidates, threads)


#: Column scales (standard deviations) a critic reads as they are (``preprocess="none"``): outside, float32
#: scores underflow to a constant (1e-20 read exactly 0 with a zero-width interval) or overflow (1e14 read -1.9e27).
RAW_SCALE = (1e-6, 1e6)


def _check_raw_scale(pair) -> None:
    """Refuse views whose columns a critic cannot read without standardising (``preprocess="none"``)."""
    for name, a in (("x", pair.x), ("y", pair.y)):
        sd = a.std(axis=0, dtype=np.float64)
        sd = sd[sd > 0]  # constant pixels of an image view are kept, and harmless
        if sd.size and (sd.min() < RAW_SCALE[0] or sd.max() > RAW_SCALE[1]):
            raise ValueError(f"{name} has columns with standard deviations from {sd.min():.3g} to {sd.max():.3g}; "
                             f"with preprocess='none' a critic reads only scales between {RAW_SCALE[0]:g} and "
                             f"{RAW_SCALE[1]:g}: use preprocess='robust' (the default; MI is unchanged by rescaling "
                             "a column) or rescale the data")


def neural_diagnostics(result: EstimateResult, values: np.ndarray) -> list[dict[str, str]]:
    """Diagnostics of a neural estimate from its held-out per-batch ``values`` and its selection record.

    * ``saturated``: the estimate is within 10% of its ceiling ``log K``.
    * ``generalisation_gap``: the critic reads the training pairs higher than the test pairs by
      more than ``max(0.25, 25%)`` of the test value (it memorised them).
    * ``unstable_readout``: the per-batch values scatter (standard deviation above
      ``0.5 + 25%`` of the estimate) or their mean sits far from their median (a few extreme
      scores dominate, as DV/NWJ/SMILE readouts do on heavy tails).
    * ``negative_estimate``: below -0.05 nats.
    """
    out = []
    est = result.estimate
    if result.ceiling is not None and est > 0.9 * result.ceiling:
        out.append(diagnostic("saturated", f"the estimate {est:.3f} is within 10% of its ceiling log K = "
                              f"{result.ceiling:.3f} (K = {result.settings.get('eval_batch_size', result.batch_size)}): "
                              "the true MI may be far higher; read it at a larger K (eval_batch_size)"))
    sel = result.settings.get("selection") or {}
    tr = sel.get("train_value")
    if tr is not None and tr - est > max(0.25, 0.25 * abs(est)):
        out.append(diagnostic("generalisation_gap", f"training pairs read {tr:.3f} nats, test pairs {est:.3f}: "
                              "the critic memorised its training data; more data, fewer steps or a smaller critic"))
    if values.size >= 2:
        sd, med = float(np.std(values, ddof=1)), float(np.median(values))
        if sd > 0.5 + 0.25 * abs(est) or abs(est - med) > 0.5 + 0.25 * abs(med):
            advice = ("check heavy tails and the data's scale (preprocess='robust' standardises each column)"
                      if result.ceiling is not None else "prefer a bounded estimator (infonce) or check heavy tails")
            out.append(diagnostic("unstable_readout", f"per-batch held-out values scatter (sd {sd:.3f}, median "
                                  f"{med:.3f}, mean {est:.3f}): do not trust this number; {advice}"))
    if est < -0.05:
        out.append(diagnostic("negative_estimate", f"the held-out estimate is {est:.3f} nats"))
    if result.settings.get("steps") == 0:
        out.append(diagnostic("no_training", f"steps=0: the critic was never trained, so {est:.4f} nats is the bound "
                              "of a random critic, not an estimate of the MI; train it (steps > 0)"))
    return out


def fit_samplers(estimators: Sequence, samplers: Sequence, *, progress: bool = True, workers: int = 1,
                 desc: str | None = None) -> list:
    """Fit ``R`` :class:`~mibound.estimators.NeuralEstimator` s on ``R`` samplers in one ensemble pass.

    The ensemble counterpart of ``est.fit_sampler(sampler)`` for each pair: every run gets the
    critic initialisation, training stream and held-out batches its own ``fit_sampler`` would
    get (same seeds), so the results equal the one-by-one fits up to float rounding. The runs
    must share the training settings that shape the pass (``batch_size``, ``steps``,
    ``learning_rate``, ``log_every``, ``lr_schedule``, ``weight_decay``); critics, estimators,
    seeds and data may differ, as long as the critics have the same layer shapes. One call of
    :func:`fit_critics` with the runs stacked
    (:func:`~mibound.neural.stacking.shards`); each run is read alone on its own held-out batches.

    Parameters
    ----------
    estimators : sequence of NeuralEstimator
        Unfitted; each is fitted in place (``result_``, ``critic_``, ``history_``).
    samplers : sequence of Sampler
        One per estimator.
    progress : bool, default True
    workers : int, default 1
        Worker threads stepping shards of the runs (see :func:`~mibound.neural.stacking.train_ensemble`);
        with more than one, each computes on one torch thread.
    desc : str, optional
        Progress bar label.

    Returns
    -------
    list of NeuralEstimator
        The same objects, fitted.
    """
    if len(estimators) != len(samplers) or not estimators:
        raise ValueError(f"need one sampler per estimator, got {len(estimators)} estimators and "
                         f"{len(samplers)} samplers")
    for e in estimators:
        if not isinstance(e, NeuralEstimator):
            raise TypeError(f"estimators must be NeuralEstimator instances, got {type(e).__name__}")
    params = [e.checked_params() for e in estimators]
    # samplers have no validation rows: each run trains at its first rate, as fit_sampler does
    shared = [{**p, "learning_rate": trained_rates(p, has_validation=False)[0]} for p in params]
    for key in ("batch_size", "steps", "learning_rate", "log_every", "lr_schedule", "weight_decay"):
        if len({p[key] for p in shared}) > 1:
            raise ValueError(f"the runs of one ensemble must share {key}; got {sorted({p[key] for p in shared})}")
    k = params[0]["batch_size"]
    t0 = time.perf_counter()
    streams = [e._sampler_streams(p, s) for e, p, s in zip(estimators, params, samplers)]
    fit = fit_critics(lambda: [e.build(p, *s.view_shapes) for e, p, s in zip(estimators, params, samplers)],
                      lambda critics, losses: shards(critics, losses, workers),
                      stack_batches([b for b, _, _ in streams]), shared[0], test=[t for _, t, _ in streams], each=True,
                      num_threads=1 if workers > 1 else None, progress=progress, desc=desc)
    for r, (e, p, s, (_, test, true_mi)) in enumerate(zip(estimators, params, samplers, streams)):
        k_eval = p["eval_batch_size"] or k  # the held-out batches' K, as fit_sampler reads them
        e.finish(p, fit, run=r, batch_size=k, n_train=p["steps"] * k, n_test=len(test) * k_eval, true_mi=true_mi,
                 t0=t0, eval_batch_size=k_eval,
                 settings={"ensemble_runs": len(estimators), "view_shapes": [list(v) for v in s.view_shapes]})
    return list(estimators)
