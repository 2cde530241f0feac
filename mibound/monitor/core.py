"""Watch the chain ``I(v1; v2) >= I(z1; z2) >= log K - L`` while a contrastive learner trains.

:class:`ContrastiveMonitor` works in any PyTorch training loop: pass it the InfoNCE loss of every
step (or the score matrix, or SimCLR's ``logits``/``labels``) and, every ``every`` steps, it reads
the encoder on a fixed held-out probe set of view pairs. What it records (all in nats):

- ``train_bound`` = ``log K - L`` at every step, the bound the loss itself gives (on training
  batches, so a critic that memorised them can push it above ``I(z1; z2)``), and ``log_k``, its
  ceiling;
- ``heldout_bound``: the user's own similarity read on the probe pairs at a large ``K_probe``
  (``heldout_ceiling = log K_probe``): InfoNCE on pairs the model never trained on, a lower bound
  on ``I(z1; z2)`` for any critic, and a tighter one than the training bound once that saturates;
- ``mi_codes``: an estimate of ``I(z1; z2)`` on the probe embeddings with a mibound estimator
  (default :func:`default_estimator`: ``gcmi`` while rows are plentiful for the width), with its
  interval and what it is (an estimate that can overshoot, or a bound);
- ``mi_views``: ``I(v1; v2)``, the ceiling of the chain, once: exact when given (a number or a
  mibound sampler), else an estimate on the probe views;
- ``effective_rank_z1`` / ``effective_rank_z2``: the embeddings' effective rank (collapse);
- any user metric (``metrics={"name": f(z1, z2) -> float}``, e.g. a linear probe's accuracy).

Diagnostics (codes of :data:`mibound.results.CODES`), each with the step and a log line when it
first appears: ``saturated`` (``log K - L`` within 10% of ``log K``: raise K), ``chain_violated``
(a link of the chain fails beyond the intervals), ``collapse``, ``non_finite_loss`` and
``estimate_failed``. Trouble met during training never stops it; bad set-up (probe views of
different lengths, ``K < 2``, embeddings of the wrong length) raises at once.

The loss convention
-------------------
``L`` is the InfoNCE (cross-entropy) loss in natural log, the mean over the batch's rows, each row
scoring its positive against ``K`` candidates *including the positive*: for a ``(K, K)`` score
matrix with positives on the diagonal, ``L = -mean_i log softmax(S_i)_i`` and ``log K - L`` is
the InfoNCE bound (van den Oord et al. 2018; Poole et al. 2019). In SimCLR's NT-Xent form a
batch of ``N`` images gives ``2N`` rows of ``2N - 1`` candidates (the other ``2N - 2`` views are
negatives), so ``K = 2N - 1`` = the number of columns of ``logits``.

References
----------
van den Oord, Li & Vinyals (2018), "Representation Learning with Contrastive Predictive Coding".
Poole, Ozair, van den Oord, Alemi & Tucker (2019), "On Variational Bounds of Mutual Information", ICML.
Chen, Kornblith, Norouzi & Hinton (2020), "A Simple Framework for Contrastive Learning of Visual
Representations", ICML. Roy & Vetterli (2007), "The effective rank: a measure of effective
dimensionality", EUSIPCO (the effective rank; RankMe, Garrido et al. 2023, reads it as collapse).
"""

from __future__ import annotations

import csv
import logging
import math
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from mibound.data.base import Sampler
from mibound.functional.bounds import infonce_rows
from mibound.inputs.checks import check_float, check_int
from mibound.registry import ESTIMATORS, make_estimator, takes
from mibound.results import EstimateResult, diagnostic

__all__ = ["ContrastiveMonitor", "training_bound", "effective_rank", "default_estimator", "QUANTITIES",
           "WIDE_ESTIMATOR", "PROBE_HALVES"]

log = logging.getLogger("mibound.monitor")

#: Every quantity of the monitor's tidy table and what it is.
QUANTITIES: dict[str, str] = {
    "train_bound": "log K - L from the training loss: InfoNCE lower bound on training batches (per step)",
    "log_k": "log K: the ceiling of the training bound (per step)",
    "heldout_bound": "InfoNCE of the user's similarity on held-out probe pairs at K_probe: a lower bound on I(z1;z2)",
    "heldout_ceiling": "log K_probe: the ceiling of the held-out bound",
    "mi_codes": "I(z1;z2) on the probe embeddings with a mibound estimator (kind says estimate or bound)",
    "mi_views": "I(v1;v2): exact (kind 'exact') or an estimate on the probe views",
    "effective_rank_z1": "exp(entropy of the normalised singular values) of the centred z1 (1 = collapsed)",
    "effective_rank_z2": "the same for z2",
}

#: The estimator :func:`default_estimator` picks for embeddings too wide for ``gcmi``, once it is registered.
WIDE_ESTIMATOR = "latent"

#: Half-samples of a half-sampled interval at a checkpoint (``gaussian``, ``tcmi``, ...). ``gcmi`` takes its
#: delta-method interval instead (``interval="delta"``): on 2048 rows of 32 + 32 columns its 10 half-samples were
#: about 25 ms of a 67 ms checkpoint (benchmarks/bench_monitor.py).
PROBE_HALVES = 10

#: Rows per embedding column below which ``gcmi`` is not the default (its ``few_samples`` rule is ``n < 10 d``).
ROWS_PER_COLUMN = 10

#: Rows of the held-out block scored at once by the built-in similarities (a (ROW_SLICE, K_probe) slice of scores).
ROW_SLICE = 512

_COLUMNS = ("step", "quantity", "value", "ci_low", "ci_high", "kind", "K", "estimator")


def default_estimator(width: int, n: int) -> str:
    """The probe estimator for embeddings of ``width`` = ``dim_z1 + dim_z2`` columns on ``n`` rows.

    ``gcmi`` (the Gaussian copula: milliseconds on thousands of rows, exact for Gaussian codes and
    any monotone map of them) while ``n >= 10 * width``; beyond that the wide-view estimator
    :data:`WIDE_ESTIMATOR` when the registry has it, else ``gcmi`` (which then says
    ``few_samples``/``high_dimension`` in its diagnostics).
    """
    if n >= ROWS_PER_COLUMN * width or WIDE_ESTIMATOR not in ESTIMATORS:
        return "gcmi"
    return WIDE_ESTIMATOR


def training_bound(loss=None, k: int | None = None, *, logits=None, labels=None, scores=None,
                   temperature: float = 1.0) -> tuple[float, int, float]:
    """``(log K - L, K, L)`` from an InfoNCE loss in one of three forms (nats).

    Parameters
    ----------
    loss : float or 0-d Tensor, optional
        The batch-mean InfoNCE loss ``L`` (natural log). Needs ``k`` unless ``logits`` or
        ``scores`` give it.
    k : int, optional
        Candidates per row, the positive included (``>= 2``).
    logits : Tensor, shape (B, K), optional
        SimCLR form: row ``i`` scores its ``K`` candidates; ``labels[i]`` is the positive's column.
        ``L = cross_entropy(logits / temperature, labels)`` unless ``loss`` is given.
    labels : Tensor of int, shape (B,), optional
    scores : Tensor, shape (K, K), optional
        Score matrix with the positives on the diagonal: ``L = -mean_i log softmax(S_i)_i``.
    temperature : float, default 1
        Divides ``logits`` (pass the raw similarities and SimCLR's temperature, or the scaled
        logits and 1). ``scores`` are used as they are.

    Returns
    -------
    bound : float
        ``log K - L`` (``nan`` for a non-finite loss).
    K : int
    L : float

    Raises
    ------
    ValueError
        ``K < 2``, no loss given, or shapes that do not fit together.
    """
    if scores is not None:
        if not isinstance(scores, torch.Tensor) or scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
            raise ValueError(f"scores must be a square (K, K) tensor with the positives on the diagonal, got "
                             f"{getattr(scores, 'shape', type(scores).__name__)}")
        k_here = int(scores.shape[1])
    elif logits is not None:
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
            raise ValueError(f"logits must be a (B, K) tensor, got {getattr(logits, 'shape', type(logits).__name__)}")
        k_here = int(logits.shape[1])
        if labels is None:
            raise ValueError("logits need labels: labels[i] is the column of row i's positive (SimCLR: all zeros "
                             "when the positive is put first)")
        if labels.shape != logits.shape[:1]:
            raise ValueError(f"labels of shape {tuple(labels.shape)} do not match logits of shape {tuple(logits.shape)}")
    else:
        k_here = None
    if k is not None:
        k = check_int(k, "K", minimum=2)
        if k_here is not None and k != k_here:
            raise ValueError(f"K={k} contradicts the {k_here} candidates per row of the scores/logits")
    k = k_here if k is None else k
    if k is None:
        raise ValueError("K is unknown: pass k= (candidates per row, the positive included), logits or scores")
    if k < 2:
        raise ValueError(f"K must be >= 2 (the positive and at least one negative), got {k}")
    if loss is not None:
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
    elif scores is not None:
        with torch.no_grad():
            value = float(-infonce_rows(scores.detach().float()).mean())
    elif logits is not None:
        t = check_float(temperature, "temperature", minimum=0.0, exclusive_min=True)
        with torch.no_grad():
            value = float(torch.nn.functional.cross_entropy(logits.detach().float() / t, labels.detach().long()))
    else:
        raise ValueError("pass the loss, the logits and labels, or the score matrix")
    bound = math.log(k) - value if math.isfinite(value) else math.nan
    return bound, k, value


def effective_rank(z) -> float:
    """``exp(H(p))``, ``p`` the singular values of the centred ``z`` normalised to sum 1 (Roy & Vetterli 2007).

    Between 1 (every row on one line) and ``min(n, d)``; 0 when ``z`` is constant.

    Parameters
    ----------
    z : array or Tensor, shape (n, d)
    """
    z = torch.as_tensor(z).detach().double()
    z = z.reshape(z.shape[0], -1)
    z = z - z.mean(0)
    s = torch.linalg.svdvals(z)
    total = s.sum()
    if not torch.isfinite(total) or total <= 1e-12 * max(1.0, float(z.abs().max())) * math.sqrt(z.numel()):
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def _as_tensor(a, name: str) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach()
    try:
        arr = np.asarray(a)
    except Exception as exc:  # noqa: BLE001  (any array-like that numpy cannot read)
        raise TypeError(f"{name} must be an array or tensor, got {type(a).__name__}") from exc
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def _similarity(name, temperature: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if callable(name):
        return name
    # the temperature divides the (m, d) rows before the product, not the (m, m) scores: one pass over m * d numbers
    # instead of m * m (on 1024 x 1024 scores, 0.5 ms instead of 2.6 ms of a checkpoint)
    if name == "cosine":
        def cosine(z1, z2):
            return (torch.nn.functional.normalize(z1, dim=1) / temperature) @ torch.nn.functional.normalize(z2, dim=1).T
        return cosine
    if name == "dot":
        return lambda z1, z2: (z1 / temperature) @ z2.T
    raise ValueError(f"similarity must be 'cosine', 'dot' or a callable (z1, z2) -> (n, n) scores, got {name!r}")


class ContrastiveMonitor:
    """Record ``log K - L``, a held-out bound, ``I(z1; z2)``, ``I(v1; v2)`` and collapse while training.

    Parameters
    ----------
    probe : (array, array), optional
        Held-out view pairs ``(v1, v2)`` with the same number of rows ``n_probe`` (any shapes the
        encoder takes, e.g. ``(n, C, H, W)``), never trained on. ``None`` when the embeddings are
        passed to :meth:`checkpoint` directly. See also :meth:`from_sampler`.
    encoder : callable or (callable, callable), optional
        ``v -> z`` (shared) or one per view; called under ``torch.no_grad()`` in eval mode on
        chunks of the probe (moved to the encoder's device). It should output what the loss's
        similarity reads (SimCLR: the projection head's output), unless ``similarity`` includes
        the head. May also be passed to :meth:`update`/:meth:`checkpoint`.
    similarity : {"cosine", "dot"} or callable, default "cosine"
        The user's critic: ``S = cos(z1_i, z2_j) / temperature``, ``z1 @ z2.T / temperature``, or
        ``f(z1, z2) -> (m, m)`` scores with the positives on the diagonal.
    temperature : float, optional
        Of ``similarity``; default the temperature passed with the logits to :meth:`update`, else 1.
    every : int, optional
        Steps between checkpoints. Default ``total_steps // 20`` when ``total_steps`` is given
        (20 checkpoints a run), else 100.
    total_steps : int, optional
    probe_k : int, default 1024
        ``K_probe``, candidates per row of the held-out bound (at most ``n_probe``); the probe is
        read in ``n_probe // K_probe`` blocks.
    estimator : str, optional
        Registry name of the ``I(z1; z2)`` estimator; default :func:`default_estimator`.
    estimator_options : dict, optional
        Passed to it. ``gcmi`` defaults to ``interval="delta"`` (one covariance), other half-sampled
        estimators to ``n_subsamples=`` :data:`PROBE_HALVES` half-samples for the interval.
    mi_views : float, Sampler, EstimateResult, "estimate" or None, default "estimate"
        ``I(v1; v2)``: a number (exact), a mibound sampler (its exact ``mutual_information()``), a
        mibound result (an estimate made elsewhere, e.g. on more pairs than the probe holds), an
        estimate on the probe views with ``views_estimator`` at the first checkpoint
        (``"estimate"``), or ``None`` (not recorded).
    views_estimator : str, default "gcmi"
    saturation : float, default 0.9
        ``saturated`` fires when the mean ``log K - L`` over the last ``window`` steps reaches
        ``saturation * log K`` (the project's rule for a saturated bound: within 10% of ``log K``);
        when the held-out bound at ``K_probe`` (a lower bound on ``I(z1; z2)``) is above ``log K``
        beyond its interval (the embeddings provably share more than the training bound can
        show); or when the mean reaches ``(2 * saturation - 1) * log K`` (within 20%) while the
        interval of the ``I(z1; z2)`` estimate is above ``log K``. (Near its best, InfoNCE at
        ``K = 8`` reads about 1.9 of ``log 8 = 2.08`` on 4 shared nats.)
    window : int, optional
        Default ``min(every, 50)``.
    collapse_rank : float, default 1.5
        ``collapse`` fires when an embedding's effective rank falls below this.
    metrics : dict of name -> callable(z1, z2) -> float, optional
        Extra numbers read at every checkpoint (e.g. a linear probe's accuracy).
    out : str or Path, optional
        Folder for ``monitor.csv`` (appended at every checkpoint), ``monitor_diagnostics.csv``
        and ``monitor.png``/``.svg`` (on :meth:`close`).
    seed : int, default 0
        Of the estimators' intervals.

    Attributes
    ----------
    diagnostics : list of dict
        ``{"step", "code", "message"}``, in order.
    checkpoints : list of dict
        One dict per checkpoint: ``step`` and every quantity with its interval.

    Examples
    --------
    >>> mon = ContrastiveMonitor((v1_probe, v2_probe), encoder=model, total_steps=2000, out="runs/m")
    >>> for step in range(2000):
    ...     loss = info_nce(model(x1), model(x2))            # batch of K pairs
    ...     loss.backward(); opt.step(); opt.zero_grad()
    ...     mon.update(loss, k=x1.shape[0])                  # or mon.update(logits=..., labels=..., temperature=...)
    >>> mon.close()                                           # CSV, diagnostics, figure
    """

    def __init__(self, probe=None, *, encoder=None, similarity="cosine", temperature: float | None = None,
                 every: int | None = None, total_steps: int | None = None, probe_k: int = 1024,
                 estimator: str | None = None, estimator_options: Mapping[str, Any] | None = None,
                 mi_views: float | Sampler | str | None = "estimate", views_estimator: str = "gcmi",
                 saturation: float = 0.9, window: int | None = None, collapse_rank: float = 1.5,
                 metrics: Mapping[str, Callable] | None = None, out=None, seed: int = 0):
        if probe is not None:
            if not isinstance(probe, (tuple, list)) or len(probe) != 2:
                raise TypeError("probe must be a pair (v1, v2) of held-out views")
            v1, v2 = _as_tensor(probe[0], "probe[0]"), _as_tensor(probe[1], "probe[1]")
            if v1.ndim == 0 or v2.ndim == 0 or v1.shape[0] != v2.shape[0]:
                raise ValueError(f"the probe views must have the same number of rows (pairs), got shapes "
                                 f"{tuple(v1.shape)} and {tuple(v2.shape)}")
            if v1.shape[0] < 4:
                raise ValueError(f"the probe needs at least 4 pairs, got {v1.shape[0]}")
            self.probe = (v1, v2)
        else:
            self.probe = None
        self.encoder = encoder
        self.temperature = None if temperature is None else check_float(temperature, "temperature", minimum=0.0,
                                                                        exclusive_min=True)
        _similarity(similarity, 1.0)  # checks the name
        self.similarity = similarity
        if total_steps is not None:
            total_steps = check_int(total_steps, "total_steps", minimum=1)
        self.total_steps = total_steps
        self.every = check_int(every, "every", minimum=1) if every is not None else (
            max(1, total_steps // 20) if total_steps is not None else 100)
        self.probe_k = check_int(probe_k, "probe_k", minimum=2)
        self.estimator = estimator
        if estimator is not None and estimator not in ESTIMATORS:
            make_estimator(estimator)  # raises with the valid names
        self.estimator_options = dict(estimator_options or {})
        self.views_estimator = views_estimator
        if isinstance(mi_views, Sampler):
            mi_views = float(mi_views.mutual_information())
        elif isinstance(mi_views, EstimateResult):  # estimated by the user (e.g. on more pairs than the probe)
            r = mi_views
            mi_views = (r.estimate, r.ci[0], r.ci[1], "lower bound" if r.is_bound else "estimate (can overshoot)",
                        r.estimator)
        elif isinstance(mi_views, str):
            if mi_views != "estimate":
                raise ValueError(f"mi_views must be a number, a mibound Sampler or result, 'estimate' or None, "
                                 f"got {mi_views!r}")
        elif mi_views is not None:
            mi_views = check_float(mi_views, "mi_views", minimum=0.0)
        if mi_views == "estimate" and self.probe is None:
            mi_views = None  # nothing to estimate it on
        self._mi_views = mi_views
        self.saturation = check_float(saturation, "saturation", minimum=0.0, maximum=1.0, exclusive_min=True)
        self.window = check_int(window, "window", minimum=1) if window is not None else min(self.every, 50)
        self.collapse_rank = check_float(collapse_rank, "collapse_rank", minimum=0.0)
        self.metrics = dict(metrics or {})
        for name, f in self.metrics.items():
            if not callable(f):
                raise TypeError(f"metric {name!r} must be a callable (z1, z2) -> float")
        self.out = None if out is None else Path(out)
        self.seed = check_int(seed, "seed", minimum=0)
        self.step = 0
        self.diagnostics: list[dict[str, Any]] = []
        self.checkpoints: list[dict[str, Any]] = []
        self._steps: list[int] = []
        self._bounds: list[float] = []
        self._pending: list[tuple[int, torch.Tensor]] = []  # (index, loss tensor) not read yet
        self._options: dict[str, dict[str, Any]] = {}  # the options of each probe estimator
        self._ks: list[int] = []
        self._rows: list[tuple] = []  # checkpoint rows of the tidy table
        self._written_steps = 0
        self._written_rows = 0
        self._active: set[str] = set()  # diagnostics now on (a log line when one turns on)
        self._last_temperature: float | None = None
        self.seconds = 0.0  # time spent in checkpoints
        self._checkpointed: int | None = None  # the step of the last checkpoint
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "monitor.csv").write_text(",".join(_COLUMNS) + "\n")

    # -- construction from a sampler ------------------------------------------------------------
    @classmethod
    def from_sampler(cls, sampler: Sampler, n_probe: int = 4096, probe_seed: int = 12345, flat: bool = False,
                     **options) -> "ContrastiveMonitor":
        """A monitor whose probe is ``n_probe`` fresh pairs of a mibound sampler and whose ``I(v1; v2)`` is exact.

        Use a ``probe_seed`` that the training batches never use (the default is far from the usual
        0, 1, ...). ``flat=False`` keeps image views as ``(n, C, H, W)``.
        """
        if not isinstance(sampler, Sampler):
            raise TypeError(f"sampler must be a mibound Sampler, got {type(sampler).__name__}")
        v1, v2 = sampler.sample(check_int(n_probe, "n_probe", minimum=4), seed=probe_seed, flat=flat)
        options.setdefault("mi_views", sampler)
        return cls((v1, v2), **options)

    # -- per step -------------------------------------------------------------------------------
    def update(self, loss=None, *, k: int | None = None, logits=None, labels=None, scores=None,
               temperature: float = 1.0, step: int | None = None, encoder=None) -> dict | None:
        """Record one training step; run a checkpoint when it is due.

        Parameters
        ----------
        loss, k, logits, labels, scores, temperature
            The step's InfoNCE loss in one of the forms of :func:`training_bound`.
        step : int, optional
            The step's number (default: one more than the last).
        encoder : optional
            Overrides the constructor's encoder for this checkpoint.

        Returns
        -------
        dict or None
            The checkpoint's record when one ran.
        """
        if type(k) is int and k >= 2 and step is None and logits is None and scores is None \
                and isinstance(loss, torch.Tensor):
            # the usual step, a loss tensor and its K: four appends (about 2 us); the tensor is read at the next
            # checkpoint (one device synchronisation per checkpoint, not per step), NaN found there
            self.step += 1
            self._pending.append((len(self._bounds), loss.detach()))
            bound = math.nan
        else:
            deferred = isinstance(loss, torch.Tensor)
            bound, k, value = training_bound(0.0 if deferred else loss, k, logits=logits, labels=labels,
                                             scores=scores, temperature=temperature)
            if logits is not None:
                self._last_temperature = temperature
            self.step = self.step + 1 if step is None else check_int(step, "step", minimum=0)
            if deferred:
                self._pending.append((len(self._bounds), loss.detach()))
                bound = math.nan
            elif not math.isfinite(value):
                self._note("non_finite_loss", f"step {self.step}: the loss is {value}; recorded without a bound",
                           always=True)
        self._steps.append(self.step)
        self._bounds.append(bound)
        self._ks.append(k)
        if self.step % self.every == 0 and self._checkpointed != self.step:  # once per step (gradient accumulation)
            if encoder is None and self.encoder is None and self.probe is None:
                return None  # no probe and no encoder: the caller passes checkpoint(embeddings=...) itself
            return self.checkpoint(encoder=encoder)
        return None

    def _flush(self) -> None:
        """Read the loss tensors recorded since the last flush (one transfer) into the bounds."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        values = torch.cat([t.reshape(-1)[:1].float() for _, t in pending]).cpu()  # a loss's first element
        for (i, _), value in zip(pending, values.tolist()):
            if math.isfinite(value):
                self._bounds[i] = math.log(self._ks[i]) - value
            else:
                self._note("non_finite_loss", f"step {self._steps[i]}: the loss is {value}; recorded without a "
                           "bound", always=True, step=self._steps[i])

    @property
    def last_train_bound(self) -> float:
        """``log K - L`` of the last recorded step (``nan`` before any); reads pending loss tensors."""
        self._flush()
        return self._bounds[-1] if self._bounds else math.nan

    @property
    def last_k(self) -> int | None:
        """``K`` of the last recorded step."""
        return self._ks[-1] if self._ks else None

    @property
    def due(self) -> bool:
        """Whether the last recorded step is a checkpoint step."""
        return self.step > 0 and self.step % self.every == 0

    # -- checkpoints ----------------------------------------------------------------------------
    def _encode(self, encoder) -> tuple[torch.Tensor, torch.Tensor]:
        if encoder is None:
            raise ValueError("a checkpoint needs the encoder (constructor or update(encoder=...)) or "
                             "checkpoint(embeddings=(z1, z2))")
        if self.probe is None:
            raise ValueError("no probe views to encode: pass probe=(v1, v2) or checkpoint(embeddings=(z1, z2))")
        enc1, enc2 = encoder if isinstance(encoder, (tuple, list)) else (encoder, encoder)
        return self._run(enc1, self.probe[0]), self._run(enc2, self.probe[1])

    @staticmethod
    def _run(enc, v: torch.Tensor, chunk: int = 512) -> torch.Tensor:
        # 512 rows a forward: the activations of an MLP's 256-wide layer (512 KB) stay in cache between training steps
        modules = [enc] if isinstance(enc, torch.nn.Module) else []
        device = next((p.device for m in modules for p in m.parameters()), None)
        modes = [m.training for m in modules]
        for m in modules:
            m.eval()
        try:
            with torch.no_grad():
                parts = [enc(v[i:i + chunk] if device is None else v[i:i + chunk].to(device))
                         for i in range(0, v.shape[0], chunk)]
        finally:
            for m, mode in zip(modules, modes):
                m.train(mode)
        return torch.cat([p.detach().reshape(p.shape[0], -1).float().cpu() for p in parts])

    def checkpoint(self, *, encoder=None, embeddings=None) -> dict:
        """Read the probe now: held-out bound, ``I(z1; z2)``, ``I(v1; v2)`` (once), effective ranks, diagnostics.

        Parameters
        ----------
        encoder : optional
            Default the constructor's.
        embeddings : (array, array), optional
            ``(z1, z2)`` of shape ``(n_probe, d1)``, ``(n_probe, d2)`` instead of encoding the probe.

        Returns
        -------
        dict
            ``step`` and, per quantity, ``value`` / ``ci_low`` / ``ci_high`` keys (``mi_codes``,
            ``mi_codes_ci_low``, ...), plus ``mi_codes_kind`` and ``mi_codes_estimator``.
        """
        t0 = time.perf_counter()
        self._flush()
        step = self._checkpointed = self.step
        if embeddings is not None:
            if not isinstance(embeddings, (tuple, list)) or len(embeddings) != 2:
                raise TypeError("embeddings must be a pair (z1, z2)")
            z1, z2 = (_as_tensor(e, "embeddings").float() for e in embeddings)
            z1, z2 = z1.reshape(z1.shape[0], -1), z2.reshape(z2.shape[0], -1)
        else:
            z1, z2 = self._encode(self.encoder if encoder is None else encoder)
        if z1.shape[0] != z2.shape[0]:
            raise ValueError(f"the embeddings must have the same number of rows, got {z1.shape[0]} and {z2.shape[0]}")
        if self.probe is not None and z1.shape[0] != self.probe[0].shape[0]:
            raise ValueError(f"the embeddings have {z1.shape[0]} rows, the probe {self.probe[0].shape[0]} pairs")
        rec: dict[str, Any] = {"step": step}

        def put(q, value, lo=math.nan, hi=math.nan, kind="", k=None, est=""):
            rec[q], rec[f"{q}_ci_low"], rec[f"{q}_ci_high"], rec[f"{q}_kind"] = value, lo, hi, kind
            self._rows.append((step, q, value, lo, hi, kind, "" if k is None else k, est))

        finite = bool(torch.isfinite(z1).all() and torch.isfinite(z2).all())
        if not finite:
            self._note("estimate_failed", f"step {step}: the embeddings hold NaN or inf; nothing read", always=True)
        else:
            self._heldout(z1, z2, put)
            self._codes(z1, z2, put, rec)
            put("effective_rank_z1", effective_rank(z1), kind="effective rank")
            put("effective_rank_z2", effective_rank(z2), kind="effective rank")
            for name, f in self.metrics.items():
                try:
                    put(name, float(f(z1, z2)), kind="metric")
                except Exception as exc:  # noqa: BLE001  (a user metric must not stop training)
                    self._note("estimate_failed", f"step {step}: metric {name!r} failed: {exc!r}", always=True)
        self._views(put, rec)
        self._diagnose(rec)
        self.checkpoints.append(rec)
        self.seconds += time.perf_counter() - t0
        if self.out is not None:
            self._append_csv()
        return rec

    def _heldout(self, z1, z2, put) -> None:
        n = z1.shape[0]
        k = min(self.probe_k, n)
        temperature = self.temperature or self._last_temperature or 1.0
        sim = _similarity(self.similarity, temperature)
        # the built-in similarities score a block's rows in slices of ROW_SLICE against its k candidates (infonce_rows
        # with the offset of the slice): the same terms without (k, k) temporaries, which a training process meets
        # cold (1024 x 1024 inside a training loop: 7.9 ms a checkpoint whole, 5.5 ms in slices of 512 rows;
        # see docs/monitor.md); a user's similarity gets whole (k, k) blocks
        step = ROW_SLICE if isinstance(self.similarity, str) else k
        try:
            with torch.no_grad():
                terms = torch.cat([infonce_rows(sim(z1[i + j:i + min(j + step, k)], z2[i:i + k]).float(), j)
                                   for i in range(0, n - k + 1, k) for j in range(0, k, step)]).double()
            if not torch.isfinite(terms).all():
                raise FloatingPointError("non-finite scores")
            mean = float(terms.mean()) + math.log(k)
            half = 1.96 * float(terms.std()) / math.sqrt(terms.numel())
            put("heldout_bound", mean, mean - half, mean + half, "lower bound (held-out probe pairs)", k)
        except Exception as exc:  # noqa: BLE001  (a user similarity must not stop training)
            self._note("estimate_failed", f"step {self.step}: the held-out bound failed: {exc!r}", always=True)
            put("heldout_bound", math.nan, kind="lower bound (held-out probe pairs)", k=k)
        put("heldout_ceiling", math.log(k), kind="ceiling", k=k)

    def _estimate(self, name: str, x, y) -> tuple[float, float, float, str, list]:
        options = self._options.get(name)
        if options is None:  # once per estimator: reading its signature is 0.5 ms
            options = dict(self.estimator_options) if name == (self.estimator or name) else {}
            if takes(name, "interval"):  # gcmi: one covariance, not PROBE_HALVES refits (most of a checkpoint's time)
                options.setdefault("interval", "delta")
            elif takes(name, "n_subsamples"):
                options.setdefault("n_subsamples", PROBE_HALVES)
            if takes(name, "seed"):
                options.setdefault("seed", self.seed)
            if takes(name, "progress"):
                options.setdefault("progress", False)
            self._options[name] = options
        r = make_estimator(name, **options).fit(x, y).result_
        kind = "lower bound" if r.is_bound else "estimate (can overshoot)"
        return r.estimate, r.ci[0], r.ci[1], kind, r.diagnostics

    def _codes(self, z1, z2, put, rec) -> None:
        x, y = z1.double().numpy(), z2.double().numpy()
        name = self.estimator or default_estimator(x.shape[1] + y.shape[1], x.shape[0])
        try:
            value, lo, hi, kind, diags = self._estimate(name, x, y)
        except Exception as exc:  # noqa: BLE001  (a failed estimate is a diagnostic, training goes on)
            if self.estimator is None and name != "gcmi":  # the wide default failed: gcmi instead
                try:
                    name = "gcmi"
                    value, lo, hi, kind, diags = self._estimate(name, x, y)
                except Exception as exc2:  # noqa: BLE001
                    exc = exc2
                else:
                    exc = None
            if exc is not None:
                self._note("estimate_failed", f"step {self.step}: I(z1;z2) with {name} failed: {exc!r}", always=True)
                put("mi_codes", math.nan, kind="estimate", est=name)
                rec["mi_codes_kind"], rec["mi_codes_estimator"] = "", name
                return
        put("mi_codes", value, lo, hi, kind, est=name)
        rec["mi_codes_kind"], rec["mi_codes_estimator"] = kind, name
        rec["mi_codes_diagnostics"] = [d["code"] for d in diags]

    def _views(self, put, rec) -> None:
        mv = self._mi_views
        if mv is None:
            return
        if mv == "estimate":
            try:
                x = self.probe[0].reshape(self.probe[0].shape[0], -1).double().numpy()
                y = self.probe[1].reshape(self.probe[1].shape[0], -1).double().numpy()
                value, lo, hi, kind, _ = self._estimate(self.views_estimator, x, y)
                self._mi_views = (value, lo, hi, kind, self.views_estimator)
            except Exception as exc:  # noqa: BLE001
                self._note("estimate_failed", f"I(v1;v2) with {self.views_estimator} failed: {exc!r}", always=True)
                self._mi_views = None
                return
        elif isinstance(mv, float):
            self._mi_views = (mv, mv, mv, "exact", "")
        value, lo, hi, kind, est = self._mi_views
        put("mi_views", value, lo, hi, kind, est=est)

    # -- diagnostics ----------------------------------------------------------------------------
    def _note(self, code: str, message: str, always: bool = False, step: int | None = None) -> None:
        """Record a diagnostic at this step; log it when it turns on (or every time with ``always``)."""
        d = diagnostic(code, message)
        self.diagnostics.append({"step": self.step if step is None else step, **d})
        if always or code not in self._active:
            log.warning("mibound monitor: %s: %s", code, d["message"])
        self._active.add(code)

    def _off(self, code: str) -> None:
        self._active.discard(code)

    def _diagnose(self, rec: dict) -> None:
        step = rec["step"]
        recent = np.asarray(self._bounds[-self.window:], dtype=np.float64)
        recent = recent[np.isfinite(recent)]
        if recent.size:
            k = self._ks[-1]
            mean = float(recent.mean())
            rec["train_bound_window"] = mean
            log_k = math.log(k)
            held_lo = rec.get("heldout_bound_ci_low", math.nan)
            codes_lo = rec.get("mi_codes_ci_low", math.nan)
            if mean >= self.saturation * log_k:
                why = f"log K - L = {mean:.3f} is within {100 * (1 - self.saturation):.0f}% of log K"
            elif held_lo > log_k:
                why = f"the held-out bound (a lower bound on I(z1;z2); interval low end {held_lo:.3f}) is above log K"
            elif mean >= (2 * self.saturation - 1) * log_k and codes_lo > log_k:
                why = (f"log K - L = {mean:.3f} is within {200 * (1 - self.saturation):.0f}% of log K while "
                       f"I(z1;z2)'s interval (low end {codes_lo:.3f}) is above log K")
            else:
                why = ""
            if why:
                more = "" if math.isnan(rec.get("mi_codes", math.nan)) else \
                    f"; on held-out pairs I(z1;z2) reads {rec['mi_codes']:.3f} ({rec.get('mi_codes_estimator')})"
                if math.isfinite(rec.get("heldout_bound", math.nan)):
                    more += f" and the held-out bound at K={min(self.probe_k, self._n_probe(rec))} " \
                            f"{rec['heldout_bound']:.3f}"
                self._note("saturated", f"step {step}: {why} (log K = {log_k:.3f}, K={k}): the training bound cannot show "
                           f"more than log K; raise K (batch size / negatives){more}")
            else:
                self._off("saturated")
        broken = []
        codes_hi = rec.get("mi_codes_ci_high", math.nan)
        codes_lo = rec.get("mi_codes_ci_low", math.nan)
        held_lo = rec.get("heldout_bound_ci_low", math.nan)
        if held_lo > codes_hi:
            broken.append(f"the held-out bound ({held_lo:.3f}, interval low end) is above I(z1;z2)'s interval "
                          f"(high end {codes_hi:.3f}, {rec.get('mi_codes_estimator')}): that estimate undershoots; "
                          "read the held-out bound as the floor")
        if recent.size >= 2:
            half = 1.96 * float(recent.std(ddof=1)) / math.sqrt(recent.size)
            if rec["train_bound_window"] - half > codes_hi:
                broken.append(f"log K - L on training batches ({rec['train_bound_window']:.3f}) is above I(z1;z2)'s "
                              f"interval (high end {codes_hi:.3f}): the critic memorised its training batches, or "
                              "the estimate undershoots")
        views_hi = rec.get("mi_views_ci_high", math.nan)
        exact = rec.get("mi_views_kind") == "exact"
        if held_lo > views_hi:
            broken.append(f"the held-out bound (interval low end {held_lo:.3f}) is above "
                          + (f"the exact I(v1;v2) = {views_hi:.3f}: the probe pairs are not independent draws, or "
                             "the probe is not the views' distribution" if exact else
                             f"the estimate of I(v1;v2) (interval high end {views_hi:.3f}): that estimate undershoots "
                             f"(I(v1;v2) >= I(z1;z2) >= {held_lo:.3f})"))
        if codes_lo > views_hi:
            broken.append(f"I(z1;z2)'s interval (low end {codes_lo:.3f}) is above "
                          + (f"the exact I(v1;v2) = {views_hi:.3f}: the estimate of I(z1;z2) overshoots" if exact else
                             f"the estimate of I(v1;v2) (interval high end {views_hi:.3f}): one of the two estimates "
                             "is off (on wide raw views, usually the I(v1;v2) estimate undershoots)"))
        if broken:
            self._note("chain_violated", f"step {step}: " + "; ".join(broken))
        else:
            self._off("chain_violated")
        ranks = [rec[q] for q in ("effective_rank_z1", "effective_rank_z2") if q in rec]
        if ranks and min(ranks) < self.collapse_rank:
            self._note("collapse", f"step {step}: effective rank {min(ranks):.2f} < {self.collapse_rank}: the "
                       "embeddings use (almost) one direction or none")
        else:
            self._off("collapse")

    def _n_probe(self, rec) -> int:
        return self.probe[0].shape[0] if self.probe is not None else self.probe_k

    # -- output ---------------------------------------------------------------------------------
    def _step_rows(self, start: int) -> list[tuple]:
        self._flush()
        rows = []
        for s, b, k in zip(self._steps[start:], self._bounds[start:], self._ks[start:]):
            rows.append((s, "train_bound", b, math.nan, math.nan, "lower bound (training batches)", k, ""))
            rows.append((s, "log_k", math.log(k), math.nan, math.nan, "ceiling", k, ""))
        return rows

    def _append_csv(self) -> None:
        rows = self._step_rows(self._written_steps) + self._rows[self._written_rows:]
        self._written_steps, self._written_rows = len(self._steps), len(self._rows)
        with open(self.out / "monitor.csv", "a", newline="") as fh:
            csv.writer(fh).writerows(rows)

    def frame(self):
        """The tidy table: one row per ``step`` and ``quantity`` (:data:`QUANTITIES`, plus the metrics).

        Columns ``step, quantity, value, ci_low, ci_high, kind, K, estimator`` (nats; ``K`` is the
        batch's ``K`` for ``train_bound``/``log_k`` and ``K_probe`` for the held-out bound).
        """
        import pandas as pd

        rows = sorted(self._step_rows(0) + self._rows, key=lambda r: r[0])
        return pd.DataFrame(rows, columns=list(_COLUMNS))

    def diagnostics_frame(self):
        """The diagnostics as a table ``step, code, message``."""
        import pandas as pd

        return pd.DataFrame(self.diagnostics, columns=["step", "code", "message"])

    def plot(self, ax=None, title: str | None = None):
        """The chain over steps in one figure (:func:`mibound.monitor.plot.plot_chain`)."""
        from mibound.monitor.plot import plot_chain

        return plot_chain(self.frame(), ax=ax, title=title)

    def close(self, *, figure: bool = True) -> None:
        """A last checkpoint if the last step was not one (and an encoder is known); write the files."""
        if self._steps and self._checkpointed != self.step and (self.encoder is not None and self.probe is not None):
            self.checkpoint()
        if self.out is None:
            return
        from mibound.inputs.files import atomic_write_text

        self._append_csv()
        atomic_write_text(self.out / "monitor_diagnostics.csv", self.diagnostics_frame().to_csv(index=False))
        if figure and (self._steps or self.checkpoints):
            from mibound.monitor.plot import save

            save(self.plot(), self.out, "monitor")

    def summary(self) -> str:
        """One line per checkpoint: the chain's numbers."""
        lines = []
        for r in self.checkpoints:
            lines.append(f"step {r['step']}: I(v1;v2)={r.get('mi_views', math.nan):.3f} >= "
                         f"I(z1;z2)={r.get('mi_codes', math.nan):.3f} >= held-out={r.get('heldout_bound', math.nan):.3f}"
                         f" ; log K - L={r.get('train_bound_window', math.nan):.3f}")
        return "\n".join(lines)
