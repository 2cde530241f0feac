"""The entry points: :func:`estimate_mi`, :func:`estimate_mi_distributed` and :func:`permutation_test`."""

from __future__ import annotations

import inspect

from typing import TYPE_CHECKING

from mibound.estimators.permutation import permutation_test
from mibound.registry import DEFAULT_ESTIMATOR, DISTRIBUTED_DEFAULTS, make_estimator, takes
from mibound.results import EstimateResult

if TYPE_CHECKING:  # torch loads with the neural paths only (issue 24)
    from mibound.data.base import Sampler

__all__ = ["estimate_mi", "estimate_mi_distributed", "permutation_test"]


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
        ``auto`` (:mod:`mibound.estimators.auto`: a panel chosen on validation rows, the choice reported on
        test rows, with the panel and the reason in ``settings``), ``infonce``, ``nwj``, ``dv``,
        ``mine``, ``tuba``, ``js``, ``smile``, ``alpha_infonce`` (neural, trained on a split and read out on
        held-out data), ``gaussian`` (plug-in / CCA), ``gcmi`` (Gaussian copula), ``tcmi`` (Student-t
        copula), ``ksg``, ``discrete``, ``flow`` or ``doe`` (normalizing flows; the ``flow`` extra). Every
        name: :data:`mibound.registry.ESTIMATORS`.
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
    elif takes(estimator, "progress"):  # flow, doe, latent: their own progress bars
        estimator_options.setdefault("progress", progress)
    if takes(estimator, "seed"):
        estimator_options.setdefault("seed", seed)
    return make_estimator(estimator, **estimator_options).fit(x, y, true_mi=true_mi).result_


def estimate_mi_distributed(x=None, y=None, estimator: str = DISTRIBUTED_DEFAULTS["estimator"], critic=None,
                            batch_size: int | None = None, steps: int | None = None, seed: int = 0,
                            progress: bool = True, true_mi: float | None = None, *, sampler: Sampler | None = None,
                            device: str = DISTRIBUTED_DEFAULTS["device"],
                            backend: str | None = DISTRIBUTED_DEFAULTS["backend"],
                            **estimator_options) -> EstimateResult:
    """Estimate ``I(x; y)`` in nats with the batch spread over the processes of a ``torchrun`` launch.

    Call it on every process (it joins the process group, or creates it from torchrun's
    environment and destroys it at the end; without torchrun it runs in this one process).

    Parameters
    ----------
    x, y : array_like or numpy.memmap, shapes (n, dx) and (n, dy)
        The same data on every process; each process reads only its shard. Give either these or
        ``sampler``.
    estimator : str, default "infonce"
        A neural estimator (``infonce``, ``nwj``, ``dv``, ``mine``, ``tuba``, ``js``, ``smile``).
    critic : str or nn.Module, optional
        As for :func:`estimate_mi` (default auto: conv for image views, separable otherwise).
    batch_size : int, optional
        Pairs per process (default 64); the global batch is ``K = world_size * batch_size``.
    steps : int, optional
        Training steps (default 2000).
    seed : int, default 0
        Same on every process: it seeds the critic, the split and (with the rank) the data streams.
    progress : bool, default True
        Progress bar on rank 0.
    true_mi : float, optional
    sampler : Sampler, optional
        Fresh samples every step instead of ``x, y``.
    device : {"auto", "cpu", "cuda"}, default "auto"
    backend : str, optional
    **estimator_options
        Further :class:`~mibound.estimators.distributed.DistributedNeuralEstimator` parameters (``learning_rate``, ``critic_options``, ...).

    Returns
    -------
    EstimateResult
        The same on every process; ``batch_size`` and ``ceiling`` refer to the global ``K``;
        ``settings`` records ``world_size``, ``local_batch_size``, ``backend`` and ``device``.

    Examples
    --------
    A script ``run.py`` launched by ``torchrun --nproc_per_node=2 run.py``::

        import os
        import mibound

        res = mibound.estimate_mi_distributed(sampler=mibound.CorrelatedGaussian.from_mi(10, 20),
                                              batch_size=64, steps=2000, device="cpu")
        if int(os.environ.get("RANK", "0")) == 0:  # every process holds the same result
            print(res.summary())
    """
    from mibound.estimators.distributed import DistributedNeuralEstimator

    valid = [q for q in inspect.signature(DistributedNeuralEstimator).parameters
             if q not in ("estimator", "critic", "batch_size", "steps", "seed", "progress", "device", "backend")]
    unknown = sorted(set(estimator_options) - set(valid))
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for estimate_mi_distributed; valid options: {valid}")
    if (sampler is None) == (x is None and y is None):
        raise ValueError("give either x and y, or sampler=, not both or neither")
    given = {k: v for k, v in (("critic", critic), ("batch_size", batch_size), ("steps", steps)) if v is not None}
    est = DistributedNeuralEstimator(estimator=estimator, seed=seed, progress=progress, device=device, backend=backend,
                                     **given, **estimator_options)
    if sampler is not None:
        return est.fit_sampler(sampler, true_mi=true_mi).result_
    if x is None or y is None:
        raise ValueError("give both x and y")
    return est.fit(x, y, true_mi=true_mi).result_
