"""Gaussian-copula MI (gcmi) and the per-column tie report (mibound.inputs.columns)."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import mibound
from mibound import GaussianCopulaEstimator, GaussianEstimator, gaussian_mi
from mibound.cli import main
from mibound.data import MultivariateStudentT
from mibound.functional.nonparametric import SubsetRanks, copula_normalize, gaussian_plugin_mi, gcmi_mi, logdet_bias
from mibound.inputs.columns import DISCRETE_MAX_VALUES, column_report
from mibound.results import codes_of

from tests.conftest import random_spd

INCREASING = [np.exp, lambda a: a**3, np.arcsinh, lambda a: 1.0 / (1.0 + np.exp(-a)), lambda a: 3 * a - 7,
              lambda a: np.sign(a) * np.log1p(np.abs(a))]


def correlated_booleans(n, agree, seed):
    """Two fair booleans that agree with probability ``agree``; exact MI ``log 2 - H(agree)``."""
    rng = np.random.default_rng(seed)
    b = rng.random(n) < 0.5
    c = np.where(rng.random(n) < agree, b, ~b)
    exact = math.log(2) + agree * math.log(agree) + (1 - agree) * math.log(1 - agree)
    return b.astype(float), c.astype(float), exact


# -- gcmi --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dx,dy,seed", [(1, 1, 0), (2, 3, 1), (4, 4, 2)])
def test_gcmi_matches_closed_form_on_gaussians(dx, dy, seed):
    rng = np.random.default_rng(seed)
    cov = random_spd(rng, dx + dy)
    z = rng.multivariate_normal(np.zeros(dx + dy), cov, 4000)
    res = GaussianCopulaEstimator(n_subsamples=40, seed=seed).fit(z[:, :dx], z[:, dx:]).result_
    truth = gaussian_mi(cov, dx)
    assert abs(res.estimate - truth) < 4 * res.std + 0.01
    assert res.ci[0] < res.estimate < res.ci[1]
    assert res.estimator == "gcmi" and res.is_bound is False and res.diagnostics == []


def test_gcmi_is_identical_under_monotone_maps_of_columns(rng):
    cov = random_spd(rng, 5)
    z = rng.multivariate_normal(np.zeros(5), cov, 2000)
    x, y = z[:, :2], z[:, 2:]
    base = gcmi_mi(x, y)
    fx = np.c_[np.exp(x[:, 0]), x[:, 1] ** 3]
    fy = np.c_[np.arcsinh(y[:, 0]), np.exp(y[:, 1]), -y[:, 2] ** 3]  # decreasing maps keep |rank correlation|
    assert gcmi_mi(fx, y) == base
    assert gcmi_mi(x, np.c_[np.arcsinh(y[:, 0]), np.exp(y[:, 1]), y[:, 2] ** 3]) == base
    assert gcmi_mi(fx, fy) == pytest.approx(base, rel=1e-12)
    # the Gaussian plug-in is not invariant: the cube moves it a lot
    assert abs(gaussian_plugin_mi(fx, y) - gaussian_plugin_mi(x, y)) > 0.02


def test_gcmi_is_symmetric(rng):
    z = rng.multivariate_normal(np.zeros(5), random_spd(rng, 5), 1500)
    x, y = np.exp(z[:, :2]), z[:, 2:] ** 3
    assert gcmi_mi(x, y) == pytest.approx(gcmi_mi(y, x), rel=1e-12)
    a = GaussianCopulaEstimator(n_subsamples=10).fit(x, y).result_
    b = GaussianCopulaEstimator(n_subsamples=10).fit(y, x).result_
    assert a.estimate == pytest.approx(b.estimate, rel=1e-12)


def test_copula_normalize_gives_normal_scores_with_average_ranks():
    a = np.array([[3.0, 1.0], [1.0, 1.0], [2.0, 5.0], [10.0, 1.0]])
    got = copula_normalize(a)
    want_0 = stats.norm.ppf(np.array([3, 1, 2, 4]) / 5)
    want_1 = stats.norm.ppf(np.array([2, 2, 4, 2]) / 5)  # three ties share rank (1 + 2 + 3) / 3
    np.testing.assert_allclose(got, np.c_[want_0, want_1], rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 80), d=st.integers(1, 3), values=st.integers(1, 6),
       subsets=st.integers(1, 3))
def test_subset_ranks_equal_copula_normalize_of_the_subset_property(seed, n, d, values, subsets):
    """The half-sampling shortcut of gcmi: the same normal scores, bit for bit, with any ties."""
    rng = np.random.default_rng(seed)
    a = np.c_[rng.integers(0, values, (n, d)), rng.standard_normal((n, 1))]
    ranks = SubsetRanks(a)
    np.testing.assert_array_equal(ranks.normal_scores(), copula_normalize(a))
    for _ in range(subsets):
        idx = rng.choice(n, rng.integers(1, n + 1), replace=False)
        np.testing.assert_array_equal(ranks.normal_scores(idx), copula_normalize(a[idx]))


def test_gcmi_half_samples_match_the_direct_computation(rng):
    x = np.round(rng.standard_normal((600, 2)), 1)
    y = x[:, :1] + rng.standard_normal((600, 1))
    fast = GaussianCopulaEstimator(n_subsamples=30, seed=4).fit(x, y).result_
    slow = GaussianCopulaEstimator(n_subsamples=30, seed=4)
    slow._statistics = lambda a, b: (gcmi_mi(a, b), lambda idx: gcmi_mi(a[idx], b[idx]))
    slow = slow.fit(x, y).result_
    # one sort serves all rows and the halves: the same normal scores; the covariance is summed in another memory
    # layout (a transposed view), so the last bits may differ (measured: 1e-16 relative)
    assert fast.estimate == pytest.approx(slow.estimate, rel=1e-12)
    assert fast.ci == pytest.approx(slow.ci, rel=1e-12) and fast.std == pytest.approx(slow.std, rel=1e-10)


def test_gcmi_exact_for_monotone_transforms_where_gaussian_plugin_is_not():
    """The ``transformed-cube`` task: Gaussian data with x**3 per column; gcmi sees through it."""
    task = mibound.tasks.get("transformed-cube-d3-mi1")
    x, y = task.sample(5000, seed=0, dtype=np.float64, flat=True)
    res = GaussianCopulaEstimator(n_subsamples=20).fit(x, y).result_
    assert abs(res.estimate - 1.0) < 4 * res.std + 0.01
    assert GaussianEstimator(n_subsamples=0).fit(x, y).result_.estimate < 0.7


def test_gcmi_is_a_lower_bound_for_one_column_each():
    """Student-t with zero scale correlation: dependent only through the tails, which no Gaussian copula has."""
    s = MultivariateStudentT.correlated(0.0, 1, 3.0)
    x, y = s.sample(20_000, seed=0, dtype=np.float64)
    res = GaussianCopulaEstimator(n_subsamples=20).fit(x, y).result_
    assert res.ci[1] < s.mutual_information()  # 0.042 nats, gcmi about 0


def test_gcmi_is_not_a_bound_when_both_sides_are_multivariate():
    """x = (z, s z) (random sign s), y = x + 0.3 n: Gaussian marginals everywhere, a non-Gaussian copula inside x."""
    rng = np.random.default_rng(0)
    sigma, n = 0.3, 20_000
    z, s = rng.standard_normal(n), rng.choice([-1.0, 1.0], n)
    x = np.c_[z, s * z]
    y = x + sigma * rng.standard_normal((n, 2))
    a = 1 + sigma**2
    dens = 0.5 * (stats.multivariate_normal([0, 0], [[a, 1], [1, a]]).pdf(y)
                  + stats.multivariate_normal([0, 0], [[a, -1], [-1, a]]).pdf(y))
    true_mi = -np.mean(np.log(dens)) - math.log(2 * math.pi * math.e * sigma**2)  # h(y) - h(noise), MC
    assert true_mi == pytest.approx(2.02, abs=0.03)
    assert gcmi_mi(x, y) > true_mi + 0.3  # about 2.48: the Gaussian copula overstates the MI here


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(30, 300), dx=st.integers(1, 3), dy=st.integers(1, 3),
       maps=st.lists(st.integers(0, len(INCREASING) - 1), min_size=6, max_size=6))
def test_gcmi_invariant_under_increasing_maps_property(seed, n, dx, dy, maps):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, dx + dy)) @ rng.standard_normal((dx + dy, dx + dy))
    z = np.clip(z, -30, 30)  # keep exp finite
    x, y = z[:, :dx], z[:, dx:]
    fx = np.column_stack([INCREASING[maps[j]](x[:, j]) for j in range(dx)])
    fy = np.column_stack([INCREASING[maps[3 + j]](y[:, j]) for j in range(dy)])
    if any(len(np.unique(c)) < n for c in np.c_[fx, fy].T):  # a map saturated in floating point: ranks changed
        return
    assert gcmi_mi(fx, fy) == gcmi_mi(x, y)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(20, 400), dx=st.integers(1, 3), dy=st.integers(1, 3),
       discrete=st.booleans())
def test_gcmi_never_below_its_bias_correction_property(seed, n, dx, dy, discrete):
    """The uncorrected plug-in is >= 0 for any data (Fischer's inequality), so gcmi >= -(its correction)."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n, dx)), rng.standard_normal((n, dy))
    if discrete:
        x, y = np.floor(2 * x), np.floor(2 * y)
    if n <= dx + dy + 1 or any(len(np.unique(c)) < 2 for c in np.c_[x, y].T):
        return
    correction = 0.5 * (logdet_bias(dx, n) + logdet_bias(dy, n) - logdet_bias(dx + dy, n))  # >= 0
    try:
        value = gcmi_mi(x, y)
    except ValueError as exc:  # collinear discrete columns
        assert "singular" in str(exc)
        return
    assert gcmi_mi(x, y, bias_correction=False) >= -1e-12
    assert value >= -correction - 1e-12
    assert value >= -0.05 or n < 60  # independent data: about -dx dy / (2n) at worst


def test_gcmi_on_booleans_reports_ties_and_is_not_the_discrete_mi():
    b, c, exact = correlated_booleans(4000, 0.9, seed=0)
    res = GaussianCopulaEstimator(n_subsamples=10).fit(b, c).result_
    assert exact == pytest.approx(0.368, abs=1e-3)
    assert res.estimate > exact + 0.1  # about 0.51 = -1/2 log(1 - 0.8^2)
    assert codes_of(res.diagnostics) == ["ties", "discrete_columns"]
    assert "x[0] (2 integer values), y[0] (2 integer values)" in res.diagnostics[1]["message"]
    assert "average rank" in res.diagnostics[0]["message"]
    g = GaussianEstimator(n_subsamples=0).fit(b, c).result_
    assert codes_of(g.diagnostics) == ["ties", "discrete_columns"]
    assert "as they are" in g.diagnostics[0]["message"]


@pytest.mark.parametrize("call,exc,match", [
    (lambda r: gcmi_mi(r.standard_normal((50, 2)), r.standard_normal((49, 1))), ValueError, "same number of samples"),
    (lambda r: gcmi_mi(np.c_[r.standard_normal(50), np.ones(50)], r.standard_normal(50)), ValueError, "constant"),
    (lambda r: gcmi_mi(r.standard_normal((4, 2)), r.standard_normal((4, 2))), ValueError, r"needs n > dx \+ dy \+ 1"),
    (lambda r: gcmi_mi(np.full((20, 1), np.nan), r.standard_normal(20)), ValueError, "NaN"),
    (lambda r: gcmi_mi(np.array([["a"]] * 20), r.standard_normal(20)), TypeError, "string"),
    (lambda r: copula_normalize(r.standard_normal((4, 2, 2))), ValueError, "2-D array"),
    (lambda r: SubsetRanks(r.standard_normal(4)), ValueError, "2-D array"),
    (lambda r: GaussianCopulaEstimator(n_subsamples=-1).fit(r.standard_normal(50), r.standard_normal(50)),
     ValueError, "n_subsamples must be >= 0"),
    (lambda r: GaussianCopulaEstimator(seed=-2).fit(r.standard_normal(50), r.standard_normal(50)),
     ValueError, "seed must be in"),
])
def test_gcmi_bad_input(rng, call, exc, match):
    with pytest.raises(exc, match=match):
        call(rng)


def test_gcmi_registered_and_reachable_from_api_and_cli(tmp_path, capsys):
    assert mibound.ESTIMATORS["gcmi"] is GaussianCopulaEstimator
    est = mibound.make_estimator("gcmi", n_subsamples=5)
    assert isinstance(est, GaussianCopulaEstimator) and est.n_subsamples == 5
    x, y = mibound.CorrelatedGaussian.from_mi(1.0, 2).sample(2000, seed=0)
    res = mibound.estimate_mi(np.exp(x), y, "gcmi", seed=3)
    assert res.seed == 3 and abs(res.estimate - 1.0) < 0.1
    np.savez(tmp_path / "pair.npz", x=np.exp(x), y=y, true_mi=np.float64(1.0))
    assert main(["estimate", str(tmp_path / "pair.npz"), "--estimator", "gcmi", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["estimator"] == "gcmi" and abs(out["estimate"] - 1.0) < 0.1 and out["diagnostics"] == []


# -- the column report -----------------------------------------------------------------------------

def test_column_report_counts_ties_and_values():
    rng = np.random.default_rng(0)
    n = 1000
    x = np.c_[rng.random(n) < 0.3, rng.integers(0, 7, n), rng.standard_normal(n)].astype(float)
    y = np.c_[rng.standard_normal(n).astype(np.float32)]
    r = column_report(x, y)
    assert r.n == n and [c.name for c in r.columns] == ["x[0]", "x[1]", "x[2]", "y[0]"]
    assert [c.n_distinct for c in r.x] == [2, 7, n]
    assert r.x[0].tie_fraction == 1.0 and r.x[0].resolution == 1.0 and r.x[0].discrete
    assert r.x[2].tie_fraction == 0.0 and not r.x[2].has_ties and not r.x[2].discrete
    assert math.isnan(column_report(np.ones(5), np.arange(5.0)).x[0].resolution)
    assert [c.name for c in r.tied] == ["x[0]", "x[1]"] and [c.name for c in r.discrete] == ["x[0]", "x[1]"]
    assert r.duplicate_rows == 0.0  # x[2] has no ties, so no row can repeat
    json.dumps(r.to_dict())


def test_column_report_duplicate_rows_and_chance_float32_ties():
    rng = np.random.default_rng(1)
    base = rng.standard_normal((10, 3))
    idx = rng.integers(0, 10, 500)
    r = column_report(base[idx, :2], base[idx, 2:])
    assert r.duplicate_rows == 1.0 and all(c.n_distinct == 10 and c.tie_fraction == 1.0 for c in r.columns)
    assert codes_of(r.diagnostics("done")) == ["ties", "discrete_columns"]
    assert "100% of the rows repeat another row" in r.diagnostics("done")[0]["message"]
    # float32 storage repeats a few values by chance: not material, not reported
    z = rng.standard_normal((20_000, 2)).astype(np.float32)
    r = column_report(z[:, :1], z[:, 1:])
    assert 0 < max(c.tie_fraction for c in r.columns) < 0.01
    assert r.diagnostics("done") == []


def test_column_report_names_at_most_six_columns():
    x = np.tile(np.arange(10.0), 3)[:, None] + np.zeros((1, 10))  # 30 rows, 10 columns of 10 values
    msg = column_report(x, np.arange(30.0)).diagnostics("kept")[1]["message"]
    assert msg.startswith("10 column(s) take at most 20 distinct values: x[0] (10 integer values)")
    assert "and 4 more" in msg and DISCRETE_MAX_VALUES == 20


def test_column_report_bad_input():
    with pytest.raises(ValueError, match="same number of samples"):
        column_report(np.zeros((5, 1)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="NaN"):
        column_report(np.full(5, np.nan), np.zeros(5))


@pytest.mark.numerics
def test_the_delta_interval_matches_the_spread_of_replicates():
    """gcmi's ``interval="delta"``: its standard error against 30 independent replicates' spread and half-sampling."""
    sampler = mibound.CorrelatedGaussian.from_mi(2.0, dim=8)
    x, y = sampler.sample(2048, seed=1)
    delta = GaussianCopulaEstimator(interval="delta").fit(x, y).result_
    halves = GaussianCopulaEstimator(n_subsamples=100).fit(x, y).result_
    assert delta.estimate == pytest.approx(halves.estimate, rel=1e-12)  # the same estimate, another interval
    reps = [GaussianCopulaEstimator(n_subsamples=0).fit(*sampler.sample(2048, seed=100 + k)).result_.estimate
            for k in range(30)]
    # measured: delta 0.0390, half-sampling 0.0393, replicates 0.0386 (their sd is itself uncertain by ~13%
    # with 30 values, hence the 30% band)
    assert delta.std == pytest.approx(np.std(reps, ddof=1), rel=0.3)
    assert delta.std == pytest.approx(halves.std, rel=0.3)
    assert delta.ci == pytest.approx((delta.estimate - 1.96 * delta.std, delta.estimate + 1.96 * delta.std))
    assert "delta method" in delta.settings["interval"] and "not its bias" in delta.settings["interval"]
    with pytest.raises(ValueError, match="interval"):
        GaussianCopulaEstimator(interval="bootstrap").fit(x, y)
