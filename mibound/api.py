"""The one-line entry point :func:`estimate_mi`."""

from __future__ import annotations

from mibound.registry import DEFAULT_ESTIMATOR, make_estimator, takes
from mibound.results import EstimateResult

__all__ = ["estimate_mi"]


def estimate_mi(x, y, estimator: str = DEFAULT_ESTIMATOR, critic=None, batch_size: int | None = None,
                steps: int | None = None, seed: int = 0, progress: bool = True, true_mi: float | None = None,
                **estimator_options) -> EstimateResult:
    """Estimate the mutual information ``I(x; y)`` in nats from paired samples.

    Parameters
    ----------
    x : array_like, shape (n, dx), (n,), or images (n, H, W) / (n, C, H, W)
        numpy array, torch tensor, pandas frame/series or nested list; 1-D input is one column.
        Images are channel-first; a 4-D array that looks channel-last (``(n, H, W, C)`` with
        ``C <= 4 < min(H, W)``) is refused with the fix (``x.transpose(0, 3, 1, 2)``) where the
        layout matters (neural estimators and ``auto``; ``image_layout="channels_first"``
        overrides the rule). Neural estimators read images with the conv critic; the others
        flatten them, with the ``flattened_images`` diagnostic.
    y : array_like, shape (n, dy), (n,), or images
        Paired with ``x`` row by row.
    estimator : str, default "auto"
        ``auto`` (:mod:`mibound.auto`: a panel chosen on validation rows, the choice reported on
        test rows, with the panel and the reason in ``settings``), ``infonce``, ``nwj``, ``dv``,
        ``mine``, ``tuba``, ``js``, ``smile`` (neural, trained on a split and read out on held-out
        data), ``gaussian`` (plug-in / CCA), ``gcmi`` (Gaussian copula), ``ksg`` or ``discrete``.
    critic : str or nn.Module, optional
        ``auto`` (the default: ``conv`` for image views, ``separable`` otherwise), ``separable``,
        ``bilinear``, ``concat``, ``conv``, or a module (neural estimators and ``auto`` only).
    batch_size : int, optional
        ``K`` (default 64); InfoNCE can never report more than ``log K`` (neural estimators only).
    steps : int, optional
        Training steps (default 2000; neural estimators only).
    seed : int, default 0
        Seeds every estimator that takes a seed (the split, the critic, half-samples, KSG's tie jitter).
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
    neural_only = {k: v for k, v in (("critic", critic), ("batch_size", batch_size), ("steps", steps))
                   if v is not None}
    if takes(estimator, "steps"):  # neural estimators and auto (for its neural member)
        estimator_options.update(neural_only, progress=progress)
    elif neural_only:
        raise ValueError(f"{', '.join(sorted(neural_only))} only apply to neural estimators, not "
                         f"{estimator.strip().lower()!r}; drop them")
    if takes(estimator, "seed"):
        estimator_options.setdefault("seed", seed)
    return make_estimator(estimator, **estimator_options).fit(x, y, true_mi=true_mi).result_
