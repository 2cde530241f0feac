"""``estimator="auto"``: look at the data, run a small panel, report ONE estimate and say why.

Protocol
--------
The rows are split once by a :class:`~mibound.neural.plan.FitPlan` (seeded; by default 40% train, 20%
validation, 40% test). Every candidate of the panel is computed on the validation rows, and the
choice among them looks at those values only; the reported estimate and its interval are the
chosen candidate's on the test rows, which no choice has seen (the neural member also picks its
checkpoint on the validation rows, trains on the training rows, and is read on the test rows).

The panel
---------
* ``discrete`` (:class:`~mibound.estimators.DiscreteEstimator`) when every column takes few values;
* ``gcmi`` (Gaussian copula) always: exact for any monotone per-column transform of Gaussian
  data, in any dimension, and of low variance;
* ``tcmi`` (Student-t copula, :mod:`mibound.functional.copulas`) when the data show tail dependence across
  the views: a t copula fitted on the training rows describes the validation rows better than the
  Gaussian copula by more than ``TAIL_GAIN_SE = 2`` standard errors, the two views' scales are
  dependent on the validation rows (:func:`~mibound.functional.copulas.scale_dependence` above 2 standard
  errors; independent views with heavy tails inside each fail this), no column has ties, and
  ``dim_x + dim_y <= tcmi_max_dim``. Exact for monotone transforms of a multivariate Student-t,
  including the zero-correlation one that every Gaussian-copula estimate reads as 0;
* ``ksg``, ``ksg-normal`` and ``ksg-rank`` when ``dim_x + dim_y <= ksg_max_dim`` (KSG is accurate
  in low dimension and fails in high dimension), with its tie handling: KSG on the standardised
  columns, on per-column normal scores and on per-column ranks. The three are the same estimator
  of the same MI (a per-column monotone map leaves the MI unchanged) with different biases: the
  score and rank maps tame heavy tails (Student-t) and strongly bent margins; the raw columns keep
  neighbourhoods that a rank map would stretch (mixtures of separated modes);
* ``infonce`` (a critic, checkpoint chosen on validation rows, read at a large ``K``): a lower
  bound in expectation, whatever the shape of the dependence, up to ``log K``.

The choice
----------
Data whose every column takes few values, with a joint table of at most one cell per five
validation rows, report ``discrete``. Otherwise ``discrete`` is not eligible (on a table with more cells
its plug-in measures the sample size, not the MI, and the estimator refuses it: its domain,
:data:`mibound.registry.DOMAINS`), and ``_choose`` looks at what each number is:

* lower bounds (the critic) are always eligible; the largest is the *floor*;
* an estimate that can overshoot (``gcmi``, ``tcmi``, KSG) is eligible when it is consistent with the
  floor, at most ``(1 + FLOOR_TOLERANCE) * floor + 0.05`` nats, or else when it passes its own check
  (``self_check``, on the training and validation rows): the copula plug-ins' models read as
  critics on the validation rows against what they predict for themselves
  (:func:`~mibound.functional.model_floor.model_check`), the KSG members' agreement across their
  monotone maps;
* among the eligible the largest validation value wins, except that a candidate earlier in the order
  ``discrete, gcmi, tcmi, ksg, ksg-normal, ksg-rank, infonce`` wins when it comes within
  ``margin = 0.05 + 5%`` of it (the earlier ones have less variance and no ceiling).

So: Gaussian-like dependence (where the copula finds at least what the critic finds) reports
``gcmi``; heavy-tailed elliptical dependence ``tcmi``; dependence that the copulas miss reports
``ksg`` in low dimension and the critic's lower bound otherwise; a copula that claims dependence
its own model cannot find on held-out rows (one-hot or tied columns) gives way to the floor.
``settings["panel"]`` keeps every candidate's validation value, test estimate and interval;
``settings["choice"]`` the chosen name, the reason and every check that ran (``checks``);
``settings["floor"]`` the largest lower bound of the panel on the test rows (the critic's), printed beside
the estimate: the MI is at least that, whatever was chosen. Wide views choose by the same rule without the
preference order (``choose_wide``, below), ``latent`` among the estimates that must pass their checks.

Images
------
Image views ``(n, H, W)`` / ``(n, C, H, W)`` (channel-first; channel-last input is refused with the
fix, see ``image_layout``) go to the neural member as images, where ``critic="auto"`` means the
convolutional critic (:class:`~mibound.neural.critics.ConvCritic`); the other members see the flattened
pixels (``C*H*W`` columns, so KSG never joins). A non-neural choice then carries the
``flattened_images`` diagnostic (:func:`mibound.results.image_diagnostics`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mibound.estimators.base import _Base
from mibound.functional.copulas import scale_dependence, t_copula_gain
from mibound.inputs.checks import check_float, check_int, check_seed, flatten_views
from mibound.inputs.columns import DISCRETE_MAX_VALUES, MAX_CONDITION, column_report, correlation_condition
from mibound.inputs.pair import read_pair
from mibound.neural.plan import FitPlan
from mibound.registry import NEURAL_DEFAULTS as _N  # the neural member's defaults (one source)
from mibound.results import EstimateResult, _versions, diagnostic, image_diagnostics

__all__ = ["AutoEstimator", "MEMBERS", "ORDER"]

#: The panel's members: key -> (estimator name, options). Every key of ``settings["panel"]`` is one.
MEMBERS: dict[str, tuple[str, dict[str, Any]]] = {
    "discrete": ("discrete", {}),
    "gcmi": ("gcmi", {}),
    "tcmi": ("tcmi", {}),
    "ksg": ("ksg", {}),
    "ksg-normal": ("ksg", {"transform": "normal"}),
    "ksg-rank": ("ksg", {"transform": "rank"}),
    "infonce": ("infonce", {}),
    "latent": ("latent", {}),
}

#: The preference order of the panel (earlier wins within the margin); ``latent`` joins wide panels only,
#: which choose by ``choose_wide``.
ORDER = tuple(k for k in MEMBERS if k != "latent")


class AutoEstimator(_Base):
    """Choose and run an estimator from the data; one :class:`~mibound.results.EstimateResult` with its panel.

    Parameters
    ----------
    critic, batch_size, steps, learning_rate, image_layout
        Of the neural member (see :class:`~mibound.estimators.NeuralEstimator`); checked before any
        work. ``critic="auto"``: the conv critic for image views, the separable MLP critic otherwise.
        ``learning_rate=None``: the neural estimators' default (a critic per rate, the best on
        validation rows).
    seed : int, default 0
        Seeds the split and every member.
    progress : bool, default True
    test_fraction, validation_fraction : float, default 0.4 and 0.2
        The split (see the module docstring).
    ksg_max_dim : int, default 6
        The three KSG members join the panel when ``dim_x + dim_y`` is at most this.
    tcmi_max_dim : int, default 20
        ``tcmi`` may join the panel when ``dim_x + dim_y`` is at most this (its Kendall's tau of
        every pair of columns grows as ``d^2``).
    neural : bool, default True
        Whether the critic joins the panel (``False``: only the fast non-neural members).
    num_threads : int or None, default 1
        torch intra-op threads of the neural member (a small critic gains nothing from more, and
        loses much when another process holds a core; ``None``: torch's setting).
    """

    kind = "auto"
    name = "auto"

    def __init__(self, critic=_N["critic"], batch_size: int = _N["batch_size"], steps: int = _N["steps"],
                 seed: int = _N["seed"], progress: bool = _N["progress"], test_fraction: float = 0.4,
                 validation_fraction: float = 0.2, ksg_max_dim: int = 6, neural: bool = True,
                 num_threads: int | None = 1, learning_rate: float | tuple[float, ...] | None = None,
                 image_layout: str = _N["image_layout"], tcmi_max_dim: int = 20):
        self.critic = critic
        self.batch_size = batch_size
        self.steps = steps
        self.learning_rate = learning_rate
        self.seed = seed
        self.progress = progress
        self.test_fraction = test_fraction
        self.validation_fraction = validation_fraction
        self.ksg_max_dim = ksg_max_dim
        self.neural = neural
        self.num_threads = num_threads
        self.image_layout = image_layout
        self.tcmi_max_dim = tcmi_max_dim

    def _panel(self, report, dx: int, dy: int, n_train: int, cond: float, tails) -> tuple[list[str], dict[str, str]]:
        """The members to run, and the members left out with the reason.

        ``tails()``: :func:`~mibound.functional.copulas.t_copula_gain` of a t copula fitted on the training rows,
        read on the validation rows, and :func:`~mibound.functional.copulas.scale_dependence` of the validation
        rows (called only when ``tcmi`` could join).
        """
        names, skipped = [], {}
        if all(c.discrete for c in report.columns):
            names.append("discrete")
        if cond <= MAX_CONDITION:
            names.append("gcmi")
        else:
            skipped["gcmi"] = (f"the normal scores of a view are nearly collinear (condition number {cond:.3g} > "
                               f"{MAX_CONDITION:.0e}): the Gaussian plug-in would measure rounding, not dependence")
        tied = [c.name for c in report.columns if c.material_ties or c.discrete]
        if dx + dy > self.tcmi_max_dim:
            skipped["tcmi"] = f"dim_x + dim_y = {dx + dy} > tcmi_max_dim = {self.tcmi_max_dim}"
        elif tied:
            skipped["tcmi"] = (f"columns with ties ({', '.join(tied[:6])}{', ...' if len(tied) > 6 else ''}): the "
                               "copula of a tied column is not unique")
        elif cond > MAX_CONDITION:
            skipped["tcmi"] = skipped["gcmi"]
        else:
            gain, se, df, (tau, tau_se) = tails()
            fits = gain > 0 and gain > TAIL_GAIN_SE * se  # the t copula beats the Gaussian one on held-out rows
            if fits and tau > TAIL_GAIN_SE * tau_se:
                names.append("tcmi")
            elif fits:
                skipped["tcmi"] = (f"the t copula fits the validation rows better than the Gaussian copula, but the "
                                   f"two views' scales are not dependent (Kendall's tau of their squared normal-score "
                                   f"norms {tau:.3f}, standard error {tau_se:.3f}): the tails are within the views, "
                                   "and a t copula would count them as shared")
            elif np.isinf(df):
                skipped["tcmi"] = ("the Gaussian copula fits the training rows at least as well as any t copula: no "
                                   "tail dependence to model")
            else:
                skipped["tcmi"] = (f"the t copula fitted on the training rows (df {df:.3g}) describes the validation "
                                   f"rows no better than the Gaussian copula (gain {gain:.4f} +- {se:.4f} nats per "
                                   f"row, needs > {TAIL_GAIN_SE:g} standard errors): no tail dependence to model")
        if dx + dy <= self.ksg_max_dim:
            names += ["ksg", "ksg-normal", "ksg-rank"]
        if self.neural and n_train >= 2 * self.batch_size:
            names.append("infonce")
        if not names:  # nothing else can run: keep the copula, flagged by its entry in the panel
            names.append("gcmi")
        return names, skipped

    def fit(self, x, y, true_mi: float | None = None) -> "AutoEstimator":
        """Run the panel on the validation rows, choose, report the choice on the test rows; returns ``self``."""
        from mibound.registry import is_neural, make_estimator, takes

        t0 = time.perf_counter()
        seed = check_seed(self.seed)
        check_int(self.ksg_max_dim, "ksg_max_dim", minimum=0)
        check_int(self.tcmi_max_dim, "tcmi_max_dim", minimum=0)
        check_float(self.test_fraction, "test_fraction", minimum=0.0, maximum=1.0, exclusive_min=True,
                    exclusive_max=True)
        check_float(self.validation_fraction, "validation_fraction", minimum=0.0, maximum=1.0, exclusive_min=True,
                    exclusive_max=True)
        member = None
        if self.neural:  # bad options of the neural member fail before any work
            rate = {} if self.learning_rate is None else {"learning_rate": self.learning_rate}
            member = make_estimator("infonce", critic=self.critic, batch_size=self.batch_size, steps=self.steps,
                                    **rate, seed=seed, progress=self.progress,
                                    test_fraction=self.test_fraction, validation_fraction=self.validation_fraction,
                                    num_threads=self.num_threads, image_layout=self.image_layout)
            member.checked_params()
        # the one check of the pair: the members get it (or its rows) as it is, not checked again
        x, y, shapes = flatten_views(x, y, self.image_layout)
        images = _as_images(x, y, shapes)  # the neural member reads image views on their grid, every pixel kept
        pair = read_pair(x, y)  # constant columns dropped, and said so
        if pair.degenerate:
            self.result_ = pair.zero_result("auto", seed=seed, true_mi=true_mi, t0=t0, settings={
                **self.get_params(), "choice": {"estimator": None, "reason": "a view has no varying column"},
                "panel": {}})
            return self
        x, y = pair.x, pair.y
        self.pair_x_, self.pair_y_, self.images_ = x, y, any(s is not None for s in shapes)
        n, dx, dy = x.shape[0], x.shape[1], y.shape[1]
        plan = FitPlan(n, check_int(self.batch_size, "batch_size", minimum=2), seed, self.test_fraction,
                       self.validation_fraction)
        val_rows, test_rows = plan.part_rows("validation"), plan.part_rows("test")
        wide = is_wide(dx, dy, shapes, len(val_rows), len(test_rows))
        if min(len(val_rows), len(test_rows)) < 20:
            raise ValueError(f"too few samples for auto: n={n} gives {len(val_rows)} validation and {len(test_rows)} "
                             "test rows, fewer than 20; pass more data or name an estimator")
        self.plan_, self.members_ = plan, {}  # the split and every member that ran (the permutation test reuses them)
        report = pair.report()  # for the diagnostics of the reported estimate, under the input's column names
        train_rows = plan.part_rows("train")
        seen = np.concatenate([train_rows, val_rows])  # every choice looks at these rows only
        if wide:  # wide views: membership by width (see wide_panel)
            names, skipped = wide_panel(column_report(x[seen], y[seen], checked=True), dx, dy, len(val_rows),
                                        plan.sizes["train"], self.neural, self.batch_size)
        else:
            names, skipped = self._panel(column_report(x[seen], y[seen], checked=True), dx, dy, plan.sizes["train"],
                                         _view_condition(x[val_rows], y[val_rows]),
                                         lambda: (*t_copula_gain(np.c_[x[train_rows], y[train_rows]],
                                                                 np.c_[x[val_rows], y[val_rows]]),
                                                  scale_dependence(np.c_[x[val_rows], y[val_rows]], dx)))
        panel: dict[str, dict[str, Any]] = {k: {"validation": None, "estimate": None, "ci": None, "error": why}
                                            for k, why in skipped.items()}
        results = {}
        for name in names:
            try:
                if is_neural(MEMBERS[name][0]):  # trains on the training rows, chooses its checkpoint on the validation rows
                    # the same plan: train / validation / test rows as here
                    fitted = member
                    res = member.fit(*(images if any(shapes) else (pair, None))).result_
                    val = res.settings["selection"]["validation_value"]
                elif name == "latent":  # learns on the training rows of the same plan, read on validation and test
                    fitted = make_estimator("latent", seed=seed, test_fraction=self.test_fraction,
                                            validation_fraction=self.validation_fraction, progress=self.progress)
                    res = fitted.fit(pair, None).result_
                    val = res.settings["validation_value"]
                else:
                    estimator, opts = MEMBERS[name]
                    opts = {**opts, "seed": seed} if takes(estimator, "seed") else opts
                    # the validation value is the estimate alone: no interval (the half-samples do not change it)
                    val_opts = {**opts, "n_subsamples": 0} if takes(estimator, "n_subsamples") else opts
                    val = make_estimator(estimator, **val_opts).fit(pair.rows(val_rows), None).result_.estimate
                    fitted = make_estimator(estimator, **opts)
                    res = fitted.fit(pair.rows(test_rows), None).result_
            except (ValueError, RuntimeError) as exc:  # a member that cannot run here is left out, and said so
                panel[name] = {"validation": None, "estimate": None, "ci": None, "error": " ".join(str(exc).split())}
                continue
            results[name] = res
            self.members_[name] = fitted
            panel[name] = {"validation": float(val), "estimate": res.estimate, "ci": list(res.ci),
                           "diagnostics": [d["code"] for d in res.diagnostics], "estimator": MEMBERS[name][0],
                           "options": dict(MEMBERS[name][1]),
                           # the rows it trained on (a plug-in trains on none: n_train 0), was chosen on, was read on
                           "rows": {"train": res.n_train,
                                    "validation": len(val_rows), "test": len(test_rows)}}
            if "critic" in res.settings:  # the neural member: the critic "auto" resolved to
                panel[name]["critic"] = res.settings["critic"]
        if not results:
            raise RuntimeError(f"no estimator of the auto panel could run: {panel}")
        cells = len(np.unique(np.c_[x[val_rows], y[val_rows]], axis=0)) if "discrete" in results else None
        checks: dict[str, Any] = {}
        if cells is not None and cells <= len(val_rows) / 5:
            chosen = "discrete"
            reason = (f"every column takes at most {DISCRETE_MAX_VALUES} values and the joint table has {cells} cells "
                      f"for {len(val_rows)} validation rows: the plug-in on the table (continuous estimators "
                      "misread ties)")
        else:
            # a joint table with more cells than one per five rows leaves the plug-in measuring log n, not MI
            eligible = [k for k in results if k != "discrete"] or list(results)
            if "discrete" in results and "discrete" not in eligible:
                panel["discrete"]["note"] = (f"not chosen: the joint table has {cells} cells for {len(val_rows)} "
                                             "validation rows (more than one per five rows)")
            validation = {k: panel[k]["validation"] for k in eligible}
            # the estimates' own checks read the training and validation rows only
            check = lambda k: self_check(k, validation, np.c_[x[train_rows], y[train_rows]],  # noqa: E731
                                         np.c_[x[val_rows], y[val_rows]], dx, seed, self.members_.get(k))
            if wide:
                chosen, reason, checks = choose_wide(validation, {k: results[k].is_bound for k in eligible}, check)
            else:
                chosen, reason, checks = _choose(validation, {k: results[k].is_bound for k in eligible}, check)
        res = results[chosen]
        choice = {"estimator": chosen, "reason": reason, **({"checks": checks} if checks else {})}
        # the members saw row subsets: their column diagnostics (by position in a subset) give way to the
        # full sample's, under the input's column names; a column constant on a subset only is not reported
        action = ("the discrete plug-in reads the tied values as the cells of its joint table (ties are its data, "
                  "not an error)" if chosen == "discrete" else "handled by the chosen estimator as it documents")
        own = {d["code"]: d for d in report.diagnostics(action)}
        diagnostics = [own.pop(d["code"], d) if d["code"] in ("ties", "discrete_columns") else d
                       for d in res.diagnostics if d["code"] not in ("constant_columns", "constant_view")]
        diagnostics += list(own.values())
        if not is_neural(MEMBERS[chosen][0]):
            diagnostics += [d for d in image_diagnostics(shapes, n, dx, dy, MEMBERS[chosen][0])
                            if d["code"] not in {e["code"] for e in diagnostics}]
        if wide:
            diagnostics += wide_diagnostics(results, chosen, skipped, dx, dy)
        if chosen in checks and not checks[chosen]["passed"]:  # no floor, and nothing passed its check
            diagnostics.append(diagnostic("overshoot_risk", f"{chosen} can overshoot and failed its own check "
                                          f"({checks[chosen]['check']}), and the panel has no lower bound"))
        if _disagree(results, chosen):
            spread = ", ".join(f"{k} {r.estimate:.3f} [{r.ci[0]:.3f}, {r.ci[1]:.3f}]" for k, r in results.items())
            diagnostics.append(diagnostic("disagreement", f"the panel disagrees beyond its test intervals ({spread}); "
                                          f"{chosen} was chosen on validation rows"))
        self.result_ = EstimateResult(
            estimator="auto", estimate=res.estimate, ci=res.ci, std=res.std, ceiling=res.ceiling,
            true_mi=None if true_mi is None else float(true_mi), is_bound=res.is_bound, n_train=res.n_train,
            n_test=res.n_test, batch_size=res.batch_size, seed=seed, seconds=time.perf_counter() - t0,
            history=res.history, diagnostics=diagnostics,
            settings={**self.get_params(), "choice": choice, "panel": panel,
                      **({"wide": True} if wide else {}), "floor": panel_floor(results),
                      "columns": report.to_dict(), "chosen_settings": res.settings, "versions": _versions()})
        pair.annotate(self.result_)
        return self


def _as_images(x: np.ndarray, y: np.ndarray, shapes) -> tuple[np.ndarray, np.ndarray]:
    """The flat checked rows back in their image shapes (views, no copies) for the neural member."""
    return tuple(a if s is None else a.reshape(len(a), *s) for a, s in zip((x, y), shapes))


#: ``tcmi`` joins the panel when the t copula fitted on the training rows describes the validation rows
#: better than the Gaussian copula by more than this many standard errors of the mean per-row gain.
TAIL_GAIN_SE = 2.0


def _view_condition(x: np.ndarray, y: np.ndarray) -> float:
    """The larger :func:`~mibound.inputs.columns.correlation_condition` of the two views' normal scores.

    A column constant on these rows has constant normal scores, which the condition number leaves out.
    """
    from mibound.functional.nonparametric import copula_normalize

    return max(correlation_condition(copula_normalize(a)) for a in (x, y))


def _disagree(results: dict[str, EstimateResult], chosen: str) -> bool:
    """Whether the panel contradicts itself: two estimates whose intervals do not overlap, or a lower
    bound whose interval lies above the reported estimate's (a bound below an estimate is no conflict)."""
    c = results[chosen]
    if any(r.is_bound and r.ci[0] > c.ci[1] for k, r in results.items() if k != chosen):
        return True
    est = [r for r in results.values() if not r.is_bound]
    return len(est) > 1 and max(r.ci[0] for r in est) > min(r.ci[1] for r in est)


#: An estimate that can overshoot is consistent with the floor (the largest lower bound on the validation
#: rows) when it is at most ``(1 + FLOOR_TOLERANCE) * floor + 0.05`` nats.
FLOOR_TOLERANCE = 0.10
#: A copula plug-in's self-check (:func:`~mibound.functional.model_floor.model_check`) passes when its model,
#: read as a critic on the validation rows, reaches at least this share of what it predicts for itself,
#: less 3 standard errors. On the 110-task suite the smallest share among correct estimates was 0.53 (0.247
#: of 0.466 nats, 11 weak canonical pairs, within its 3 standard errors of 0.7); one-hot views, where gcmi
#: reads 2.94 nats of 1.19, reach -0.97 of 2.79.
SELF_CHECK_SHARE = 0.7
#: The three KSG members (the same estimator after different per-column monotone maps, which leave the MI
#: unchanged) agree when their spread is at most ``0.05 + KSG_AGREEMENT * largest`` nats.
KSG_AGREEMENT = 0.10
_KSG = ("ksg", "ksg-normal", "ksg-rank")


def self_check(name: str, validation: dict[str, float], train: np.ndarray, held_out: np.ndarray, dim_x: int,
               seed: int, member=None) -> dict[str, Any]:
    """Whether an estimate that can overshoot behaves on the validation rows as its own model says it should.

    * ``gcmi`` / ``tcmi``: their copula model fitted on the training rows, read as a critic (InfoNCE over
      all validation pairs), against the read the model predicts in its own world
      (:func:`~mibound.functional.model_floor.model_check`); passes at ``SELF_CHECK_SHARE`` of it, less 3
      standard errors.
    * KSG: its three members (raw columns, normal scores, ranks) agree within ``0.05 + KSG_AGREEMENT *
      largest`` nats (MI does not change under per-column monotone maps; KSG's bias does).
    * ``latent`` (the fitted ``member``): the same checks of its readout on its own codes ``(f(x), g(y))``
      of the training and validation rows (the compression itself can only lose information): the
      Gaussian copula's for a gcmi readout, the KSG agreement for the others.

    Returns a dict with ``passed`` and the numbers, for ``settings["choice"]["checks"]``.
    """
    if name == "latent" and member is not None and hasattr(member, "codes_"):
        fx, fy = member.codes_
        rows = member.rows_
        codes = {part: np.c_[fx[rows[part]], fy[rows[part]]] for part in ("train", "validation")}
        readout = member.result_.settings["readout_used"]
        if readout == "gcmi":
            out = self_check("gcmi", {}, codes["train"], codes["validation"], fx.shape[1], seed)
        else:
            from mibound.registry import make_estimator

            values = {k: make_estimator("ksg", **opts, seed=seed).fit(fx[rows["validation"]],
                                                                      fy[rows["validation"]]).result_.estimate
                      for k, (_, opts) in MEMBERS.items() if k in _KSG}
            out = self_check("ksg", values, train, held_out, dim_x, seed)
        return {**out, "check": f"latent's readout on its codes: {out['check']}"}
    if name not in ("gcmi", "tcmi", *_KSG):
        return {"check": "none: this member has no check of its own", "passed": False}
    if name in _KSG:
        values = {k: validation[k] for k in _KSG if k in validation}
        spread = max(values.values()) - min(values.values())
        limit = 0.05 + KSG_AGREEMENT * max(values.values())
        return {"check": "the KSG members agree (MI is invariant under per-column monotone maps)",
                "values": values, "spread": spread, "limit": limit,
                "passed": bool(len(values) >= 2 and spread <= limit)}  # one member alone shows no agreement
    from mibound.functional.model_floor import model_check

    c = model_check(train, held_out, dim_x, "gaussian" if name == "gcmi" else "t", seed=seed)
    need = SELF_CHECK_SHARE * c["predicted"] - 3.0 * float(np.hypot(c["observed_se"], c["predicted_se"]))
    return {"check": "its copula model read as a critic on the validation rows, against the read it predicts for "
                     "itself", **c, "needed": need, "passed": bool(c["observed"] >= need),
            "saturated": bool(c["predicted"] >= c["ceiling"] - 1.0)}


def _choose(validation: dict[str, float], is_bound: dict[str, bool] | None = None, check=None,
            order: tuple[str, ...] = ORDER) -> tuple[str, str, dict[str, Any]]:
    """The panel's choice from its validation values (see the module docstring), the reason in words, the checks.

    Floors (``is_bound``; by default the members whose estimator reads a lower bound in
    :data:`~mibound.registry.DOMAINS`) are always eligible. An estimate that can overshoot
    is eligible when it is consistent with the floor (at most ``(1 + FLOOR_TOLERANCE)`` times the
    largest floor + 0.05 nats), or else when ``check(name)`` (:func:`self_check`) passes; without a
    ``check`` it is not eligible above that limit. Among the eligible the largest wins, except that one
    earlier in ``order`` wins within ``0.05 + 5%`` of it (``order=()``: the largest).
    """
    if is_bound is None:  # by the registry: what each member's estimator reads (its domain)
        from mibound.registry import DOMAINS

        is_bound = {k: DOMAINS[MEMBERS[k][0]].reads == "lower bound" for k in validation}
    floors = {k: v for k, v in validation.items() if is_bound[k]}
    cap = (1 + FLOOR_TOLERANCE) * max(floors.values()) + 0.05 if floors else None
    eligible, checks, refused = dict(floors), {}, []
    for k, v in validation.items():
        if is_bound[k]:
            continue
        if cap is not None and v <= cap:
            eligible[k] = v
            continue
        if check is not None:
            checks[k] = check(k)
        (eligible.__setitem__(k, v) if k in checks and checks[k]["passed"] else refused.append(f"{k} {v:.3f}"))
    detail = ", ".join(f"{k} {v:.3f}" for k, v in validation.items())
    if not eligible:  # no floor, and no estimate passed a check: the smallest
        name = min(validation, key=validation.get)
        return name, (f"no lower bound or floor in the panel and no estimate passed its own check: the smallest "
                      f"validation value; validation values: {detail}"), checks
    best_name = max(eligible, key=eligible.get)
    best = eligible[best_name]
    margin = 0.05 + 0.05 * abs(best)
    name = next((k for k in order if k in eligible and eligible[k] >= best - margin), best_name)
    if name == best_name:
        why = "the largest validation value" + (" among the floors and the estimates consistent with them"
                                                 if refused else "")
    else:
        why = (f"within {margin:.3f} nats of the largest validation value ({best_name} {best:.3f}) and "
               f"earlier in the order {', '.join(order)} (less variance, no ceiling)")
    if name in checks:
        why += (f"; above the floor's limit {cap:.3f} nats, accepted by its own check" if cap is not None else
                "; accepted by its own check (no lower bound in the panel)")
    if refused:
        why += (f"; refused (can overshoot: above {cap:.3f} nats, (1 + {FLOOR_TOLERANCE:g}) x the largest floor "
                f"+ 0.05{', and failed its own check' if check is not None else ''}): {', '.join(refused)}"
                if cap is not None else f"; refused (can overshoot, failed its own check): {', '.join(refused)}")
    return name, f"{why}; validation values: {detail}", checks


# -- wide views: membership and choice (the same choice rule) ------------------------------------------------
#: Flat views with ``dim_x + dim_y`` above this are *wide* (:func:`is_wide`): every flat task of the
#: 110-task suite has at most 100 columns, and its image tasks are not gated on width, so the suite keeps
#: the panel above (scikit-learn's digits, 64 pixels a view less their constant pixels, are wide).
WIDE_DIM = 100


def is_wide(dx: int, dy: int, shapes, n_validation: int, n_test: int) -> bool:
    """Whether ``auto`` takes the wide panel: flat views with ``dx + dy > WIDE_DIM``, or any views with
    fewer validation or test rows than ``dx + dy + 3`` (where the low-dimensional panel's plug-ins cannot run)."""
    return (not any(shapes) and dx + dy > WIDE_DIM) or min(n_validation, n_test) < dx + dy + 3


def wide_panel(report, dx: int, dy: int, n_validation: int, n_train: int, neural: bool,
               batch_size: int) -> tuple[list[str], dict[str, str]]:
    """The members of a wide panel and the members left out with the reason.

    ``latent`` always (a floor on compressions learned on the training rows); ``infonce`` (a lower
    bound) when ``neural``; ``gcmi`` where its domain allows (:data:`~mibound.registry.DOMAINS`: rows
    per column of ``dim_x + dim_y``), its value above the floor then accepted only by its own check;
    ``discrete`` when every column takes few values; ``tcmi`` and KSG never (their costs and biases
    grow with the width).
    """
    from mibound.registry import DOMAINS

    names, skipped = [], {}
    if all(c.discrete for c in report.columns):
        names.append("discrete")
    d = dx + dy
    need = DOMAINS["gcmi"].rows_per_dim
    if n_validation >= need * d:
        names.append("gcmi")
    else:
        skipped["gcmi"] = (f"steps aside on wide views: {n_validation} validation rows for dim_x + dim_y = {d} "
                           f"(its domain needs {need:g} rows per column); its covariance would measure the sample, "
                           "not the dependence")
    skipped["tcmi"] = f"wide views: dim_x + dim_y = {d} (Kendall's tau of every pair of columns grows as d^2)"
    for k in ("ksg", "ksg-normal", "ksg-rank"):
        skipped[k] = f"wide views: dim_x + dim_y = {d} (nearest-neighbour bias grows with the dimension)"
    names.append("latent")
    if neural and n_train >= 2 * batch_size:
        names.append("infonce")
    return names, skipped


def choose_wide(validation: dict[str, float], is_bound: dict[str, bool],
                check=None) -> tuple[str, str, dict[str, Any]]:
    """The wide panel's choice: :func:`_choose` with no preference order.

    Lower bounds (``is_bound``) are compared by "largest". Estimates that can overshoot (``latent``,
    ``gcmi``, ``discrete``) are eligible when their value is at most ``(1 + FLOOR_TOLERANCE)`` times
    the largest lower bound plus 0.05 nats, or above that when ``check`` (:func:`self_check`) passes;
    without a ``check`` they never win on size alone. ``latent`` estimates a floor (the MI of learned
    compressions), but its readout is an estimate, so it is not a lower bound (issue 20): its check is
    its readout's on its own codes. Returns the name, the reason in words and the checks that ran.
    """
    return _choose(validation, is_bound, check, ())


def panel_floor(results: dict[str, EstimateResult]) -> dict[str, Any] | None:
    """``settings["floor"]``: the largest lower bound of the panel on the test rows, and the latent floor (wide views).

    Reported beside every ``auto`` estimate (``None`` when the panel has neither): the true MI is at least
    the lower bound, up to its interval, whatever was chosen.
    """
    bounds = {k: r for k, r in results.items() if r.is_bound}
    out: dict[str, Any] = {}
    if bounds:
        k = max(bounds, key=lambda b: bounds[b].estimate)
        out["lower_bound"] = {"estimator": k, "estimate": bounds[k].estimate, "ci": list(bounds[k].ci)}
    if "latent" in results:
        r = results["latent"]
        out["latent"] = {"estimate": r.estimate, "ci": list(r.ci), "latent_dim": r.settings["latent_dim"],
                         "what": "I(f(x); g(y)) of learned compressions: a floor up to its readout's error"}
    return out or None


def wide_diagnostics(results: dict[str, EstimateResult], chosen: str, skipped: dict[str, str], dx: int,
                     dy: int) -> list[dict[str, str]]:
    """What a wide panel adds: the members that stepped aside, and the latent member's view of the data."""
    out = []
    aside = [k for k in ("gcmi",) if k in skipped]
    if aside:
        out.append(diagnostic("high_dimension", f"wide views (dim_x + dim_y = {dx + dy}): {', '.join(aside)} stepped "
                              "aside (needs many more rows than columns); the panel ran "
                              f"{', '.join(results)}"))
    if chosen != "latent" and "latent" in results:
        out += [d for d in results["latent"].diagnostics if d["code"] in ("low_rank", "few_samples")]
    return out
