"""The registry of training objectives: everything the engine needs to know about one neural estimator.

Each entry of :data:`OBJECTIVES` holds the value the estimator reports, the surrogate it trains on
(when that differs), its ceiling, whether it is a bound, whether it needs a learned baseline
network (TUBA), whether its rows split across processes (InfoNCE, for distributed global
negatives) and whether it keeps a moving average (MINE). No code outside this module compares
estimator names: the engine, the estimators, the ensemble and the distributed layout read these
attributes. Adding a bound is one entry here (and its tests)::

    def _report_mybound(scores, loss, y):
        return my_bound(scores)                     # a function of the score matrix, in nats

    OBJECTIVES["mybound"] = Objective("mybound", _report_mybound, None, None, True, "my bound")

:class:`Loss` turns an entry into the ``nn.Module`` that training calls: ``forward(scores, y) ->
(loss, value)``, holding the entry's state (TUBA's baseline network, MINE's moving average).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from mibound.functional import bounds
from mibound.inputs.checks import check_choice
from mibound.neural.critics import mlp

__all__ = ["Objective", "OBJECTIVES", "NEURAL_ESTIMATORS", "Loss"]

#: ``(scores, loss, y) -> value``: a function of the score matrix (or stack), with the
#: :class:`Loss` for its options and state and the candidates ``y`` for a baseline.
ScoreFn = Callable[[torch.Tensor, "Loss", torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Objective:
    """One estimator's behaviour as a function of the score matrix.

    Attributes
    ----------
    name : str
    report : callable ``(scores, loss, y) -> Tensor``
        The value the estimator reports (nats), one per score matrix.
    surrogate : callable or None
        What training maximises, when that is not ``report`` itself (MINE's corrected gradient,
        the f-GAN JS objective of JS and SMILE).
    ceiling : callable ``K -> float`` or None
        The largest value ``report`` can take for batch size ``K`` (``log K`` for InfoNCE).
    is_bound : bool
        Whether ``report`` is a lower bound on MI in expectation.
    description : str
    baseline : bool, default False
        Needs a learned baseline ``log a(y)`` (TUBA); :class:`Loss` builds the network.
    rows : callable ``(block (k, K), offset) -> Tensor`` or None
        The reported value of a block of rows of the global score matrix, when the bound is a
        mean over rows (InfoNCE): then each process of a distributed fit scores only its own
        rows (``mean over processes`` = the global bound). ``None``: every process forms the
        whole matrix.
    moving_average : bool, default False
        Keeps a moving average of the partition function (MINE; ``Loss.log_ema``).
    """

    name: str
    report: ScoreFn
    surrogate: ScoreFn | None
    ceiling: Callable[[int], float] | None
    is_bound: bool
    description: str
    baseline: bool = False
    rows: Callable[[torch.Tensor, int], torch.Tensor] | None = None
    moving_average: bool = False


def _infonce_rows(block: torch.Tensor, offset: int) -> torch.Tensor:
    return bounds.infonce_rows(block, offset).mean(-1) + math.log(block.shape[-1])


def _mine_surrogate(scores: torch.Tensor, loss: "Loss", y: torch.Tensor) -> torch.Tensor:
    """Belghazi et al. (2018) sec. 3.2: the DV gradient with a moving average of the partition function."""
    lme = bounds.log_mean_exp_offdiag(scores)
    with torch.no_grad():  # branch-free (no host synchronisation): the first step starts the average
        a = loss.ema_rate
        ema = torch.logaddexp(loss.log_ema + math.log1p(-a), lme + math.log(a))
        loss.log_ema.copy_(torch.where(torch.isnan(loss.log_ema), lme, ema))
    return bounds.mine_surrogate(scores, loss.log_ema)


def _js(scores, loss, y):
    return bounds.js_fgan(scores)


OBJECTIVES: dict[str, Objective] = {
    "infonce": Objective("infonce", lambda s, l, y: bounds.infonce(s), None, math.log, True,
                         "InfoNCE; trains on and reports the same bound; <= log K", rows=_infonce_rows),
    "nwj": Objective("nwj", lambda s, l, y: bounds.nwj(s), None, None, True,
                     "NWJ; trains on and reports the same bound"),
    "dv": Objective("dv", lambda s, l, y: bounds.dv(s), None, None, True,
                    "Donsker-Varadhan; trains on its biased minibatch gradient, reports DV"),
    "mine": Objective("mine", lambda s, l, y: bounds.dv(s), _mine_surrogate, None, True,
                      "MINE; trains DV with a moving-average corrected gradient, reports DV", moving_average=True),
    "tuba": Objective("tuba", lambda s, l, y: bounds.tuba(s, l.log_baseline(y)), None, None, True,
                      "TUBA; critic and a learned baseline log a(y) trained on the bound", baseline=True),
    "js": Objective("js", lambda s, l, y: bounds.js_nwj_readout(s), _js, None, True,
                    "trains the f-GAN JS surrogate, reports NWJ on the critic plus one"),
    "smile": Objective("smile", lambda s, l, y: bounds.smile(s, l.clip), _js, None, False,
                       "trains the f-GAN JS surrogate, reports DV with clipped partition (tau=5)"),
    "alpha_infonce": Objective("alpha_infonce", lambda s, l, y: bounds.interpolated_infonce(s, l.log_baseline(y), l.alpha),
                               None, None, True, "Poole et al.'s I_alpha between InfoNCE and TUBA (alpha=0.01), "
                               "critic and baseline trained on the bound", baseline=True),
}

#: The names of the neural estimators, in registry order.
NEURAL_ESTIMATORS = tuple(OBJECTIVES)


class Loss(nn.Module):
    """Surrogate loss and reported value of one estimator, as a function of the score matrix.

    ``forward(scores, y) -> (loss, value)``: ``loss`` is minimised during training, ``value``
    (detached) is what the estimator reports on that batch. Holds the state of its
    :class:`Objective`: TUBA's baseline network ``log a(y)``, MINE's moving average.

    ``scores`` may also be a stack ``(R, K, K)`` with ``y`` of shape ``(R, K, dy)`` (an ensemble
    of ``R`` runs, :mod:`mibound.neural.stacking`); ``loss`` and ``value`` then have shape ``(R,)`` and
    MINE's moving average holds one entry per run.

    Parameters
    ----------
    name : str
        A key of :data:`OBJECTIVES`.
    dim_y : int
        Input size of the baseline network (TUBA).
    clip : float, default 5.0
        SMILE's clipping threshold ``tau``.
    ema_rate : float, default 0.01
        MINE's moving-average rate.
    alpha : float, default 0.01
        The interpolation of ``alpha_infonce``.
    """

    def __init__(self, name: str, dim_y: int, clip: float | None = 5.0, ema_rate: float = 0.01, alpha: float = 0.01):
        super().__init__()
        self.name = check_choice(name, OBJECTIVES, "neural estimator")
        self.objective = OBJECTIVES[self.name]
        self.clip = clip
        self.ema_rate = ema_rate
        self.alpha = alpha
        self.baseline = mlp(dim_y, [64], 1) if self.objective.baseline else None
        self.register_buffer("log_ema", torch.tensor(float("nan")))

    def log_baseline(self, y: torch.Tensor) -> torch.Tensor | None:
        """``log a(y_j)`` of each candidate, shape ``(..., K)`` (``None`` without a baseline)."""
        return None if self.baseline is None else self.baseline(y).squeeze(-1)

    def report(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The reported value on one batch (no surrogate, no state update)."""
        return self.objective.report(scores, self, y)

    def forward(self, scores: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        value = self.report(scores, y)
        if self.objective.surrogate is None:
            return -value, value.detach()
        return -self.objective.surrogate(scores, self, y), value.detach()
