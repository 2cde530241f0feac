"""Is there any dependence at all? A permutation test of independence with any estimator.

Shuffling the rows of ``y`` against those of ``x`` keeps both marginals and destroys every
dependence: the estimates of ``N`` shuffled pairs are draws of the estimator's value under
independence (its *null*), biases and all. :func:`permutation_test` fits the same estimator with
the same settings and the same seed to the observed pair and to ``N`` shuffled ones, and reports
where the observed estimate falls among them:

* ``p_value = (1 + #{null >= estimate}) / (1 + N)`` — the permutation p-value with the +1
  correction (Phipson & Smyth 2010), valid at every ``N``: under independence
  ``P(p_value <= a) <= a``. Its resolution is ``1 / (N + 1)``: with ``N = 99`` the smallest
  possible value is 0.01.
* ``excess = estimate - null_mean`` — what the estimate exceeds the estimator's value on
  independent data by. A bias that the observed and the shuffled fits share (a plug-in's
  upward bias in high dimension, a critic's memorisation) cancels in ``excess``, not in
  ``estimate``. ``excess`` is not an MI estimate either: the bias of an estimator depends on the MI.

What the test can and cannot tell
---------------------------------
It tests independence of ``x`` and ``y`` — nothing about the size of the MI: a tiny MI on many
rows is significant, a large one on a few rows may not be. Rows are assumed exchangeable (i.i.d.
pairs); for time series or grouped rows a shuffle breaks more than the dependence and the test is
anti-conservative. Neural nulls are noisy (every shuffled fit trains its own critic), so ``null_std``
is partly training noise; a small ``N`` then gives a coarse p-value.

Comparable fits
---------------
Every fit uses the estimator's own seed (the same split of the rows into train / validation /
test, the same critic initialisation, the same half-samples or tie jitter); only the pairing
changes. Non-neural estimators (and ``auto``, ``flow``, ``doe``) are simply refitted ``N`` times. The
critics of a neural estimator train together, the observed one and the ``N`` shuffled ones, as one
stacked ensemble (:func:`mibound.estimators.stacked.reordered_runs`) in one call of the one driver of
critic fits (:func:`mibound.estimators.neural.fit_critics`) on one :class:`~mibound.neural.plan.FitPlan`:
each run selects its own checkpoint on its validation rows, and training stops once no run has
improved for ``patience`` steps.
"""

from __future__ import annotations

import time

import numpy as np

from mibound.inputs.checks import check_int, check_seed, flatten_views
from mibound.inputs.pair import Pair, read_pair
from mibound.registry import DEFAULT_ESTIMATOR, make_estimator, takes
from mibound.results import EstimateResult, PermutationResult

__all__ = ["permutation_test", "permutations"]

#: Mixed into the permutations' seed, so that their stream is never the one that drew the data.
_PERMUTATION_SALT = 0x7065726D  # "perm"


def permutations(n: int, n_permutations: int, seed: int) -> list[np.ndarray]:
    """The row orders of the shuffled ``y``: ``n_permutations`` permutations of ``range(n)`` from ``seed``."""
    rng = np.random.default_rng([check_seed(seed), _PERMUTATION_SALT])
    return [rng.permutation(n) for _ in range(n_permutations)]


def permutation_test(x, y, estimator: str = DEFAULT_ESTIMATOR, n_permutations: int = 100, seed: int = 0,
                     progress: bool = True, **options) -> PermutationResult:
    """Test whether ``x`` and ``y`` are dependent: the estimate against its values on row-shuffled pairs.

    See the module docstring for what the test can and cannot tell.

    Parameters
    ----------
    x : array_like, shape (n, dx) or (n,)
    y : array_like, shape (n, dy) or (n,)
        As :func:`mibound.estimate_mi` takes them.
    estimator : str, default "auto"
        Any name of :data:`mibound.registry.ESTIMATORS`. With ``auto`` the panel runs once, on the
        observed pairs, and only its chosen member is read on the shuffles, which permute ``y`` among
        the test rows (:func:`_auto`; ``settings["training"]`` says so).
    n_permutations : int, default 100
        ``N``, the shuffled pairs (at least 1); the p-value's resolution is ``1 / (N + 1)``.
    seed : int, default 0
        Seeds the estimator (every fit alike) and, salted, the permutations.
    progress : bool, default True
        Progress bars (the inner fits never show theirs).
    **options
        Hyper-parameters of the estimator (e.g. ``steps``, ``batch_size``, ``neural``, ``k``).

    Returns
    -------
    PermutationResult

    References
    ----------
    Phipson & Smyth (2010), "Permutation p-values should never be zero", Stat. Appl. Genet. Mol. Biol. 9(1).

    Examples
    --------
    >>> import numpy as np, mibound
    >>> x, y = mibound.CorrelatedGaussian.from_mi(0.2, dim=1).sample(500, seed=0)
    >>> t = mibound.permutation_test(x, y, estimator="gaussian", n_permutations=19, progress=False)
    >>> t.p_value == 1 / 20
    True
    """
    n_permutations = check_int(n_permutations, "n_permutations", minimum=1)
    seed = check_seed(seed)
    t0 = time.perf_counter()
    if takes(estimator, "seed"):
        options["seed"] = seed
    if takes(estimator, "progress"):
        options["progress"] = False
    est = make_estimator(estimator, **options)  # unknown options raise here, before any work
    name = estimator.strip().lower()
    layout = est.checked_params()["image_layout"] if est.kind == "neural" else "auto"
    xf, yf, shapes = flatten_views(x, y, layout)  # images: rows of pixels, their shapes kept for the critic
    keep = (shapes[0] is not None, shapes[1] is not None) if est.kind == "neural" else (False, False)
    pair = read_pair(xf, yf, dtype=np.float32 if est.kind == "neural" else np.float64, keep=keep)
    orders = permutations(pair.n, n_permutations, seed)
    training = "stacked ensemble" if est.kind == "neural" else "refit"
    if pair.degenerate:  # I(x; y) = 0 exactly, and so on every shuffle
        observed, null = est.fit(x, y).result_, np.zeros(n_permutations)
    elif name == "auto":
        observed, null, training = _auto(est, x, y, pair, n_permutations, seed, progress)
    elif est.kind == "neural":
        observed, null = _stacked(est, pair, orders, progress, t0, shapes)
    else:
        from tqdm.auto import tqdm

        observed = make_estimator(estimator, **options).fit(x, y).result_
        # the interval of a plug-in is not its estimate: the shuffled fits skip the half-samples
        null_options = {**options, "n_subsamples": 0} if takes(estimator, "n_subsamples") else options
        null = np.array([make_estimator(estimator, **null_options).fit(pair.x, pair.y[order]).result_.estimate
                         for order in tqdm(orders, desc=f"{name} on shuffled pairs", disable=not progress,
                                           leave=False, unit="fit")])
    if not np.all(np.isfinite(null)):
        raise RuntimeError(f"{name} gave non-finite values on {int((~np.isfinite(null)).sum())} shuffled pair(s)")
    p_value = (1 + int(np.sum(null >= observed.estimate))) / (1 + n_permutations)
    return PermutationResult(estimator=observed.estimator, estimate=observed.estimate, null=null, p_value=p_value,
                             n_permutations=n_permutations, seed=seed, observed=observed,
                             seconds=time.perf_counter() - t0,
                             settings={"permutation_seed": [seed, _PERMUTATION_SALT],
                                       "training": training})


def _stacked(est, pair: Pair, orders: list[np.ndarray], progress: bool, t0: float,
             shapes=(None, None)) -> tuple[EstimateResult, np.ndarray]:
    """The observed and the shuffled fits of a :class:`~mibound.estimators.NeuralEstimator` as one ensemble.

    ``shapes``: per-sample image shapes ``(C, H, W)`` of flattened image views (``None``: flat).
    """
    from mibound.estimators.neural import fit_critics
    from mibound.estimators.stacked import check_named_critic, reordered_runs

    p = est.checked_params()
    check_named_critic(est, p)
    plan, readout, k_eval = est.plans(p, pair.n)
    pairs = [(None, None)] + [(None, o) for o in orders]  # run 0: the observed pairing
    fit = fit_critics(p=p, num_threads=est.num_threads, progress=progress,
                      desc=f"{p['estimator']}: observed + {len(orders)} shuffled",
                      **reordered_runs(est, pair.x, pair.y, pairs, p=p, plan=plan, readout=readout, shapes=shapes))
    est.finish(p, fit, batch_size=p["batch_size"], n_train=plan.sizes["train"], n_test=readout.rows_used("test"),
               true_mi=None, t0=t0, eval_batch_size=k_eval,
               settings={"selection": fit.selection(), "ensemble_runs": len(pairs)})
    est.annotate(pair)
    return est.result_, fit.values[1:].mean(axis=1)


def _auto(est, x, y, pair: Pair, n_permutations: int, seed: int, progress: bool):
    """``auto``: choose the member once on the observed pairs, then read only it on shuffled test rows.

    The panel runs once (:class:`~mibound.estimators.AutoEstimator`); its estimate is the chosen
    member's value on the test rows. Every choice (the member; the neural member's input maps, critic,
    rate and checkpoint) is made on the training and validation rows, so the statistic is a fixed
    function of the test rows given them. The shuffles permute ``y`` among the test rows only, and the
    chosen member reads them as it read the observed ones: a plug-in member is fitted on the test rows
    alone, the critic is read on them (:meth:`~mibound.estimators.NeuralEstimator.read_test`, nothing
    retrained). Under independence the test rows are exchangeable in ``y`` given the other rows, so
    the test's size is exact (``P(p <= a) <= a``), conditionally on the choice. Returns
    ``(observed, null, training)``.
    """
    from tqdm.auto import tqdm

    auto = est.fit(x, y)
    observed = auto.result_
    chosen = observed.settings["choice"]["estimator"]
    if chosen is None:  # a view without a varying column: 0 on every shuffle
        return observed, np.zeros(n_permutations), "auto: no member (a constant view)"
    member = auto.members_[chosen]
    test_rows = auto.plan_.part_rows("test")
    orders = permutations(len(test_rows), n_permutations, seed)
    # read_pair dropped the constant columns; auto ran on the rest (pair.x, pair.y), in float64
    xs, ys = auto.pair_x_, auto.pair_y_
    bar = tqdm(orders, desc=f"auto ({chosen}) on shuffled test rows", disable=not progress, leave=False, unit="fit")
    if (member.kind == "neural" and auto.images_) or getattr(member, "learns_representation", False):
        # the critic on image views saw every pixel; latent learned its encoders on the training rows, and a
        # refit on the test rows alone would be another statistic: refit the whole panel on every shuffle
        bar.close()
        null = np.array([type(est)(**est.get_params()).fit(x, _shuffled(y, o)).result_.estimate
                         for o in permutations(pair.n, n_permutations, seed)])
        return observed, null, f"refit (auto chose {chosen}, which learns from the training rows)"
    if member.kind == "neural":
        xs32, null = xs.astype(np.float32), []
        for order in bar:
            yy = ys.copy()
            yy[test_rows] = ys[test_rows][order]
            null.append(float(np.mean(member.read_test(xs32, yy.astype(np.float32)))))
        null = np.array(null)
    else:
        params = {**member.get_params(), **({"n_subsamples": 0} if "n_subsamples" in member.get_params() else {})}
        xt, yt = xs[test_rows], ys[test_rows]
        null = np.array([type(member)(**params).fit(xt, yt[order]).result_.estimate for order in bar])
    return observed, null, (f"auto: {chosen} chosen once on the observed pairs (training and validation rows); "
                            f"{n_permutations} shuffles of y among the {len(test_rows)} test rows read by it alone")


def _shuffled(y, order: np.ndarray):
    """``y`` with its rows in ``order`` (arrays and images alike)."""
    return np.asarray(y)[order]
