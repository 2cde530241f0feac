"""Named, preconfigured samplers with stable ids, and their export to a task folder.

A :class:`Task` is a sampler with a stable id (``"gaussian-pairs-d5-mi1.0"``), a one-line
description and tags. ``mibound.data.tasks.list()`` returns the built-in tasks, ``mibound.data.tasks.get(id)``
one of them.

Task folder format (read by :mod:`mibound.bench`, written by :func:`export_tasks` and
``mibound tasks export DIR``): a directory of ``.npz`` files, one per task, each holding arrays
``x`` and ``y`` (2-D, the same number of rows ``n``; images flattened) and a scalar ``true_mi``
(nats). Other keys are ignored by readers; the exporter adds ``task_id``, ``description``,
``shape_x``, ``shape_y`` (per-sample shapes before flattening), ``seed``, ``true_mi_se`` (the
standard error of ``true_mi``: 0 where exact, the Monte-Carlo one for mixtures) and ``tags``
(comma-separated, the family first).

The built-in families (:data:`FAMILIES`) follow the MI-benchmark literature (Czyz et al. 2023,
"Beyond Normal", and their mixture tasks): Gaussian (dense and sparse, up to 50 + 50 dims),
Student-t, monotone and spiral transforms, Gaussian mixtures, concentric shells, discrete and mixed
discrete-continuous data, additive uniform noise, zero-MI (independent) pairs, high MI (up to 20
nats) and image views.

Ids are stable: they are never renamed or reused for a different distribution. The numbers a
task draws for a given seed depend on the torch/numpy random streams.
"""

from __future__ import annotations

import builtins
import zlib
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from mibound.data import (
    AdditiveUniformNoise,
    BinnedGaussian,
    ChannelSplitViews,
    ConcentricShells,
    CorrelatedPairs,
    DenseInteraction,
    DiscreteJoint,
    EncodedViews,
    GaussianRandomFieldCrops,
    Independent,
    JointGaussian,
    MixtureQuantile,
    MultivariateStudentT,
    NoisyDiscrete,
    RandomLinear,
    RenderedLatents,
    Sampler,
    SparseInteraction,
    Spiral,
    Transformed,
    Wiggly,
    ai_mixture,
    concentric_mixture,
    galaxy_mixture,
    inliers_mixture,
    waves_mixture,
    x_mixture,
)
from mibound.inputs.checks import check_choice, check_int, check_seed
from mibound.inputs.files import atomic_open

__all__ = ["Task", "FAMILIES", "SUITES", "WIDE_FAMILIES", "list", "get", "ids", "register", "suite_of", "task_seed",
           "export_tasks"]

#: Family tags: every built-in task's first tag is one of these (its ``family``).
FAMILIES = ("gaussian", "student-t", "transformed", "mixture", "shells", "discrete", "mixed", "additive-noise",
            "independent", "high-mi", "image")
#: Family tags of the ``wide`` suite.
WIDE_FAMILIES = ("wide-latent", "wide-latent-noisy", "wide-digits")


class Task:
    """A named sampler with a stable id.

    Parameters
    ----------
    id : str
        Stable identifier (lower case, ``[a-z0-9.-]``), also the file stem on export.
    description : str
    factory : callable
        Builds the sampler (called once, on first use).
    tags : iterable of str
    """

    def __init__(self, id: str, description: str, factory: Callable[[], Sampler], tags: Iterable[str] = ()):
        if not isinstance(id, str) or not id or any(c not in "abcdefghijklmnopqrstuvwxyz0123456789.-_" for c in id):
            raise ValueError(f"task id must be a non-empty lower-case string of [a-z0-9._-], got {id!r}")
        self.id = id
        self.description = description
        self._factory = factory
        self.tags = tuple(tags)
        self._sampler: Sampler | None = None

    @property
    def sampler(self) -> Sampler:
        if self._sampler is None:
            s = self._factory()
            if not isinstance(s, Sampler):
                raise TypeError(f"task {self.id!r}: factory returned {type(s).__name__}, not a Sampler")
            self._sampler = s
        return self._sampler

    @property
    def dim_x(self) -> int:
        return self.sampler.dim_x

    @property
    def dim_y(self) -> int:
        return self.sampler.dim_y

    @property
    def family(self) -> str:
        """The first tag (for the built-in tasks one of :data:`FAMILIES`)."""
        return self.tags[0] if self.tags else ""

    def mutual_information(self) -> float:
        """MI in nats: exact, or a seeded Monte-Carlo value with :meth:`mi_standard_error` (mixtures)."""
        return self.sampler.mutual_information()

    def mi_standard_error(self) -> float:
        """Standard error (nats) of :meth:`mutual_information`; ``0.0`` where it is exact."""
        return self.sampler.mi_standard_error()

    def sample(self, n: int, seed: int = 0, dtype=np.float32, flat: bool = False):
        """``n`` pairs; see :meth:`mibound.data.Sampler.sample`."""
        return self.sampler.sample(n, seed=seed, dtype=dtype, flat=flat)

    def __repr__(self) -> str:
        return f"Task({self.id!r}, {self.sampler!r})"


_REGISTRY: dict[str, Task] = {}
#: The suites: ``"default"`` (the 110 low-dimensional tasks and their baselines) and ``"wide"`` (views of 64 to
#: 1024 dimensions, :mod:`mibound.data.wide`). A task belongs to one suite.
SUITES = ("default", "wide")
_SUITE_OF: dict[str, str] = {}


def register(task: Task, suite: str = "default") -> Task:
    """Add a task to the registry of ``suite`` (ids must be unique across suites)."""
    if not isinstance(task, Task):
        raise TypeError(f"expected a Task, got {type(task).__name__}")
    suite = check_choice(suite, SUITES, "suite")
    if task.id in _REGISTRY:
        raise ValueError(f"task id {task.id!r} is already registered")
    _REGISTRY[task.id] = task
    _SUITE_OF[task.id] = suite
    return task


def list(tag: str | None = None, suite: str = "default") -> builtins.list[Task]:  # noqa: A001  (the public name)
    """The tasks of ``suite`` (``"default"``, ``"wide"`` or ``"all"``) in registration order, optionally only
    those with ``tag``."""
    suite = check_choice(suite, (*SUITES, "all"), "suite")
    return [t for t in _REGISTRY.values() if (tag is None or tag in t.tags)
            and (suite == "all" or _SUITE_OF[t.id] == suite)]


def ids(tag: str | None = None, suite: str = "default") -> builtins.list[str]:
    """Ids of :func:`list`."""
    return [t.id for t in list(tag, suite)]


def suite_of(id: str) -> str:
    """The suite of the task ``id``."""
    return _SUITE_OF[get(id).id]


def get(id: str) -> Task:
    """The task with this id, in any suite (``ValueError`` with the closest ids for an unknown one)."""
    return _REGISTRY[check_choice(id, _REGISTRY, "task id")]


def task_seed(seed: int, task_id: str) -> int:
    """A per-task seed derived from a run seed and the task id (stable across runs and platforms)."""
    return (check_seed(seed) * 1_000_003 + zlib.crc32(task_id.encode())) % 2**63


def _atomic_savez(path: Path, **arrays) -> None:
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def export_tasks(directory, n: int = 10_000, seed: int = 0, tasks: Iterable[str | Task] | None = None,
                 progress: bool = False, suite: str = "default") -> builtins.list[Path]:
    """Write tasks to a task folder, one ``<id>.npz`` per task (written atomically).

    Parameters
    ----------
    directory : path
        Created if missing.
    n : int, default 10000
        Pairs per task.
    seed : int, default 0
        Run seed; each task draws with :func:`task_seed` ``(seed, id)``.
    tasks : iterable of ids or Tasks, optional
        Default: every task of ``suite``.
    progress : bool, default False
    suite : {"default", "wide", "all"}, default "default"
        The suite exported when ``tasks`` is not given. Tasks whose truth is an upper bound (the
        digit label pairs) get ``true_mi_kind = "upper_bound"`` in their file; every other ``"exact"``.

    Returns
    -------
    list of Path
    """
    n = check_int(n, "n", minimum=1)
    check_seed(seed)
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{directory}: exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    chosen = list(suite=suite) if tasks is None else [t if isinstance(t, Task) else get(t) for t in tasks]
    it = chosen
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(chosen, desc="export", unit="task")
    paths = []
    for task in it:
        s = task_seed(seed, task.id)
        x, y = task.sample(n, seed=s, dtype=np.float32, flat=True)
        sx, sy = task.sampler.view_shapes
        path = directory / f"{task.id}.npz"
        _atomic_savez(path, x=x, y=y, true_mi=np.float64(task.mutual_information()), task_id=np.str_(task.id),
                      description=np.str_(task.description), shape_x=np.array(sx, dtype=np.int64),
                      shape_y=np.array(sy, dtype=np.int64), seed=np.int64(s),
                      true_mi_se=np.float64(task.mi_standard_error()), tags=np.str_(",".join(task.tags)),
                      true_mi_kind=np.str_(getattr(task.sampler, "truth", "exact")))
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------------------
# built-in tasks
# ---------------------------------------------------------------------------------------------
def _t(id, description, factory, *tags):
    register(Task(id, description, factory, tags))


def _builtin() -> None:
    # Gaussian families ---------------------------------------------------------------------
    for d, mi in [(1, 0.5), (1, 2.0), (2, 1.0), (5, 1.0), (5, 3.0), (10, 2.0), (20, 2.0), (20, 6.0)]:
        _t(f"gaussian-pairs-d{d}-mi{mi:g}", f"{d} correlated Gaussian pairs, equal correlation, {mi:g} nats",
           lambda d=d, mi=mi: CorrelatedPairs.from_mi(mi, d), "gaussian", "pairs")
    _t("gaussian-pairs-decay-d10-mi2", "10 Gaussian pairs, per-pair MI halving along the dimensions, 2 nats",
       lambda: CorrelatedPairs.from_mi(2.0, 10, decay=0.5), "gaussian", "pairs")
    for dx, dy, k, mi in [(5, 5, 1, 0.5), (10, 10, 2, 1.0), (25, 25, 5, 2.0), (10, 5, 3, 1.5)]:
        _t(f"gaussian-sparse-{dx}x{dy}-k{k}-mi{mi:g}",
           f"{k} interacting pairs among {dx} + {dy} standard normal coordinates, {mi:g} nats",
           lambda dx=dx, dy=dy, k=k, mi=mi: SparseInteraction.from_mi(mi, dx, dy, k), "gaussian", "sparse")
    for dx, dy, a, mi in [(5, 5, 0.0, 0.5), (10, 10, 0.3, 1.0), (3, 8, 0.5, 1.0)]:
        _t(f"gaussian-dense-{dx}x{dy}-a{a:g}-mi{mi:g}",
           f"every x_i correlated with every y_j, within-view correlation {a:g}, {mi:g} nats",
           lambda dx=dx, dy=dy, a=a, mi=mi: DenseInteraction.from_mi(mi, dx, dy, a, a), "gaussian", "dense")
    # Student-t ------------------------------------------------------------------------------
    for d, df, rho in [(1, 3, 0.0), (1, 1, 0.5), (2, 5, 0.5), (5, 3, 0.6), (10, 5, 0.0)]:
        _t(f"student-t-d{d}-df{df}-rho{rho:g}",
           f"multivariate Student-t, {d}+{d} dims, {df} degrees of freedom, scale correlation {rho:g} per pair",
           lambda d=d, df=df, rho=rho: MultivariateStudentT.correlated(rho, d, df), "student-t", "heavy-tails")
    # MI-preserving transforms of Gaussians --------------------------------------------------
    for name in ["cube", "half_cube", "asinh", "normal_cdf"]:
        _t(f"transformed-{name.replace('_', '')}-d3-mi1",
           f"3 Gaussian pairs (1 nat) with the elementwise map {name} on both views",
           lambda name=name: Transformed(CorrelatedPairs.from_mi(1.0, 3), name, name), "transformed")
    _t("transformed-linear-d5-mi2", "5 Gaussian pairs (2 nats) mixed by random invertible linear maps per view",
       lambda: Transformed(CorrelatedPairs.from_mi(2.0, 5), RandomLinear(5, seed=1), RandomLinear(5, seed=2)),
       "transformed")
    _t("transformed-spiral-d5-mi2", "5 Gaussian pairs (2 nats) through a spiral flow on each view",
       lambda: Transformed(CorrelatedPairs.from_mi(2.0, 5), Spiral(5), Spiral(5)), "transformed")
    _t("transformed-cube-spiral-d3-mi1", "3 Gaussian pairs (1 nat): cube on x, spiral flow on y",
       lambda: Transformed(CorrelatedPairs.from_mi(1.0, 3), "cube", Spiral(3)), "transformed")
    _t("transformed-student-t-asinh-d2", "Student-t (2+2 dims, 3 dof, correlation 0.5) with asinh on both views",
       lambda: Transformed(MultivariateStudentT.correlated(0.5, 2, 3), "asinh", "asinh"), "transformed",
       "heavy-tails")
    # Gaussian-random-field crops -------------------------------------------------------------
    for off, noise in [(2, 0.5), (3, 0.5), (4, 0.5), (3, 0.3), (4, 0.3), (6, 0.3)]:
        _t(f"grf-crop4-off{off}-noise{noise:g}",
           f"two 4x4 crops of a power-law field at horizontal offset {off}, pixel noise {noise:g}",
           lambda off=off, noise=noise: GaussianRandomFieldCrops(crop_size=4, offset=off, noise=noise),
           "image", "grf")
    _t("grf-crop4-diag2-noise0.5", "two 4x4 crops at diagonal offset (2, 2), pixel noise 0.5",
       lambda: GaussianRandomFieldCrops(crop_size=4, offset=(2, 2), noise=0.5), "image", "grf")
    _t("grf-crop4-se-off4-noise0.3", "two 4x4 crops of a squared-exponential field (length 2) at offset 4, noise 0.3",
       lambda: GaussianRandomFieldCrops(crop_size=4, offset=4, noise=0.3, spectrum="squared_exponential"),
       "image", "grf")
    _t("grf-crop4-ch2-off4-noise0.5", "two 4x4 crops at offset 4 of two independent field channels, noise 0.5",
       lambda: GaussianRandomFieldCrops(crop_size=4, offset=4, noise=0.5, channels=2), "image", "grf")
    _t("grf-crop8-off8-noise0.1", "two adjacent 8x8 crops (offset 8) of a power-law field, noise 0.1",
       lambda: GaussianRandomFieldCrops(crop_size=8, offset=8, noise=0.1), "image", "grf")
    _t("grf-crop4-off3-noise0.5-halfcube", "4x4 crops at offset 3, noise 0.5, with x*sqrt|x| on every pixel",
       lambda: Transformed(GaussianRandomFieldCrops(crop_size=4, offset=3, noise=0.5), "half_cube", "half_cube"),
       "image", "grf", "transformed")
    # channel split ----------------------------------------------------------------------------
    for mi in [0.5, 1.0, 2.0]:
        _t(f"channels-crop4-noise0.3-mi{mi:g}", f"4x4 crop of a 3-channel field, channel 0 vs channels 1-2, {mi:g} nats",
           lambda mi=mi: ChannelSplitViews.from_mi(mi, crop_size=4, noise=0.3), "image", "channels")
    _t("channels-crop8-rho0.1", "8x8 crop of a 3-channel field without noise, rho 0.1 (the L-vs-ab split)",
       lambda: ChannelSplitViews(crop_size=8, rho=0.1), "image", "channels")
    # rendered latents -----------------------------------------------------------------------
    for size, d, mi in [(10, 3, 1.0), (12, 3, 1.5), (10, 6, 2.0), (10, 2, 0.5)]:
        _t(f"rendered-{size}px-d{d}-mi{mi:g}",
           f"{d}-dim Gaussian latents ({mi:g} nats) rendered as Gaussian bumps on {size}x{size} images",
           lambda size=size, d=d, mi=mi: RenderedLatents(mi=mi, latent_dim=d, image_size=size, width=1.5),
           "image", "rendered")
    # encoded views (DPI) ------------------------------------------------------------------------
    from mibound.data import encoders as enc

    crops = lambda: GaussianRandomFieldCrops(crop_size=8, offset=6, noise=0.1)  # noqa: E731  (26.8 nats)
    _t("encoded-crop8-off6-avgpool4", "8x8 crops at offset 6 (26.8 nats) average-pooled 4x4 -> 2x2",
       lambda: EncodedViews(crops(), enc.AvgPool(4)), "image", "encoded")
    _t("encoded-crop8-off6-mean", "8x8 crops at offset 6, global mean of each crop",
       lambda: EncodedViews(crops(), enc.AvgPool(8)), "image", "encoded")
    _t("encoded-crop8-off6-subsample4", "8x8 crops at offset 6, every 4th pixel (2x2)",
       lambda: EncodedViews(crops(), enc.Subsample(4)), "image", "encoded")
    _t("encoded-crop8-off6-random8", "8x8 crops at offset 6, a shared random 8-dim linear projection",
       lambda: EncodedViews(crops(), enc.random_linear_encoder(64, 8, seed=0)), "image", "encoded")
    _t("encoded-crop8-off6-cca1", "8x8 crops at offset 6, top-1 CCA pair (1 dim each)",
       lambda: EncodedViews(crops(), *enc.cca_encoders(crops(), 1)), "image", "encoded")
    _t("encoded-crop8-off6-cca4-noise", "8x8 crops at offset 6, top-4 CCA pair plus unit noise",
       lambda: EncodedViews(crops(), *enc.cca_encoders(crops(), 4, noise=1.0)), "image", "encoded")


def _noisy_sparse_cov(dim_x: int, dim_y: int, n_interacting: int, signal: float, noise: float) -> np.ndarray:
    """bmi's sparse covariance: within-view correlation ``noise``, ``signal`` on the first pairs."""
    sxx = (1 - noise) * np.eye(dim_x) + noise
    syy = (1 - noise) * np.eye(dim_y) + noise
    sxy = np.zeros((dim_x, dim_y))
    idx = np.arange(n_interacting)
    sxy[idx, idx] = signal
    return np.block([[sxx, sxy], [sxy.T, syy]])


def _builtin_suite() -> None:
    """The families of the MI-benchmark literature (Czyz et al. 2023 and their mixture tasks)."""
    # Gaussian: larger sparse / dense interactions (bmi's 2-pair and "uniform" families, ~1 nat) -----
    for dx, dy, k, mi in [(3, 3, 2, 1.0), (25, 25, 2, 1.0), (50, 50, 2, 1.0)]:
        _t(f"gaussian-sparse-{dx}x{dy}-k{k}-mi{mi:g}",
           f"{k} interacting pairs among {dx} + {dy} standard normal coordinates, {mi:g} nats",
           lambda dx=dx, dy=dy, k=k, mi=mi: SparseInteraction.from_mi(mi, dx, dy, k), "gaussian", "sparse")
    for dx, dy, a, mi in [(25, 25, 0.5, 1.0), (50, 50, 0.5, 1.0)]:
        _t(f"gaussian-dense-{dx}x{dy}-a{a:g}-mi{mi:g}",
           f"every x_i correlated with every y_j, within-view correlation {a:g}, {mi:g} nats",
           lambda dx=dx, dy=dy, a=a, mi=mi: DenseInteraction.from_mi(mi, dx, dy, a, a), "gaussian", "dense")
    _t("gaussian-sparse-noisy-5x5-k2-c0.8-n0.1",
       "2 pairs with correlation 0.8 among 5 + 5 coordinates, within-view correlation 0.1 (bmi's sparse)",
       lambda: JointGaussian(_noisy_sparse_cov(5, 5, 2, 0.8, 0.1), 5), "gaussian", "sparse")
    # Student-t: the grid of dimensions x degrees of freedom, identity scale (dependence from the tails) --
    for d in (1, 2, 3, 5):
        for df in (1, 2, 3, 5):
            if (d, df) == (1, 3):
                continue  # student-t-d1-df3-rho0 is above
            _t(f"student-t-d{d}-df{df}-rho0",
               f"multivariate Student-t, {d}+{d} dims, {df} degrees of freedom, identity scale (tail dependence only)",
               lambda d=d, df=df: MultivariateStudentT.correlated(0.0, d, df), "student-t", "heavy-tails")
    # monotone and spiral transforms ---------------------------------------------------------------
    wiggly_y = dict(amplitudes=(-0.35, 0.15, 0.03), frequencies=(0.5, 1.3, 4.1), phases=(0.0, 3.5, -2.5))
    _t("transformed-wiggly-d1-mi0.5", "1 Gaussian pair (0.5 nats), a different wiggly increasing map on each view",
       lambda: Transformed(CorrelatedPairs.from_mi(0.5, 1), Wiggly(), Wiggly(**wiggly_y)), "transformed", "wiggly")
    _t("transformed-normalcdf-d1-mi0.5", "1 Gaussian pair (0.5 nats) with uniform margins (normal CDF on both views)",
       lambda: Transformed(CorrelatedPairs.from_mi(0.5, 1), "normal_cdf", "normal_cdf"), "transformed",
       "uniform-margins")
    _t("transformed-bimodal-d1-mi0.5",
       "1 Gaussian pair (0.5 nats), margins mapped onto two-component Gaussian mixtures (quantile maps)",
       lambda: Transformed(CorrelatedPairs.from_mi(0.5, 1), MixtureQuantile((0.3, 0.7), (0.0, 5.0), (1.0, 1.0)),
                           MixtureQuantile((0.5, 0.5), (-1.0, 3.0), (1.0, 1.0))), "transformed", "bimodal")
    for name, tag in [("half_cube", "half-cube"), ("normal_cdf", "uniform-margins")]:
        _t(f"transformed-{name.replace('_', '')}-sparse-25x25-k2-mi1",
           f"2 interacting pairs among 25 + 25 coordinates (1 nat), {name} on both views",
           lambda name=name: Transformed(SparseInteraction.from_mi(1.0, 25, 25, 2), name, name), "transformed", tag)
    for d in (3, 25):
        _t(f"transformed-spiral-sparse-{d}x{d}-k2-mi1",
           f"2 interacting pairs among {d} + {d} coordinates (1 nat), a spiral flow on each view",
           lambda d=d: Transformed(SparseInteraction.from_mi(1.0, d, d, 2), Spiral(d), Spiral(d)), "transformed",
           "spiral")
    _t("transformed-spiral-normalcdf-sparse-5x5-k2-mi1",
       "2 interacting pairs among 5 + 5 coordinates (1 nat): normal CDF, then a spiral flow (speed 3), on each view",
       lambda: Transformed(Transformed(SparseInteraction.from_mi(1.0, 5, 5, 2), "normal_cdf", "normal_cdf"),
                           Spiral(5, speed=3.0), Spiral(5, speed=3.0)), "transformed", "spiral", "uniform-margins")
    _t("transformed-student-t-asinh-d5-df2", "Student-t (5+5 dims, 2 dof, identity scale) with asinh on both views",
       lambda: Transformed(MultivariateStudentT.correlated(0.0, 5, 2), "asinh", "asinh"), "transformed",
       "heavy-tails")
    # Gaussian mixtures (Monte-Carlo ground truth, standard error < 0.003 nats) ------------------------
    _t("mixture-x-corr0.9", "'X': even mixture of two unit Gaussians with correlation +0.9 and -0.9 (1+1 dims)",
       lambda: x_mixture(0.9), "mixture")
    _t("mixture-ai", "'AI': six Gaussian components drawing the letters A and I (1+1 dims)", ai_mixture, "mixture")
    _t("mixture-galaxy-speed0.5-dist3", "'galaxy': two unit balls at distance 3*sqrt(3), x swirled by a spiral (2+1)",
       lambda: galaxy_mixture(0.5, 3.0), "mixture", "spiral")
    _t("mixture-waves-k12-amp5-freq3", "'waves': 12 components in a row, x bent by a sine wave (2+1 dims)",
       lambda: waves_mixture(12, 5.0, 3.0), "mixture")
    for d in (3, 5):
        _t(f"mixture-concentric-{d}x1-k3", f"nested isotropic Gaussians N(0, i^2 I_{d}), y names the scale i (3 comps)",
           lambda d=d: concentric_mixture(d, 3), "mixture", "concentric")
    _t("mixture-inliers-5x5-k2-rho0.8-f0.2",
       "sparse Gaussian (2 pairs, rho 0.8, 5+5 dims) with 20% of its product of margins mixed in",
       lambda: inliers_mixture(5, 5, 2, 0.8, 0.2), "mixture", "inliers", "sparse")
    # concentric shells: a shared (noisy) radius, independent directions --------------------------------
    for dx, dy, mi in [(2, 2, 1.0), (3, 3, 2.0), (10, 5, 1.0)]:
        _t(f"shells-{dx}x{dy}-mi{mi:g}", f"spherical shells in {dx} + {dy} dims, correlated log-radii ({mi:g} nats), "
           "independent directions (x, y uncorrelated)",
           lambda dx=dx, dy=dy, mi=mi: ConcentricShells.from_mi(mi, dx, dy), "shells")
    # discrete and mixed --------------------------------------------------------------------------------
    _t("discrete-bool-phi0.6", "two correlated booleans from a 2x2 table (P(x = y) = 0.8)",
       lambda: DiscreteJoint([[0.4, 0.1], [0.1, 0.4]]), "discrete")
    _t("discrete-symmetric-k4-err0.1", "x uniform on 4 values, y = x with probability 0.9 else another value",
       lambda: DiscreteJoint.symmetric_channel(4, 0.1), "discrete")
    _t("discrete-symmetric-k8-err0.2-onehot", "8-value symmetric channel (error 0.2), both views one-hot without category 0 (7+7 dims)",
       lambda: DiscreteJoint.symmetric_channel(8, 0.2, one_hot=True), "discrete", "onehot")
    _t("mixed-noisy-uniform4-noise0.5", "x uniform on {0, 1, 2, 3}, y = x + N(0, 0.5^2)",
       lambda: NoisyDiscrete([0, 1, 2, 3], noise_sd=0.5), "mixed")
    _t("mixed-noisy-uniform3-d3-noise0.3", "3 coordinates, each x_i uniform on {-1, 0, 1}, y_i = x_i + N(0, 0.3^2)",
       lambda: NoisyDiscrete([-1, 0, 1], noise_sd=0.3, dim=3), "mixed")
    _t("mixed-binned-w1", "x ~ N(0, 1), y = floor(x): a deterministic discretisation, I = H(bins)",
       lambda: BinnedGaussian(1.0), "mixed", "discretised")
    _t("mixed-binned-w0.5-noise0.2", "x ~ N(0, 1), y = floor((x + N(0, 0.2^2)) / 0.5)",
       lambda: BinnedGaussian(0.5, noise_sd=0.2), "mixed", "discretised")
    # additive uniform noise ------------------------------------------------------------------------------
    for eps in (0.1, 0.75):
        _t(f"additive-uniform-eps{eps:g}", f"x ~ U(0, 1), y = x + U(-{eps:g}, {eps:g})",
           lambda eps=eps: AdditiveUniformNoise(eps), "additive-noise")
    # zero MI: the product of margins of a few samplers ---------------------------------------------------
    _t("independent-gaussian-1x1", "independent standard normals (0 nats)",
       lambda: Independent(CorrelatedPairs([0.5])), "independent")
    _t("independent-gaussian-dense-25x25", "independent views of 25 coordinates, correlation 0.5 within each (0 nats)",
       lambda: Independent(DenseInteraction(25, 25, 0.0, 0.5, 0.5)), "independent")
    _t("independent-student-t-2x2-df1", "independent Cauchy-tailed views (2 + 2 dims, 1 dof each; 0 nats)",
       lambda: Independent(MultivariateStudentT.correlated(0.0, 2, 1)), "independent", "heavy-tails")
    _t("independent-discrete-k4", "independent uniform categorical views on 4 values (0 nats; ties)",
       lambda: Independent(DiscreteJoint.symmetric_channel(4, 0.5)), "independent", "discrete")
    # high MI: many strongly correlated pairs --------------------------------------------------------------
    for d, mi in [(5, 10.0), (20, 15.0), (50, 20.0)]:
        _t(f"highmi-pairs-d{d}-mi{mi:g}", f"{d} strongly correlated Gaussian pairs, {mi:g} nats in all",
           lambda d=d, mi=mi: CorrelatedPairs.from_mi(mi, d), "high-mi", "gaussian", "pairs")


def _wide_suite() -> None:
    """The ``wide`` suite: embedding-like views of Gaussian latents (exact MI), digit label pairs (an upper bound)."""
    from mibound.data.wide import DigitLabelPairs, WideEmbedding

    def w(id, description, factory, *tags):
        register(Task(id, description, factory, tags), suite="wide")

    # (latent MI, k, D, map seed): noise-free lifts, exact I(x; y) = the latent's MI
    for i, (mi, k, d) in enumerate([(0.5, 2, 64), (1.0, 2, 128), (2.0, 4, 256), (4.0, 8, 512), (1.0, 4, 1024),
                                     (2.0, 2, 1024), (4.0, 4, 64), (3.0, 8, 256)]):
        w(f"wide-latent-k{k}-d{d}-mi{mi:g}", f"{k}-dim Gaussian latent pair ({mi:g} nats) lifted into {d} + {d} dims "
          "(linear lift, increasing elementwise maps, rotation; exact MI)",
          lambda mi=mi, k=k, d=d, i=i: WideEmbedding(mi, k, d, seed=2100 + i), "wide-latent", "wide")
    # the same with isotropic noise (sd 1) after the lift: exact MI below the latent's (GROUND_TRUTH.md)
    for i, (mi, k, d) in enumerate([(1.0, 4, 128), (2.0, 4, 512), (4.0, 8, 1024), (0.5, 2, 256)]):
        w(f"wide-latent-noisy-k{k}-d{d}-mi{mi:g}", f"{k}-dim Gaussian latent pair ({mi:g} nats) lifted into {d} + {d} "
          "dims with N(0, 1) noise in every dimension after the lift (exact MI below the latent's)",
          lambda mi=mi, k=k, d=d, i=i: WideEmbedding(mi, k, d, noise=1.0, seed=2200 + i), "wide-latent-noisy", "wide")
    for beta in (0.05, 0.3, 0.6):
        w(f"wide-digits-label-beta{beta:g}", f"scikit-learn digits (64 pixels) paired through their labels: same "
          f"class with probability {1 - beta:g}; true_mi = I(c; c') is an UPPER BOUND on I(x; y)",
          lambda beta=beta: DigitLabelPairs(beta), "wide-digits", "wide", "upper-bound")


_builtin()
_builtin_suite()
_wide_suite()
