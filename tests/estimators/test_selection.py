"""Honest model selection: validation picks the checkpoint, the test rows only report; readout K; diagnostics."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mibound
from mibound.estimators.neural import neural_diagnostics
from mibound.neural.plan import FitPlan
from mibound.results import codes_of


@pytest.fixture(scope="module")
def data():
    x, y = mibound.CorrelatedGaussian.from_mi(1.0, 3).sample(3000, seed=4)
    return x, y


OPTS = dict(batch_size=32, steps=400, log_every=25, patience=100, min_steps=50, seed=5, progress=False,
            critic_options={"hidden_dim": 32, "layers": 1}, learning_rate=2e-3)


def test_poisoned_test_rows_change_nothing_but_the_reported_value(data):
    x, y = data
    clean = mibound.NeuralEstimator(**OPTS).fit(x, y)
    test_rows = FitPlan(len(x), 32, seed=5, validation_fraction=0.1).part_rows("test")
    y_bad = y.copy()
    y_bad[test_rows] = y[np.random.default_rng(0).permutation(test_rows)]  # same marginals, no dependence left
    poisoned = mibound.NeuralEstimator(**OPTS).fit(x, y_bad)
    a, b = clean.result_.settings["selection"], poisoned.result_.settings["selection"]
    assert a["selected_step"] == b["selected_step"] and a["steps_run"] == b["steps_run"]
    assert a["validation_value"] == b["validation_value"]
    assert clean.history_ == poisoned.history_ and clean.selection_history_ == poisoned.selection_history_
    assert clean.result_.estimate > 0.6 and poisoned.result_.estimate < 0.0  # only the report saw the poison


def test_selection_record_and_early_stop(data):
    x, y = data
    res = mibound.NeuralEstimator(**OPTS).fit(x, y).result_
    sel = res.settings["selection"]
    assert set(sel) == {"steps_run", "selected_step", "validation_value", "train_value", "test_value",
                        "learning_rate", "candidates"}
    assert 0 < sel["selected_step"] <= sel["steps_run"] <= 400 and sel["selected_step"] % 25 == 0
    assert sel["test_value"] == pytest.approx(res.estimate)
    off = mibound.NeuralEstimator(**{**OPTS, "validation_fraction": 0.0}).fit(x, y).result_
    assert off.settings["selection"]["selected_step"] is None and off.settings["selection"]["steps_run"] == 400
    assert off.n_train == 2400 and res.n_train == 2100  # the validation rows come out of training


def test_readout_k_lifts_the_ceiling_where_the_mi_is_high():
    """The same optimal critic read at K = 32 and at the automatic K: InfoNCE is only as tight as its K."""
    g = mibound.CorrelatedGaussian.from_mi(5.0, 3)
    x, y = g.sample(8000, seed=0)
    critic = mibound.GaussianOptimalCritic.correlated(g.rho, 3)
    small = mibound.NeuralEstimator(critic=critic, batch_size=32, steps=1, progress=False, preprocess="none",
                                    eval_batch_size=32).fit(x, y).result_
    auto = mibound.NeuralEstimator(critic=critic, batch_size=32, steps=1, progress=False,
                                   preprocess="none").fit(x, y).result_
    assert auto.settings["eval_batch_size"] == 400 and auto.ceiling == pytest.approx(math.log(400))
    # the readout K, and the training K beside it where the two differ
    assert "(log K, K=400: the readout's K, pairs per held-out batch; trained at K=32)" in auto.summary()
    assert "(log K, K=32)" in small.summary()
    assert small.ceiling == pytest.approx(math.log(32))
    assert small.estimate < math.log(32) < 4.0 < auto.estimate < 5.0
    assert "saturated" in codes_of(small.diagnostics) and "saturated" not in codes_of(auto.diagnostics)


def _result(estimate, ceiling=None, train_value=None):
    return mibound.EstimateResult("infonce", estimate, (estimate, estimate), 0.0, ceiling=ceiling, batch_size=64,
                                  settings={"selection": {"train_value": train_value}, "eval_batch_size": 64})


@pytest.mark.parametrize("estimate,values,ceiling,train,codes", [
    (1.0, [0.98, 1.0, 1.02, 1.0], math.log(64), 1.05, []),                     # clean
    (4.05, [4.04, 4.05, 4.06, 4.05], math.log(64), 4.06, ["saturated"]),
    (0.8, [0.79, 0.8, 0.81, 0.8], None, 2.5, ["generalisation_gap"]),
    (5.3, [0.9, 1.0, 1.1, 18.2], None, 5.0, ["unstable_readout"]),              # one batch dominates
    (-0.4, [-0.41, -0.4, -0.39, -0.4], None, 0.1, ["generalisation_gap", "negative_estimate"]),
])
def test_neural_diagnostics_fire_on_crafted_cases_and_stay_silent_on_a_clean_one(estimate, values, ceiling, train,
                                                                                   codes):
    got = neural_diagnostics(_result(estimate, ceiling, train), np.asarray(values))
    assert codes_of(got) == codes
    assert all(set(d) == {"code", "message"} and d["message"] for d in got)


def test_unstable_readout_fires_on_real_heavy_tails_and_the_robust_map_tames_them():
    """SMILE on raw Student-t (dof 1) scores: a few extreme pairs dominate the readout (issue 11 saw 20 nats for
    1.6); the diagnostic says so. The default robust column map (asinh) gives a readout without the flag."""
    s = mibound.data.MultivariateStudentT.correlated(0.0, 3, 1.0)
    x, y = s.sample(2000, seed=0)
    opts = dict(estimator="smile", steps=200, min_steps=100, progress=False, num_threads=1)
    raw = mibound.estimate_mi(x, y, preprocess="none", **opts)
    tamed = mibound.estimate_mi(x, y, **opts)
    assert "unstable_readout" in codes_of(raw.diagnostics)
    assert "unstable_readout" not in codes_of(tamed.diagnostics)
    assert 0.0 < tamed.estimate < 2 * s.mutual_information()


@pytest.mark.parametrize("rates", [(2e-3, 1e-5), (1e-5, 2e-3)])
def test_learning_rates_are_chosen_on_the_validation_rows(data, rates):
    """Two rates train from the same initial critic; the one with the better validation value is read."""
    x, y = data
    opts = {**OPTS, "learning_rate": rates}
    two = mibound.NeuralEstimator(**opts).fit(x, y).result_
    sel = two.settings["selection"]
    assert [c["learning_rate"] for c in sel["candidates"]] == list(rates)
    best = max(sel["candidates"], key=lambda c: c["validation_value"])
    assert sel["learning_rate"] == best["learning_rate"] == 2e-3  # 1e-5 learns next to nothing in 400 steps
    assert sel["validation_value"] == best["validation_value"] and sel["selected_step"] == best["selected_step"]
    alone = mibound.NeuralEstimator(**{**OPTS, "learning_rate": 2e-3}).fit(x, y).result_
    assert two.estimate == pytest.approx(alone.estimate, abs=1e-5)  # the chosen critic is the one trained alone
    assert alone.settings["selection"]["candidates"] == [] and alone.settings["selection"]["learning_rate"] == 2e-3
    assert f"checkpoint     step {sel['selected_step']} of {sel['steps_run']}, chosen on validation rows, learning " \
           "rate 0.002 (the best on validation of " in two.summary()


def test_poisoned_test_rows_do_not_change_the_chosen_rate(data):
    x, y = data
    opts = {**OPTS, "learning_rate": (2e-3, 5e-4)}
    clean = mibound.NeuralEstimator(**opts).fit(x, y).result_.settings["selection"]
    test_rows = FitPlan(len(x), 32, seed=5, validation_fraction=0.1).part_rows("test")
    y_bad = y.copy()
    y_bad[test_rows] = y[np.random.default_rng(0).permutation(test_rows)]
    bad = mibound.NeuralEstimator(**opts).fit(x, y_bad).result_.settings["selection"]
    assert clean["candidates"] == bad["candidates"] and clean["learning_rate"] == bad["learning_rate"]


def test_without_validation_rows_only_the_first_rate_trains(data):
    x, y = data
    res = mibound.NeuralEstimator(**{**OPTS, "learning_rate": (2e-3, 1e-4), "validation_fraction": 0.0}).fit(x, y).result_
    assert res.settings["selection"]["learning_rate"] == 2e-3 and res.settings["selection"]["candidates"] == []
    assert res.settings["learning_rate"] == [2e-3, 1e-4]


def test_several_rates_cross_fit_and_keep_a_rate_per_fold(data):
    x, y = data
    res = mibound.NeuralEstimator(**{**OPTS, "learning_rate": (2e-3, 1e-5), "folds": 2}).fit(x, y).result_
    sel = res.settings["selection"]
    assert sel["learning_rate"] == [2e-3, 2e-3] and len(sel["candidates"]) == 2
    assert all(len(c["selected_step"]) == 2 for c in sel["candidates"])


def test_a_given_critic_module_trains_at_the_first_rate_and_copies_at_the_others(data):
    x, y = data
    critic = mibound.SeparableCritic(3, 3, hidden_dim=16, layers=1, embed_dim=8)
    est = mibound.NeuralEstimator(**{**OPTS, "critic": critic, "critic_options": None,
                                     "learning_rate": (1e-5, 2e-3)}).fit(x, y)
    assert est.result_.settings["selection"]["learning_rate"] == 2e-3
    assert est.critic_ is not critic  # the chosen copy; the given module holds the 1e-5 critic


@pytest.mark.parametrize("rate, err, match", [((), ValueError, "at least one rate"),
                                               ((1e-3, 1e-3), ValueError, "not repeat"),
                                               ("fast", TypeError, "positive number or a sequence"),
                                               ((1e-3, -1.0), ValueError, "must be >"),
                                               (0.0, ValueError, "must be >")])
def test_bad_learning_rates(data, rate, err, match):
    x, y = data
    with pytest.raises(err, match=match):
        mibound.NeuralEstimator(learning_rate=rate, progress=False).fit(x, y)


def test_read_test_of_the_fitted_rows_gives_the_estimate():
    """NeuralEstimator.read_test re-reads the fitted critic on the test rows: on the fitted rows it
    gives the estimate (same plan, maps and K; float32 readouts summed in float64, so 1e-6)."""
    x, y = mibound.CorrelatedGaussian.from_mi(1.0, dim=2).sample(1500, seed=1)
    est = mibound.NeuralEstimator(steps=150, progress=False, learning_rate=5e-4).fit(x, y)
    values = est.read_test(np.asarray(x, np.float32), np.asarray(y, np.float32))
    assert float(np.mean(values)) == pytest.approx(est.result_.estimate, abs=1e-6)
    with pytest.raises(ValueError, match="read_test needs a fit"):
        mibound.NeuralEstimator().read_test(np.asarray(x, np.float32), np.asarray(y, np.float32))


def test_stacked_candidates_choose_and_read_as_rate_by_rate(data, monkeypatch):
    """The candidate rates trained as one stacked critic (CandidateRuns) give the fit the rate-by-rate runs give:
    the same record (when and why each stopped, selected steps) and estimate.

    Measured on three data seeds (the slower rate dropped at 275 and 200 steps, or both trained 400 steps
    stacked): estimates within 8.4e-7 and validation values within 1e-6 (float32 rounding of baddbmm against
    addmm); tolerance 1e-4. Stops and steps are compared exactly.
    """
    import mibound.estimators.neural as en

    x, y = data
    opts = {**OPTS, "learning_rate": (2e-3, 1e-3), "min_steps": 200}
    stacked = mibound.NeuralEstimator(**opts).fit(x, y).result_

    def refuse(singles):
        raise TypeError("rate by rate")

    monkeypatch.setattr(en, "CandidateRuns", refuse)
    apart = mibound.NeuralEstimator(**opts).fit(x, y).result_
    a, b = stacked.settings["selection"], apart.settings["selection"]
    assert a["learning_rate"] == b["learning_rate"] and a["selected_step"] == b["selected_step"]
    for ca, cb in zip(a["candidates"], b["candidates"]):
        assert (ca["selected_step"], ca["stopped_step"]) == (cb["selected_step"], cb["stopped_step"])
        assert ca["stopped"].split(" by")[0] == cb["stopped"].split(" by")[0]
        assert ca["validation_value"] == pytest.approx(cb["validation_value"], abs=1e-4)
    assert stacked.estimate == pytest.approx(apart.estimate, abs=1e-4)
