import numpy as np
import pytest
from scipy import stats

from mibound.data import MultivariateStudentT, student_t_correction, student_t_mi


def _entropy_mi(scale: np.ndarray, dx: int, df: float) -> float:
    """I = h(x) + h(y) - h(x, y) from scipy's multivariate-t entropies (an independent route)."""
    h = lambda s: stats.multivariate_t(np.zeros(s.shape[0]), s, df=df).entropy()  # noqa: E731
    return h(scale[:dx, :dx]) + h(scale[dx:, dx:]) - h(scale)


@pytest.mark.parametrize("dx,dy,df", [(1, 1, 3.0), (2, 3, 5.0), (4, 1, 1.5), (3, 3, 30.0)])
def test_closed_form_matches_scipy_entropies(dx, dy, df):
    rng = np.random.default_rng(dx * 10 + dy)
    a = rng.standard_normal((dx + dy, dx + dy))
    scale = a @ a.T / (dx + dy) + 0.5 * np.eye(dx + dy)
    assert student_t_mi(scale, dx, df) == pytest.approx(_entropy_mi(scale, dx, df), rel=1e-9, abs=1e-10)


@pytest.mark.parametrize("dx,dy,df,rho", [(1, 1, 3.0, 0.0), (2, 1, 4.0, 0.6)])
def test_closed_form_matches_monte_carlo_log_density_ratio(dx, dy, df, rho):
    scale = np.eye(dx + dy)
    scale[0, dx] = scale[dx, 0] = rho
    s = MultivariateStudentT(scale, dx, df)
    x, y = s.sample(40_000, seed=7, dtype=np.float64)
    joint = stats.multivariate_t(np.zeros(dx + dy), scale, df=df).logpdf(np.concatenate([x, y], 1))
    px = stats.multivariate_t(np.zeros(dx), scale[:dx, :dx], df=df).logpdf(x)
    py = stats.multivariate_t(np.zeros(dy), scale[dx:, dx:], df=df).logpdf(y)
    terms = joint - px.reshape(-1) - py.reshape(-1)
    se = terms.std(ddof=1) / np.sqrt(terms.size)
    assert abs(terms.mean() - s.mutual_information()) < 4 * se


def test_tail_correction_properties():
    assert student_t_correction(3.0, 1, 1) > 0
    assert student_t_correction(1e7, 5, 5) < 1e-5  # Gaussian limit
    # decreasing in the degrees of freedom
    vals = [student_t_correction(df, 2, 3) for df in (1.0, 2.0, 5.0, 20.0)]
    assert all(a > b for a, b in zip(vals, vals[1:]))
    assert student_t_correction(4.0, 2, 3) == pytest.approx(student_t_correction(4.0, 3, 2), rel=1e-14)


def test_sampler_marginals_are_student_t():
    s = MultivariateStudentT.correlated(0.5, 2, df=4.0)
    x, _ = s.sample(20_000, seed=1, dtype=np.float64)
    assert stats.kstest(x[:, 0], stats.t(df=4.0).cdf).pvalue > 1e-3
    # the sampler's MI and its two parts against scipy's entropies (t, and Gaussian for the same scale)
    gauss = stats.multivariate_normal
    hg = lambda c: gauss(np.zeros(len(c)), c).entropy()  # noqa: E731
    sc = s.scale_matrix()
    gaussian_part = hg(sc[:2, :2]) + hg(sc[2:, 2:]) - hg(sc)
    assert s.mutual_information() == pytest.approx(_entropy_mi(sc, 2, 4.0), rel=1e-9)
    assert s.gaussian_part() == pytest.approx(gaussian_part, rel=1e-9)
    assert s.tail_correction() == pytest.approx(_entropy_mi(sc, 2, 4.0) - gaussian_part, rel=1e-7)
    assert "tails" in repr(s) and "-0" not in repr(MultivariateStudentT.correlated(0.0, 1, 3.0))


def test_reproducible_and_bad_input():
    s = MultivariateStudentT.correlated(0.2, 1, df=2.0)
    np.testing.assert_array_equal(s.sample(30, seed=3)[0], s.sample(30, seed=3)[0])
    with pytest.raises(ValueError, match="df must be >"):
        MultivariateStudentT(np.eye(2), 1, 0.0)
    with pytest.raises(ValueError, match="positive definite"):
        MultivariateStudentT(np.ones((2, 2)), 1, 3.0)
