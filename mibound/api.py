"""The one-line entry point :func:`estimate_mi`."""

from __future__ import annotations

from ._validation import check_choice
from .estimators import ESTIMATORS, NeuralEstimator, make_estimator
from .results import EstimateResult

__all__ = ["estimate_mi"]

_NEURAL_DEFAULTS = {"critic": "separable", "batch_size": 64, "steps": 2000}


def estimate_mi(x, y, estimator: str = "infonce", critic="separable", batch_size: int = 64, steps: int = 2000,
                seed: int = 0, progress: bool = True, true_mi: float | None = None,
                **estimator_options) -> EstimateResult:
    """Estimate the mutual information ``I(x; y)`` in nats from paired samples.

    Parameters
    ----------
    x : array_like, shape (n, dx) or (n,)
        numpy array, torch tensor, pandas frame/series or nested list; 1-D input is one column.
    y : array_like, shape (n, dy) or (n,)
        Paired with ``x`` row by row.
    estimator : str, default "infonce"
        ``infonce``, ``nwj``, ``dv``, ``mine``, ``tuba``, ``js``, ``smile`` (neural, trained on a
        split and read out on held-out data), ``gaussian`` (plug-in / CCA) or ``ksg``.
    critic : str or nn.Module, default "separable"
        ``separable``, ``bilinear``, ``concat``, or a module (neural estimators only).
    batch_size : int, default 64
        ``K``; InfoNCE can never report more than ``log K`` (neural estimators only).
    steps : int, default 2000
        Training steps (neural estimators only).
    seed : int, default 0
    progress : bool, default True
        Show a progress bar while training.
    true_mi : float, optional
        Known MI, recorded in the result for comparison.
    **estimator_options
        Further hyper-parameters of the estimator class (e.g. ``learning_rate``, ``clip``,
        ``test_fraction``, ``critic_options`` for neural ones; ``k`` for KSG). Unknown names raise
        ``TypeError``.

    Returns
    -------
    EstimateResult

    Examples
    --------
    >>> import mibound
    >>> x, y = mibound.CorrelatedGaussian.from_mi(1.0, dim=2).sample(5000, seed=0)
    >>> res = mibound.estimate_mi(x, y, estimator="gaussian")
    >>> abs(res.estimate - 1.0) < 0.1
    True
    """
    key = check_choice(estimator, ESTIMATORS, "estimator")
    if ESTIMATORS[key] is NeuralEstimator:
        est = make_estimator(key, critic=critic, batch_size=batch_size, steps=steps, seed=seed,
                             progress=progress, **estimator_options)
    else:
        given = {"critic": critic, "batch_size": batch_size, "steps": steps}
        changed = sorted(k for k, v in given.items() if not (isinstance(v, type(_NEURAL_DEFAULTS[k]))
                                                              and v == _NEURAL_DEFAULTS[k]))
        if changed:
            raise ValueError(f"{', '.join(changed)} only apply to neural estimators, not {key!r}; drop them")
        if key == "gaussian":
            estimator_options.setdefault("seed", seed)
        est = make_estimator(key, **estimator_options)
    return est.fit(x, y, true_mi=true_mi).result_
