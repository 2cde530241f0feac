"""Student-t copula MI (``tcmi``): closed forms, invariances, the tail-dependence gate and auto's use of it."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mibound
from mibound.data import CorrelatedGaussian, MultivariateStudentT
from mibound.estimators.plugin import TCopulaEstimator
from mibound.functional.copulas import (
    fit_t_copula,
    gaussian_copula_loglik,
    kendall_correlation,
    pseudo_observations,
    scale_dependence,
    t_copula_gain,
    t_copula_loglik,
    tcmi_mi,
)
from mibound.functional.nonparametric import gcmi_mi


@pytest.mark.parametrize("rho, dim, df", [(0.0, 2, 2.0), (0.0, 3, 4.0), (0.5, 1, 3.0), (0.0, 1, 1.0)])
def test_tcmi_recovers_student_t_mi(rho, dim, df):
    s = MultivariateStudentT.correlated(rho, dim, df)
    x, y = s.sample(4000, seed=1)
    r = TCopulaEstimator(n_subsamples=10).fit(x, y).result_
    truth = s.mutual_information()
    # measured over seeds 0-5: |error| <= 0.023 nats at n = 4000 for these cases
    assert r.estimate == pytest.approx(truth, abs=0.05)
    assert 0.5 * df < r.settings["df"] < 2.0 * df
    assert r.ci[0] < r.estimate < r.ci[1] and not r.is_bound


def test_zero_correlation_student_t_is_invisible_to_the_gaussian_copula():
    s = MultivariateStudentT.correlated(0.0, 2, 2.0)
    x, y = s.sample(3000, seed=2)
    assert abs(gcmi_mi(x, y)) < 0.02 < 0.15 < tcmi_mi(x, y)  # the truth is 0.19 nats


def test_gaussian_data_fit_a_large_df_and_agree_with_gcmi():
    x, y = CorrelatedGaussian.from_mi(1.0, dim=2).sample(4000, seed=3)
    mi, df = tcmi_mi(x, y, return_df=True)
    assert df > 30  # inf or a t copula indistinguishable from the Gaussian one
    assert mi == pytest.approx(gcmi_mi(x, y), abs=0.03) and mi == pytest.approx(1.0, abs=0.05)


def test_invariant_under_monotone_maps_and_symmetric():
    s = MultivariateStudentT.correlated(0.3, 2, 3.0)
    x, y = (a.astype(np.float64) for a in s.sample(1500, seed=4))  # float32 exp() would tie two rows
    base = tcmi_mi(x, y)
    warped_x = np.c_[np.exp(x[:, 0]), x[:, 1] ** 3]
    warped_y = np.c_[np.arcsinh(5 * y[:, 0]), -np.exp(-y[:, 1])]
    assert tcmi_mi(warped_x, warped_y) == pytest.approx(base, rel=1e-12)  # ranks are all it reads
    assert tcmi_mi(y, x) == pytest.approx(base, rel=1e-9)


def test_kendall_correlation_of_an_elliptical_sample_and_its_projection():
    rho = 0.6
    s = MultivariateStudentT.correlated(rho, 1, 2.0)
    x, y = s.sample(20_000, seed=5)
    r = kendall_correlation(pseudo_observations(np.c_[x, y]))
    assert r[0, 1] == pytest.approx(rho, abs=0.02)  # sin(pi tau / 2) = rho for every elliptical law
    z = np.random.default_rng(0).normal(size=500)
    singular = kendall_correlation(pseudo_observations(np.c_[z, z, -z]))  # rank 1: projected
    assert np.allclose(np.diag(singular), 1.0) and np.linalg.eigvalsh(singular)[0] > 0
    np.linalg.cholesky(singular)


def test_copula_densities_integrate_against_each_other():
    """At a large df the t copula density tends to the Gaussian copula density."""
    u = pseudo_observations(np.random.default_rng(6).normal(size=(300, 3)))
    r = np.array([[1.0, 0.4, 0.1], [0.4, 1.0, 0.2], [0.1, 0.2, 1.0]])
    assert np.allclose(t_copula_loglik(u, r, 1e7), gaussian_copula_loglik(u, r), atol=1e-4)
    assert np.allclose(gaussian_copula_loglik(u, np.eye(3)), 0.0, atol=1e-12)  # independence copula


def test_tail_gain_separates_student_t_from_gaussian():
    t = MultivariateStudentT.correlated(0.0, 2, 2.0).sample(4000, seed=7)
    g = CorrelatedGaussian.from_mi(0.5, dim=2).sample(4000, seed=7)
    for (x, y), heavy in ((t, True), (g, False)):
        a = np.c_[x, y]
        gain, se, df = t_copula_gain(a[:2000], a[2000:])
        if heavy:
            assert gain > 5 * se and df < 5
        else:
            assert math.isinf(df) or gain < 2 * se + 1e-3


def test_fit_t_copula_returns_inf_for_the_gaussian_winner():
    u = pseudo_observations(np.random.default_rng(8).normal(size=(2000, 2)))
    r, df = fit_t_copula(u)
    assert r.shape == (2, 2) and (math.isinf(df) or df > 30)


def test_estimator_diagnostics_and_degenerate_input():
    rng = np.random.default_rng(9)
    b = rng.integers(0, 2, size=(500, 1)).astype(float)
    r = TCopulaEstimator(n_subsamples=0).fit(b, np.c_[b[:, 0], rng.normal(size=500)]).result_
    assert {"ties", "discrete_columns"} <= {d["code"] for d in r.diagnostics}
    zero = TCopulaEstimator().fit(np.ones((100, 2)), rng.normal(size=(100, 2))).result_
    assert zero.estimate == 0.0 and zero.ci == (0.0, 0.0)
    with pytest.raises(ValueError, match="n_subsamples must be >= 0"):
        TCopulaEstimator(n_subsamples=-1).fit(b, b)
    assert mibound.estimate_mi(b[:, 0] + rng.normal(size=500), b[:, 0], estimator="tcmi").estimator == "tcmi"


def test_auto_chooses_tcmi_for_tail_dependence_and_leaves_it_out_otherwise():
    s = MultivariateStudentT.correlated(0.0, 2, 2.0)
    x, y = s.sample(5000, seed=10)
    r = mibound.estimate_mi(x, y, neural=False)
    assert r.settings["choice"]["estimator"] == "tcmi"
    assert r.estimate == pytest.approx(s.mutual_information(), abs=0.05)
    x, y = CorrelatedGaussian.from_mi(0.5, dim=2).sample(5000, seed=10)
    panel = mibound.estimate_mi(x, y, neural=False).settings["panel"]
    assert panel["tcmi"]["estimate"] is None and "tail dependence" in panel["tcmi"]["error"]
    rng = np.random.default_rng(11)
    tied = np.round(x, 1)
    panel = mibound.estimate_mi(tied, y, neural=False).settings["panel"]
    assert "columns with ties" in panel["tcmi"]["error"]
    wide = mibound.estimate_mi(rng.normal(size=(600, 12)), rng.normal(size=(600, 12)), neural=False)
    assert "tcmi_max_dim = 20" in wide.settings["panel"]["tcmi"]["error"]


def test_scale_dependence_looks_across_the_views_only():
    inside = MultivariateStudentT.correlated(0.0, 1, 1.0)  # (x1, x2) share a scale: tails within one view
    (x1, x2), (y1, y2) = inside.sample(3000, seed=12), inside.sample(3000, seed=13)
    independent = np.c_[x1, x2, y1, y2]  # two heavy-tailed views, independent of each other
    tau, se = scale_dependence(independent, 2)
    assert abs(tau) < 3 * se and se == pytest.approx(math.sqrt(2 * 6005 / (9 * 3000 * 2999)))
    sx, sy = MultivariateStudentT.correlated(0.0, 2, 2.0).sample(3000, seed=14)  # one scale for both views
    tau, se = scale_dependence(np.c_[sx, sy], 2)
    assert tau > 5 * se


def test_auto_leaves_tcmi_out_for_independent_heavy_tailed_views():
    inside = MultivariateStudentT.correlated(0.0, 1, 1.0)
    (x1, x2), (y1, y2) = inside.sample(5000, seed=15), inside.sample(5000, seed=16)
    r = mibound.estimate_mi(np.c_[x1, x2], np.c_[y1, y2], neural=False)
    assert "scales are not dependent" in r.settings["panel"]["tcmi"]["error"]
    assert abs(r.estimate) < 0.02  # a single-df t copula would read its tail term (about 0.1 nats) here


_MAPS = [np.exp, np.arctan, lambda v: v ** 3, lambda v: 3.0 * v - 2.0, np.arcsinh, lambda v: -np.exp(-v)]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2 ** 16), maps=st.lists(st.integers(0, len(_MAPS) - 1), min_size=3, max_size=3),
       df=st.sampled_from([1.0, 2.5, 6.0]))
def test_tcmi_is_invariant_under_any_increasing_column_maps(seed, maps, df):
    x, y = (a.astype(np.float64) for a in MultivariateStudentT.correlated(0.2, 1, df).sample(400, seed=seed))
    x = np.c_[x, np.random.default_rng(seed).normal(size=400) + x[:, 0]]
    warped_x = np.c_[_MAPS[maps[0]](np.clip(x[:, 0], -30, 30)), _MAPS[maps[1]](np.clip(x[:, 1], -30, 30))]
    clipped = np.c_[np.clip(x, -30, 30), np.clip(y, -30, 30)]  # Cauchy tails: keep the maps finite
    warped_y = _MAPS[maps[2]](clipped[:, 2:])
    # a map that rounds two distinct values to one float would change the ranks; none of these does here
    assert [len(np.unique(c)) for c in np.c_[warped_x, warped_y].T] == [len(np.unique(c)) for c in clipped.T]
    base = tcmi_mi(clipped[:, :2], clipped[:, 2:])
    assert tcmi_mi(warped_x, warped_y) == pytest.approx(base, rel=1e-9, abs=1e-12)
