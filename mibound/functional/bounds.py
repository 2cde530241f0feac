"""Variational MI bounds as pure functions of a score matrix.

Conventions
-----------
``scores`` is a ``(K, K)`` tensor with ``scores[i, j] = f(x_i, y_j)``: the diagonal holds the
``K`` positive pairs drawn from ``p(x, y)``, the ``K (K - 1)`` off-diagonal entries are treated as
samples from ``p(x) p(y)``. ``K`` counts all candidates including the positive. Every function
returns a 0-d tensor in nats and is computed in log-space (``logsumexp``, ``softplus``), never
``log(sum(exp))``.

Every function also accepts a stack of score matrices of shape ``(..., K, K)`` (one per run of an
ensemble, see :mod:`mibound.neural.stacking`) and then returns one value per matrix, shape ``(...)``;
the formulas act on the last two dimensions only, so no value mixes two matrices.

Each estimator separates the value it *reports* from the *surrogate* it trains on; the
pairs are listed in :data:`mibound.neural.objectives.OBJECTIVES`.

References
----------
van den Oord et al. (2018), "Representation Learning with Contrastive Predictive Coding" (InfoNCE).
Nguyen, Wainwright & Jordan (2010) (NWJ). Donsker & Varadhan (1983) (DV).
Belghazi et al. (2018), "MINE: Mutual Information Neural Estimation", ICML.
Poole et al. (2019), "On Variational Bounds of Mutual Information", ICML (TUBA, JS, notation).
Song & Ermon (2020), "Understanding the Limitations of Variational MI Estimators", ICLR (SMILE).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

__all__ = [
    "infonce",
    "infonce_rows",
    "nwj",
    "tuba",
    "dv",
    "js_fgan",
    "js_nwj_readout",
    "smile",
    "mine_surrogate",
    "interpolated_infonce",
    "log_mean_exp_offdiag",
]


def _check_scores(scores: torch.Tensor) -> int:
    if not isinstance(scores, torch.Tensor):
        raise TypeError(f"scores must be a torch.Tensor, got {type(scores).__name__}")
    if scores.ndim < 2 or scores.shape[-1] != scores.shape[-2]:
        raise ValueError(f"scores must be a square (K, K) matrix or a stack (..., K, K), got shape "
                         f"{tuple(scores.shape)}")
    k = scores.shape[-1]
    if k < 2:
        raise ValueError(f"scores needs K >= 2 candidates (one positive and a negative), got K={k}")
    return k


def _diag(scores: torch.Tensor) -> torch.Tensor:
    """The positives ``scores[..., i, i]``, shape ``(..., K)`` (a view)."""
    return scores.diagonal(dim1=-2, dim2=-1)


@lru_cache(maxsize=64)
def _diag_mask(k: int, device: torch.device) -> torch.Tensor:
    """Boolean ``(K, K)`` mask of the diagonal, built once per ``(K, device)`` and reused."""
    return torch.eye(k, dtype=torch.bool, device=device)


def log_mean_exp_offdiag(scores: torch.Tensor) -> torch.Tensor:
    """``log mean_{i != j} exp(scores[i, j])``, computed stably.

    Parameters
    ----------
    scores : Tensor, shape (K, K) or (..., K, K)

    Returns
    -------
    Tensor, shape () or (...)
    """
    k = _check_scores(scores)
    off = scores.masked_fill(_diag_mask(k, scores.device), float("-inf"))
    return torch.logsumexp(off.flatten(-2), dim=-1) - math.log(k * (k - 1))


def infonce(scores: torch.Tensor) -> torch.Tensor:
    """InfoNCE lower bound: ``mean_i (S_ii - logsumexp_j S_ij) + log K``.

    Always ``<= log K`` (van den Oord et al. 2018; Poole et al. 2019, eq. 12).

    Parameters
    ----------
    scores : Tensor, shape (K, K)
        ``scores[i, j] = f(x_i, y_j)``; positives on the diagonal.

    Returns
    -------
    Tensor, shape ()
        The bound in nats.
    """
    k = _check_scores(scores)
    return infonce_rows(scores).mean(-1) + math.log(k)


def infonce_rows(scores: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """Per-row InfoNCE terms ``S[i, offset + i] - logsumexp_j S[i, j]`` of a block of rows.

    ``scores`` holds ``k`` consecutive rows ``offset .. offset + k - 1`` of a ``(K, K)`` score
    matrix (all ``K`` candidates in the columns), so the positive of row ``i`` sits in column
    ``offset + i``. :func:`infonce` is ``infonce_rows(S).mean(-1) + log K``; with the rows of ``S``
    split over processes, the mean of every process's terms plus ``log K`` is the same bound.

    Parameters
    ----------
    scores : Tensor, shape (..., k, K)
        A block of rows, or a stack of them (ensembles).
    offset : int, default 0
        Index of the first row in the full matrix; ``0 <= offset <= K - k``.

    Returns
    -------
    Tensor, shape (..., k)
        Each row's term in nats (``<= 0``).
    """
    if not isinstance(scores, torch.Tensor):
        raise TypeError(f"scores must be a torch.Tensor, got {type(scores).__name__}")
    if scores.ndim < 2:
        raise ValueError(f"scores must be a (k, K) block of rows, got shape {tuple(scores.shape)}")
    k, big_k = scores.shape[-2:]
    if k < 1 or big_k < 2:
        raise ValueError(f"scores needs k >= 1 rows and K >= 2 candidates, got shape {tuple(scores.shape)}")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= big_k - k:
        raise ValueError(f"offset must be an int in [0, K - k] = [0, {big_k - k}], got {offset!r}")
    return scores.diagonal(offset, dim1=-2, dim2=-1) - torch.logsumexp(scores, dim=-1)


def tuba(scores: torch.Tensor, log_baseline: torch.Tensor | None = None) -> torch.Tensor:
    """Tractable unnormalised Barber-Agakov bound (Poole et al. 2019, eq. 7).

    ``1 + mean_i (S_ii - a_i) - mean_{i != j} exp(S_ij - a_j)`` with ``a_j = log a(y_j)`` the
    baseline of the candidate ``y_j``. With ``a = 1`` everywhere this is :func:`nwj`.

    Parameters
    ----------
    scores : Tensor, shape (K, K) or (..., K, K)
    log_baseline : Tensor, shape (K,) or (..., K), optional
        ``log a(y_j)`` for each column; zero when omitted.
    """
    k = _check_scores(scores)
    if log_baseline is not None:
        if log_baseline.ndim < 1 or log_baseline.shape[-1] != k or log_baseline.ndim > scores.ndim - 1:
            raise ValueError(f"log_baseline must have shape ({k},) or (..., {k}) matching scores "
                             f"{tuple(scores.shape)}, got {tuple(log_baseline.shape)}")
        scores = scores - log_baseline.unsqueeze(-2)
    joint = _diag(scores).mean(-1)
    marginal = torch.exp(log_mean_exp_offdiag(scores))
    return 1.0 + joint - marginal


def nwj(scores: torch.Tensor) -> torch.Tensor:
    """NWJ / f-divergence bound: ``mean_i S_ii - e^{-1} mean_{i != j} exp(S_ij)``.

    Tight at ``S = 1 + log p(y|x)/p(y)`` (Nguyen et al. 2010; Poole et al. 2019, eq. 9).
    The exponential is taken in log-space as ``exp(logmeanexp - 1)`` so that a large score gives
    ``inf`` only when the bound itself is ``-inf``.
    """
    return tuba(scores - 1.0)


def dv(scores: torch.Tensor) -> torch.Tensor:
    """Donsker-Varadhan bound: ``mean_i S_ii - log mean_{i != j} exp(S_ij)``."""
    _check_scores(scores)
    return _diag(scores).mean(-1) - log_mean_exp_offdiag(scores)


def js_fgan(scores: torch.Tensor) -> torch.Tensor:
    """The f-GAN Jensen-Shannon objective (not an MI bound; a training surrogate).

    ``mean_i -softplus(-S_ii) - mean_{i != j} softplus(S_ij)``; maximised at
    ``S = log p(x, y) / (p(x) p(y))`` (Nowozin et al. 2016; Poole et al. 2019, sec. 2.3).
    """
    k = _check_scores(scores)
    diag = _diag(scores)
    first = -F.softplus(-diag).mean(-1)
    second = (F.softplus(scores).sum((-2, -1)) - F.softplus(diag).sum(-1)) / (k * (k - 1))
    return first - second


def js_nwj_readout(scores: torch.Tensor) -> torch.Tensor:
    """NWJ evaluated on a JS-trained critic: ``nwj(S + 1)``.

    The JS optimum is the log density ratio ``log r``; NWJ is tight at ``1 + log r``, so the
    readout shifts by one (Poole et al. 2019, sec. 2.3; Song & Ermon 2020).
    """
    return nwj(scores + 1.0)


def smile(scores: torch.Tensor, clip: float | None = 5.0) -> torch.Tensor:
    """SMILE estimate: DV with the partition function's scores clipped to ``[-clip, clip]``.

    ``mean_i S_ii - log mean_{i != j} exp(clip(S_ij, -tau, tau))`` (Song & Ermon 2020, eq. 17).
    With ``clip=None`` this is :func:`dv`. Not a bound for finite ``clip``; lower variance.
    """
    _check_scores(scores)
    clipped = scores if clip is None else scores.clamp(-clip, clip)
    return _diag(scores).mean(-1) - log_mean_exp_offdiag(clipped)


def interpolated_infonce(scores: torch.Tensor, log_baseline: torch.Tensor | None = None,
                         alpha: float = 0.01) -> torch.Tensor:
    """The alpha-interpolated bound ``I_alpha`` between InfoNCE and TUBA (Poole et al. 2019, eq. 13).

    ``1 + mean_i(S_ii - log d_i) - mean_{i != j} exp(S_ij - log d'_j)`` with the denominators
    ``d = alpha m(y) + (1 - alpha) a(y)``: ``m(y_i) = mean_k exp(S_ki)`` over the batch (the
    positive included) for the joint term, and its leave-one-out mean over ``k != j`` for the
    negatives (as in Poole et al.'s code), ``a(y) = exp(log_baseline)``. ``alpha = 1`` gives
    InfoNCE read by columns (``infonce(S.T)``); ``alpha = 0`` gives :func:`tuba`. Small ``alpha``
    trades InfoNCE's ``log K`` ceiling for some of TUBA's variance.

    Parameters
    ----------
    scores : Tensor, shape (K, K) or (..., K, K)
    log_baseline : Tensor, shape (K,) or (..., K), optional
        ``log a(y_j)``; zero when omitted.
    alpha : float in [0, 1], default 0.01
    """
    k = _check_scores(scores)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    b = torch.zeros(scores.shape[:-2] + (k,), dtype=scores.dtype, device=scores.device) if log_baseline is None \
        else log_baseline
    la = math.log(alpha) if alpha > 0 else float("-inf")
    lb = math.log1p(-alpha) if alpha < 1 else float("-inf")
    log_m = torch.logsumexp(scores, dim=-2) - math.log(k)  # column means, (..., K)
    off = scores.masked_fill(_diag_mask(k, scores.device), float("-inf"))
    log_m_loo = torch.logsumexp(off, dim=-2) - math.log(k - 1)
    log_d = torch.logaddexp(la + log_m, lb + b)
    log_d_loo = torch.logaddexp(la + log_m_loo, lb + b)
    joint = (_diag(scores) - log_d).mean(-1)
    marginal = torch.exp(log_mean_exp_offdiag(scores - log_d_loo.unsqueeze(-2)))
    return 1.0 + joint - marginal


def mine_surrogate(scores: torch.Tensor, log_ema: torch.Tensor) -> torch.Tensor:
    """MINE's bias-corrected training objective (Belghazi et al. 2018, sec. 3.2).

    ``mean_i S_ii - mean_{i != j} exp(S_ij) / EMA``: its gradient equals the DV gradient with the
    minibatch partition function in the denominator replaced by a moving average ``EMA`` (given
    as ``log_ema``, treated as a constant; shape ``()`` or the stack's ``(...)``). The value itself
    is not reported.
    """
    _check_scores(scores)
    return _diag(scores).mean(-1) - torch.exp(log_mean_exp_offdiag(scores) - log_ema.detach())
