"""Density-model MI estimators on normalizing flows: ``flow`` and ``doe``.

``flow`` (Butakov et al. 2024, "Mutual information estimation via normalizing flows", NeurIPS)
trains one invertible flow per view, ``z_x = f_x(x)`` and ``z_y = f_y(y)``, by maximum likelihood
of the pair under a joint Gaussian base (learned mean and full precision ``Lambda = W W^T``, ``W``
lower triangular with a positive diagonal) plus the log-determinants of both flows. Invertible
per-view maps leave MI unchanged, ``I(f_x(X); f_y(Y)) = I(X; Y)``, so the estimator is invariant to
injective per-view maps by construction (up to how well the flows fit). The estimate is read in
closed form from the latents of the *test* rows: the bias-corrected Gaussian plug-in
(:func:`mibound.functional.nonparametric.gaussian_plugin_mi`) of their sample covariance. If the flows made
the latent pair exactly Gaussian it is the MI; if they made only the marginals Gaussian it is, in
the population, a lower bound (a Gaussian has the largest entropy for its covariance); neither is
enforced, so it is reported as an estimate (``is_bound=False``). A full base covariance rather
than the paper's tridiagonal (canonical-correlation) base leaves the linear part to the base, so
on Gaussian data the flows only have to stay at the identity.

``doe`` (McAllester & Stratos 2020, "Formal Limitations on the Measurement of Mutual
Information", AISTATS, the difference-of-entropies estimator) trains two density models by
cross-entropy, a flow ``q(y)`` with a Gaussian base and a conditional flow ``q(y | x)`` (the same
architecture, reading ``x`` as context, with a Gaussian base whose mean is linear in ``x``), and
reports the difference of their held-out cross-entropies, ``H_q(Y) - H_q(Y | X)``: the mean over
test rows of ``log q(y|x) - log q(y)``. Each cross-entropy only upper-bounds its entropy, so the
difference is neither an upper nor a lower bound: an estimate (``is_bound=False``). It pays the
generalisation error of both models (for the linear regression alone about ``dx dy / (2 n)``
nats), which dominates in high dimension.

The shared fit (:class:`_DensityEstimator`)
-------------------------------------------
1. One :class:`~mibound.neural.plan.FitPlan` splits the rows into train / validation / test.
2. Every column goes through a strictly increasing map fitted on the training rows
   (:class:`MarginalMap`: by default the inverse normal CDF of the interpolated empirical CDF;
   or a standardisation). MI is unchanged, and monotone per-column maps of the data (cubes, CDFs,
   heavy tails) no longer matter.
3. Each view's flow is an element-wise spline then ``transforms`` autoregressive spline
   transforms (:func:`make_view_flow`), every one starting at the identity; the Gaussian bases
   start at the training rows' moments (:meth:`GaussianBase.fit_moments`), i.e. at the Gaussian
   maximum-likelihood model.
4. Training batches come from a :class:`~mibound.neural.batches.ShardedBatchStream` over the training
   part and go through :func:`mibound.neural.engine.train` with a :class:`FlowRun` or :class:`DoERun`
   strategy (the engine's progress bar, finite checks, cosine learning-rate schedule, history).
5. Per density model, the trained or the initial model is kept, whichever has the lower NLL on
   the validation rows (the engine has no checkpoint hook, so this is the only early stopping).
6. The estimate is :func:`mibound.neural.engine.evaluate` of the strategy on all test rows at once; the
   test rows are read by nothing else (not the marginal maps, the bases' start, the training or
   the choice in 5).

Views that lie near a lower-dimensional set (see :data:`mibound.inputs.columns.MAX_CONDITION`, the limit that
``auto`` applies to ``gcmi`` too) are refused: they have no
density, and any density model's number would be meaningless.

Why zuko rather than normflows
------------------------------
zuko (``pip install 'mibound[flow]'``) is small and pure PyTorch (its only dependencies are torch and
numpy), and maintained; every zuko transform is a lazy module ``transform(context)`` whose result
gives ``call_and_ladj`` in one pass, so the same building blocks make the unconditional view flows,
DoE's conditional ``q(y | x)`` and flows under a base shared by two views, with no subclassing.
normflows wraps a stack of layers and one base distribution into one model object (conditional
models are a separate class), which does not fit one base shared by two flows: we would use only
its layers.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from mibound.estimators.base import _Base, _mean_ci, half_sample_interval
from mibound.functional.nonparametric import gaussian_plugin_mi
from mibound.inputs.checks import check_choice, check_float, check_int, check_seed, constant_columns, require
from mibound.inputs.columns import MAX_CONDITION, correlation_condition
from mibound.inputs.maps import fit_column_map
from mibound.neural import engine
from mibound.neural.batches import ShardedBatchStream
from mibound.neural.engine import torch_threads
from mibound.neural.plan import FitPlan
from mibound.registry import FLOW_DEFAULTS as _F  # the signatures' defaults (one source)
from mibound.results import EstimateResult, TrainingDiverged, _versions, image_diagnostics

__all__ = ["FlowEstimator", "DoEEstimator", "FlowRun", "DoERun", "GaussianBase", "ViewFlow", "make_view_flow", "MarginalMap"]


def _zuko():
    """The zuko module, or a :class:`~mibound.inputs.checks.MissingDependency` that names the extra."""
    return require("flow", "the 'flow' and 'doe' estimators")


class ViewFlow(nn.Module):
    """A stack of zuko transforms ``x -> z`` of one view, optionally conditioned on a context, and a base density.

    ``forward(x, c=None)`` returns ``(z, log|det dz/dx|)`` (one pass); :meth:`log_prob` is the log
    density of ``x``: the base's (a :class:`GaussianBase`, possibly reading the context; a standard
    normal when ``base`` is ``None``) at ``z`` plus the log-determinant.
    """

    def __init__(self, layers: list[nn.Module], conditioned: list[bool] | None = None, base: nn.Module | None = None):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.conditioned = list(conditioned) if conditioned is not None else [True] * len(layers)
        self.base = base

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        ladj = x.new_zeros(x.shape[0])
        for layer, reads in zip(self.layers, self.conditioned):
            x, part = layer(c if reads else None).call_and_ladj(x)
            ladj = ladj + part
        return x, ladj

    def log_prob(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        z, ladj = self(x, c)
        if self.base is not None:
            return self.base.log_prob(z, c) + ladj
        return -0.5 * z.square().sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi) + ladj


def make_view_flow(features: int, context: int = 0, transforms: int = 1, hidden: int = 32, bins: int = 8) -> ViewFlow:
    """A neural spline flow on ``features`` dimensions, optionally conditioned on ``context`` features.

    First an element-wise rational-quadratic spline with its own parameters per feature (the
    marginal shapes: cheap and hard to overfit), then ``transforms`` autoregressive spline transforms (zuko's
    ``MaskedAutoregressiveTransform`` with ``MonotonicRQSTransform``, as in ``zuko.flows.NSF``)
    with alternating feature orders and two hidden layers of ``hidden`` units. With a context, the
    autoregressive transforms (and, for a 1-D view, every transform) read it. The splines act on
    ``[-5, 5]`` (the identity outside), which suits standardised data. Every transform starts as
    the identity (the last layer of each network, or the element-wise parameters, are zero).
    """
    _zuko()
    from zuko.flows import ElementWiseTransform, MaskedAutoregressiveTransform
    from zuko.transforms import MonotonicRQSTransform

    spline = dict(univariate=MonotonicRQSTransform, shapes=[(bins,), (bins,), (bins - 1,)])
    opts = dict(hidden_features=(hidden, hidden))
    orders = [torch.arange(features), torch.arange(features).flip(0)]
    layers = [ElementWiseTransform(features, 0, **spline)]
    layers += [MaskedAutoregressiveTransform(features, context, order=orders[i % 2], **spline, **opts)
               for i in range(transforms)]
    with torch.no_grad():
        for layer in layers:
            if hasattr(layer, "hyper"):
                last = [m for m in layer.hyper.modules() if isinstance(getattr(m, "weight", None), torch.Tensor)][-1]
                for prm in last.parameters():  # zuko's own Linear is not a torch.nn.Linear
                    prm.zero_()
            else:  # element-wise transform without context: its parameters are the spline's
                for prm in layer.parameters():
                    prm.zero_()
    return ViewFlow(layers, conditioned=[False] + [True] * (len(layers) - 1))


class GaussianBase(nn.Module):
    """``N(mu + c B, Lambda^{-1})`` on ``R^dim``, optionally with a mean linear in a context ``c``; learned precision.

    ``Lambda = W W^T`` with ``W`` lower triangular with a positive diagonal (``exp`` of a
    parameter); ``B`` is ``(context, dim)``. It starts as independent standard normals;
    :meth:`fit_moments` starts it at the maximum-likelihood Gaussian of given rows instead.
    """

    def __init__(self, dim: int, context: int = 0):
        super().__init__()
        self.dim, self.context = dim, context
        self.loc = nn.Parameter(torch.zeros(dim))
        self.coef = nn.Parameter(torch.zeros(context, dim)) if context else None
        self.lower = nn.Parameter(torch.zeros(dim, dim))
        self.log_diag = nn.Parameter(torch.zeros(dim))
        self.register_buffer("mask", torch.tril(torch.ones(dim, dim), diagonal=-1))

    def factor(self) -> torch.Tensor:
        """``W`` (lower triangular, positive diagonal)."""
        return self.lower * self.mask + torch.diag(self.log_diag.exp())

    def log_prob(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Log density of rows ``z (B, dim)``: ``-|W^T (z - mean)|^2 / 2 + log det W - dim log(2 pi) / 2``."""
        mean = self.loc if self.coef is None else self.loc + c @ self.coef
        u = (z - mean) @ self.factor()
        return -0.5 * u.square().sum(-1) + self.log_diag.sum() - 0.5 * self.dim * math.log(2 * math.pi)

    @torch.no_grad()
    def fit_moments(self, z: torch.Tensor, c: torch.Tensor | None = None, ridge: float = 1e-3) -> "GaussianBase":
        """Start at the Gaussian (least-squares regression on ``c``) of the rows ``z``, ``ridge`` added to the covariance.

        The maximum-likelihood base for identity flows: started there, training has only the
        non-Gaussian part left to learn (from the unit-precision start, Adam's steps of about the
        learning rate would take thousands of steps to reach a precision of 25 at correlation 0.98).
        """
        z = z.double()
        if self.coef is not None:
            c = c.double()
            cm, zm = c.mean(0), z.mean(0)
            cc = torch.cov(c.T).reshape(self.context, self.context)
            cz = (c - cm).T @ (z - zm) / (len(z) - 1)
            coef = torch.linalg.solve(cc + ridge * torch.eye(self.context, dtype=torch.float64), cz)
            self.coef.copy_(coef)
            self.loc.copy_(zm - cm @ coef)
            z = z - c @ coef
        else:
            self.loc.copy_(z.mean(0))
        cov = torch.cov(z.T).reshape(self.dim, self.dim) + ridge * torch.eye(self.dim, dtype=torch.float64)
        w = torch.linalg.cholesky(torch.linalg.inv(cov))
        self.log_diag.copy_(w.diagonal().log())
        self.lower.copy_(w * self.mask)
        return self

    @torch.no_grad()
    def mutual_information(self, dim_x: int) -> torch.Tensor:
        """MI between the first ``dim_x`` coordinates and the rest, in closed form (float64).

        ``(log det Lambda_xx + log det Lambda_yy - log det Lambda) / 2``: the precision's blocks
        give it without inverting ``Lambda``.
        """
        w = self.factor().double()
        lam = w @ w.T
        logdet = lambda a: 2.0 * torch.linalg.cholesky(a).diagonal().log().sum()  # noqa: E731
        return 0.5 * (logdet(lam[:dim_x, :dim_x]) + logdet(lam[dim_x:, dim_x:])) - self.log_diag.double().sum()


class FlowRun(engine.Runs):
    """The engine strategy of ``flow``: two view flows and a joint Gaussian base, one run.

    ``forward`` returns the negative joint log-likelihood per sample (the loss) and the base's
    closed-form MI (the logged training value: the plug-in of a training batch is undefined when
    the batch has fewer than ``dx + dy + 2`` rows); ``report`` is the bias-corrected Gaussian
    plug-in of the batch's latents (nats, float64).
    """

    def __init__(self, flow_x: ViewFlow, flow_y: ViewFlow, base: "GaussianBase", dim_x: int, label: str = "flow"):
        self.flow_x, self.flow_y, self.base, self.dim_x = flow_x, flow_y, base, dim_x
        self.labels = [label]

    def modules(self) -> list[nn.Module]:
        return [self.flow_x, self.flow_y, self.base]

    def latents(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z_x, z_y, log|det J_x| + log|det J_y|)`` of a batch."""
        zx, lx = self.flow_x(x)
        zy, ly = self.flow_y(y)
        return zx, zy, lx + ly

    def components(self) -> dict[str, list[nn.Module]]:
        """The density models chosen on validation rows (one: the joint model)."""
        return {"joint": [self.flow_x, self.flow_y, self.base]}

    def nll(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean negative log-likelihood per row of every component."""
        zx, zy, ladj = self.latents(x, y)
        return {"joint": -(self.base.log_prob(torch.cat([zx, zy], dim=1)) + ladj).mean()}

    def forward(self, x, y):
        nll = self.nll(x, y)["joint"]
        return nll.reshape(1), self.base.mutual_information(self.dim_x).to(nll.dtype).reshape(1)

    def report(self, x, y):
        zx, zy, _ = self.latents(x, y)
        return torch.tensor([gaussian_plugin_mi(zx.double().cpu().numpy(), zy.double().cpu().numpy())],
                            dtype=torch.float64)


class DoERun(engine.Runs):
    """The engine strategy of ``doe``: a marginal flow ``q(y)`` and a conditional flow ``q(y | x)``, one run.

    ``forward`` returns the sum of both cross-entropies per sample (the loss; the two models share
    no parameters, so this trains each on its own cross-entropy) and the batch's difference of
    cross-entropies (the logged value); ``report`` is that difference on a held-out batch.
    """

    def __init__(self, marginal: nn.Module, conditional: nn.Module, label: str = "doe"):
        self.marginal, self.conditional = marginal, conditional
        self.labels = [label]

    def modules(self) -> list[nn.Module]:
        return [self.marginal, self.conditional]

    def log_densities(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log q(y_i), log q(y_i | x_i))`` per row."""
        return self.marginal.log_prob(y), self.conditional.log_prob(y, x)

    def terms(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-row ``log q(y|x) - log q(y)``; their mean is the DoE estimate."""
        lm, lc = self.log_densities(x, y)
        return lc - lm

    def components(self) -> dict[str, list[nn.Module]]:
        """The density models chosen on validation rows, each on its own cross-entropy."""
        return {"marginal": [self.marginal], "conditional": [self.conditional]}

    def nll(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean cross-entropy per row of every component."""
        lm, lc = self.log_densities(x, y)
        return {"marginal": -lm.mean(), "conditional": -lc.mean()}

    def forward(self, x, y):
        lm, lc = self.log_densities(x, y)
        loss = -(lm.mean() + lc.mean())
        return loss.reshape(1), (lc - lm).mean().detach().reshape(1)

    def report(self, x, y):
        return self.terms(x, y).double().mean().reshape(1)


#: How the columns are mapped before the flows, each by a strictly increasing map fitted on the training rows.
MARGINALS = ("gaussianize", "standardize")


class MarginalMap:
    """The ``marginals`` map: :func:`mibound.inputs.maps.fit_column_map` fitted on training rows.

    ``"gaussianize"`` or ``"standardize"``: bijections of the real line per column (MI unchanged);
    columns constant on the training rows are refused.
    """

    def __init__(self, kind: str = "gaussianize"):
        self.kind = check_choice(kind, MARGINALS, "marginals")

    def fit(self, a: np.ndarray, name: str = "x") -> "MarginalMap":
        cols = constant_columns(a)
        if cols.size:
            raise ValueError(f"{name} has {cols.size} column(s) that are constant on the training rows, e.g. "
                             f"column {cols[0]}; drop them")
        self.map_ = fit_column_map(a, self.kind, dtype=np.float64)
        return self

    def __call__(self, a: np.ndarray) -> np.ndarray:
        """The mapped columns, float32."""
        return self.map_(a)


def _check_conditioning(a: np.ndarray, name: str, estimator: str) -> None:
    cond = correlation_condition(a)
    if not cond <= MAX_CONDITION:
        raise ValueError(
            f"{name} is nearly degenerate: the correlation matrix of its {a.shape[1]} columns on the training rows has "
            f"condition number {cond:.3g} (limit {MAX_CONDITION:.0e}), so the view lies close to a "
            f"lower-dimensional set where it has no density and the {estimator} estimate would be meaningless; "
            f"reduce its dimension first (e.g. an encoder or PCA fitted on training data) or use a critic-based "
            f"estimator")


def _snapshot(runs) -> dict[str, list[dict[str, torch.Tensor]]]:
    """A copy of every component's parameters and buffers."""
    return {name: [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in mods]
            for name, mods in runs.components().items()}


def _load(runs, state: dict[str, list[dict[str, torch.Tensor]]], name: str) -> None:
    for m, sd in zip(runs.components()[name], state[name]):
        m.load_state_dict(sd)


@torch.no_grad()
def _select(runs, initial, x: torch.Tensor, y: torch.Tensor) -> dict[str, str]:
    """Keep, per component, the trained or the initial model: whichever has the lower NLL on validation rows.

    The initial models are the identity flows with the moment-matched Gaussian bases (fitted on the
    training rows): on Gaussian data they are the maximum-likelihood model, and training can only
    overfit. With no validation rows the trained models are kept.
    """
    if len(x) == 0:
        return {name: "trained" for name in runs.components()}
    trained, after = _snapshot(runs), runs.nll(x, y)
    for name in runs.components():
        _load(runs, initial, name)
    before = runs.nll(x, y)
    selected = {}
    for name in runs.components():
        keep = not bool(before[name] < after[name])  # ties and a non-finite initial NLL keep the trained model
        if keep:
            _load(runs, trained, name)
        selected[name] = "trained" if keep else "initial"
    return selected


class _DensityEstimator(_Base):
    """The shared fit of ``flow`` and ``doe`` (steps 1-6 of the module docstring).

    Subclasses set :attr:`name` and implement :meth:`_build` (the seeded strategy) and
    :meth:`_readout` (estimate, interval and spread from the test rows).
    """

    kind = "density"
    name = "density"
    #: the optional extra it needs (``pip install 'mibound[flow]'``; the CLI checks it before reading data)
    requires_extra = "flow"
    #: the views whose density is modelled (checked for degeneracy, see :data:`mibound.inputs.columns.MAX_CONDITION`)
    modelled = ("x", "y")
    log_every = 100
    lr_schedule = "cosine"

    def __init__(self, steps: int = _F["steps"], batch_size: int = _F["batch_size"],
                 learning_rate: float = _F["learning_rate"], transforms: int = _F["transforms"], hidden: int = _F["hidden"],
                 test_fraction: float = _F["test_fraction"], seed: int = _F["seed"], progress: bool = _F["progress"],
                 num_threads: int | None = _F["num_threads"], marginals: str = _F["marginals"],
                 validation_fraction: float = _F["validation_fraction"]):
        self.steps = steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.transforms = transforms
        self.hidden = hidden
        self.test_fraction = test_fraction
        self.seed = seed
        self.progress = progress
        self.num_threads = num_threads
        self.marginals = marginals
        self.validation_fraction = validation_fraction

    def _checked_params(self) -> dict[str, Any]:
        p = dict(
            steps=check_int(self.steps, "steps", minimum=0),
            batch_size=check_int(self.batch_size, "batch_size", minimum=2),
            learning_rate=check_float(self.learning_rate, "learning_rate", minimum=0.0, exclusive_min=True),
            transforms=check_int(self.transforms, "transforms", minimum=0),
            hidden=check_int(self.hidden, "hidden", minimum=1),
            test_fraction=check_float(self.test_fraction, "test_fraction", minimum=0.0, maximum=1.0,
                                      exclusive_min=True, exclusive_max=True),
            seed=check_seed(self.seed),
            marginals=check_choice(self.marginals, MARGINALS, "marginals"),
            validation_fraction=check_float(self.validation_fraction, "validation_fraction", minimum=0.0, maximum=1.0,
                                            exclusive_max=True),
        )
        if self.num_threads is not None:
            check_int(self.num_threads, "num_threads", minimum=1)
        return p

    # -- what differs between the estimators ---------------------------------------------------
    def _build(self, p: dict[str, Any], x: torch.Tensor, y: torch.Tensor) -> engine.Runs:
        """The seeded strategy for standardised training rows ``x``, ``y`` (read only to initialise)."""
        raise NotImplementedError

    def _min_test_rows(self, dim_x: int, dim_y: int) -> int:
        return 2

    def _readout(self, runs: engine.Runs, x: torch.Tensor, y: torch.Tensor, estimate: float,
                 p: dict[str, Any]) -> tuple[tuple[float, float], float, dict[str, Any]]:
        """``(ci, std, settings)`` of the estimate from the test rows."""
        raise NotImplementedError

    # -- the shared fit -------------------------------------------------------------------------
    def _seeded(self, p: dict[str, Any], build):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(p["seed"])
            return build()

    def fit(self, x, y, true_mi: float | None = None) -> "_DensityEstimator":
        """Train on the training rows, choose on the validation rows, report on the test rows (``test_fraction``).

        Parameters
        ----------
        x : array_like, shape (n, dx) or (n,)
            Images ``(n, H, W)`` / ``(n, C, H, W)`` are flattened to ``C*H*W`` columns, with the
            ``flattened_images`` diagnostic (and ``high_dimension`` above 64 columns).
        y : array_like, shape (n, dy) or (n,)
        true_mi : float, optional
            Known MI (nats), stored in the result for comparison.

        Returns
        -------
        self
        """
        p = self._checked_params()  # bad parameters, then a missing dependency, then bad data
        _zuko()
        t0 = time.perf_counter()
        pair, shapes = self._read_flat(x, y, p["seed"], true_mi, t0, settings=p)  # images flattened, constants dropped
        if pair is None:  # a view without a varying column: I = 0 exactly
            return self
        x, y = pair.x, pair.y
        n, dim_x, dim_y = x.shape[0], x.shape[1], y.shape[1]
        plan = FitPlan(n, p["batch_size"], p["seed"], p["test_fraction"], p["validation_fraction"]).check(test_batches=0)
        train_rows, val_rows, test_rows = (plan.part_rows(part) for part in ("train", "validation", "test"))
        need = self._min_test_rows(dim_x, dim_y)
        if test_rows.size < need:
            raise ValueError(f"too few samples: the {self.name} estimate needs at least {need} test rows for "
                             f"dx={dim_x}, dy={dim_y}, got {test_rows.size} (n={n}, test_fraction="
                             f"{p['test_fraction']}); pass more data or a larger test_fraction")
        mx = MarginalMap(p["marginals"]).fit(x[train_rows], "x")
        my = MarginalMap(p["marginals"]).fit(y[train_rows], "y")
        xs, ys = mx(x), my(y)
        for name, a in (("x", xs), ("y", ys)):
            if name in self.modelled:
                _check_conditioning(a[train_rows], name, self.name)
        train = ShardedBatchStream(xs, ys, plan=plan, split="train", check_values=False)
        runs = self._seeded(p, lambda: self._build(p, torch.from_numpy(xs[train_rows]),
                                                    torch.from_numpy(ys[train_rows])))
        initial = _snapshot(runs)
        with torch_threads(self.num_threads) as threads:
            hist = engine.train(runs, train.batch, p["steps"], learning_rate=p["learning_rate"],
                                log_every=self.log_every, progress=bool(self.progress), desc=self.name,
                                lr_schedule=self.lr_schedule)
            selected = _select(runs, initial, torch.from_numpy(xs[val_rows]), torch.from_numpy(ys[val_rows]))
            xt, yt = torch.from_numpy(xs[test_rows]), torch.from_numpy(ys[test_rows])
            estimate = float(engine.evaluate(runs, [(xt, yt)])[0, 0])
            if not math.isfinite(estimate):
                raise TrainingDiverged(self.name, p["steps"], None, what="held-out estimate")
            ci, sd, extra = self._readout(runs, xt, yt, estimate, p)
        self.runs_ = runs
        self.history_ = {"step": hist["step"].tolist(), "train_estimate": hist["value"][:, 0].tolist(),
                         "loss": hist["loss"][:, 0].tolist()}
        self.result_ = EstimateResult(
            estimator=self.name, estimate=estimate, ci=ci, std=sd, true_mi=None if true_mi is None else float(true_mi),
            is_bound=False, n_train=int(train_rows.size), n_test=int(test_rows.size), batch_size=None,
            seed=p["seed"], seconds=time.perf_counter() - t0, history=self.history_,
            settings={**self.get_params(), "num_threads": threads, "lr_schedule": self.lr_schedule,
                      "n_validation": int(val_rows.size), "selected": selected,
                      "log_every": self.log_every, **extra, "versions": {**_versions(), "zuko": _zuko().__version__}},
            diagnostics=image_diagnostics(shapes, n, dim_x, dim_y, self.name),
        )
        pair.annotate(self.result_)
        return self


class FlowEstimator(_DensityEstimator):
    """Normalizing-flow MI (Butakov et al. 2024): per-view flows to a joint Gaussian, MI from the test latents.

    See the module docstring. The estimate is the bias-corrected Gaussian plug-in of the test rows'
    latents; its 95% interval comes from half-sampling those latents (``n_subsamples`` random halves
    without replacement, as in :class:`~mibound.estimators.GaussianEstimator`): it covers the
    read-out noise of the test rows for the trained flows, not the randomness of training.

    Parameters
    ----------
    steps : int, default 300
        Optimiser steps (Adam, cosine learning-rate decay to 2%).
    batch_size : int, default 256
        Training rows per step.
    learning_rate : float, default 3e-3
    transforms : int, default 1
        Autoregressive spline transforms per view after the element-wise spline (0: element-wise only).
    hidden : int, default 32
        Width of the two hidden layers of each autoregressive transform's network.
    test_fraction : float, default 0.2
        Share of the rows held out for the estimate; needs more than ``dx + dy + 1`` test rows.
    seed : int, default 0
        Seeds the flows' initialisation, the split and the batches.
    progress : bool, default False
    num_threads : int, optional
        torch intra-op threads during ``fit`` (``None``: leave torch's setting).
    marginals : {"gaussianize", "standardize"}, default "gaussianize"
        The per-column map fitted on the training rows before the flows (:class:`MarginalMap`).
    validation_fraction : float, default 0.1
        Share of the rows that choose between the trained and the initial model (0: keep the trained one).
    n_subsamples : int, default 100
        Half-samples for the interval (0: none, ``ci = (estimate, estimate)``).

    Attributes
    ----------
    result_ : EstimateResult
        ``settings["selected"]`` says which model was kept, ``settings["n_validation"]`` its rows.
    runs_ : FlowRun
        The flows (``flow_x``, ``flow_y``) and base as kept; they act on the mapped columns.
    history_ : dict of lists
        ``train_estimate`` is the base's closed-form MI during training.
    """

    name = "flow"

    def __init__(self, steps: int = _F["steps"], batch_size: int = _F["batch_size"],
                 learning_rate: float = _F["learning_rate"], transforms: int = _F["transforms"], hidden: int = _F["hidden"],
                 test_fraction: float = _F["test_fraction"], seed: int = _F["seed"], progress: bool = _F["progress"],
                 num_threads: int | None = _F["num_threads"], marginals: str = _F["marginals"],
                 validation_fraction: float = _F["validation_fraction"], n_subsamples: int = 100):
        super().__init__(**{k: v for k, v in locals().items() if k not in ("self", "__class__", "n_subsamples")})
        self.n_subsamples = n_subsamples

    def _checked_params(self):
        p = super()._checked_params()
        p["n_subsamples"] = check_int(self.n_subsamples, "n_subsamples", minimum=0)
        return p

    def _min_test_rows(self, dim_x, dim_y):
        return dim_x + dim_y + 2

    def _build(self, p, x, y):
        fx = make_view_flow(x.shape[1], 0, p["transforms"], p["hidden"])
        fy = make_view_flow(y.shape[1], 0, p["transforms"], p["hidden"])
        base = GaussianBase(x.shape[1] + y.shape[1]).fit_moments(torch.cat([x, y], dim=1))
        return FlowRun(fx, fy, base, x.shape[1], label=self.name)

    def _readout(self, runs, x, y, estimate, p):
        with torch.no_grad():
            zx, zy, _ = runs.latents(x, y)
        zx, zy = zx.double().numpy(), zy.double().numpy()
        ci, sd = half_sample_interval(estimate, lambda idx: gaussian_plugin_mi(zx[idx], zy[idx]), zx.shape[0],
                                      p["n_subsamples"], p["seed"], zx.shape[1] + zy.shape[1] + 1)
        return ci, sd, {"interval": "half-sampling of test latents: sampling spread, not the flow's bias"
                             if sd else "none"}


class DoEEstimator(_DensityEstimator):
    """Difference of entropies (McAllester & Stratos 2020): ``H_q(Y) - H_q(Y|X)`` from two flows' held-out cross-entropies.

    See the module docstring. An estimate, not a bound. The 95% interval is the t-interval of the
    mean of the per-test-row terms ``log q(y|x) - log q(y)`` (independent rows given the trained
    models): it covers the read-out noise, not the randomness of training.

    Parameters
    ----------
    steps : int, default 300
    batch_size : int, default 256
    learning_rate : float, default 3e-3
    transforms : int, default 1
        Autoregressive spline transforms of each flow after the element-wise spline (the marginal
        and the conditional have the same architecture; the conditional's read ``x``).
    hidden : int, default 32
    test_fraction : float, default 0.2
    seed : int, default 0
    progress : bool, default False
    num_threads : int, optional
    marginals : {"gaussianize", "standardize"}, default "gaussianize"
    validation_fraction : float, default 0.1
        Share of the rows that choose, for each of the two models, between trained and initial.

    Attributes
    ----------
    result_ : EstimateResult
    runs_ : DoERun
        The ``marginal`` and ``conditional`` flows as kept (on the mapped columns).
    history_ : dict of lists
        ``train_estimate`` is the difference of cross-entropies on each training batch.
    """

    name = "doe"
    modelled = ("y",)  # x is only the context of q(y | x)

    def _build(self, p, x, y):
        dx, dy = x.shape[1], y.shape[1]
        marginal = make_view_flow(dy, 0, p["transforms"], p["hidden"])
        marginal.base = GaussianBase(dy).fit_moments(y)
        conditional = make_view_flow(dy, dx, p["transforms"], p["hidden"])
        conditional.base = GaussianBase(dy, dx).fit_moments(y, x)
        return DoERun(marginal, conditional, label=self.name)

    def _readout(self, runs, x, y, estimate, p):
        with torch.no_grad():
            terms = runs.terms(x, y).double().numpy()
        _, ci, sd = _mean_ci(terms)
        return ci, sd, {"interval": "t-interval over test rows: sampling noise, not the density models' bias"}
