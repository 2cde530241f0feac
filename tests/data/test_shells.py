"""Concentric shells: exact MI against a Monte-Carlo log-ratio of the full density (radii and directions)."""

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import gammaln

from mibound.data import ConcentricShells
from mibound.functional.nonparametric import gaussian_plugin_mi


def _log_density_view(v, log_sd):
    """log p(v) of one view: log-normal radius (sd log_sd) times a uniform direction on S^(d-1)."""
    d = v.shape[1]
    r = np.linalg.norm(v, axis=1)
    log_area = math.log(2.0) + 0.5 * d * math.log(math.pi) - gammaln(0.5 * d)  # |S^(d-1)|; 2 points for d = 1
    # p(v) = f_logr(log r) / r / (|S^(d-1)| r^(d-1))
    return stats.norm(0, log_sd).logpdf(np.log(r)) - d * np.log(r) - log_area


def _log_density_joint(x, y, rho, log_sd):
    rx, ry = np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)
    cov = log_sd**2 * np.array([[1.0, rho], [rho, 1.0]])
    lr = stats.multivariate_normal([0, 0], cov).logpdf(np.stack([np.log(rx), np.log(ry)], axis=1))
    area = lambda d: math.log(2.0) + 0.5 * d * math.log(math.pi) - gammaln(0.5 * d)  # noqa: E731
    return lr - x.shape[1] * np.log(rx) - y.shape[1] * np.log(ry) - area(x.shape[1]) - area(y.shape[1])


@pytest.mark.parametrize("dx,dy,mi", [(1, 1, 0.5), (3, 2, 1.0), (10, 5, 2.0)])
def test_mi_matches_a_monte_carlo_log_density_ratio(dx, dy, mi):
    s = ConcentricShells.from_mi(mi, dx, dy, log_sd=0.7)
    assert s.mutual_information() == pytest.approx(mi, rel=1e-12)
    x, y = s.sample(40_000, seed=3, dtype=np.float64)
    terms = _log_density_joint(x, y, s.rho, 0.7) - _log_density_view(x, 0.7) - _log_density_view(y, 0.7)
    se = terms.std(ddof=1) / math.sqrt(terms.size)
    assert abs(terms.mean() - mi) < 4 * se


def test_radii_are_log_normal_directions_uniform_and_views_uncorrelated():
    s = ConcentricShells(3, 3, rho=0.9, log_sd=0.5)
    x, y = s.sample(30_000, seed=0, dtype=np.float64)
    rx, ry = np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)
    assert stats.kstest(np.log(rx), stats.norm(0, 0.5).cdf).pvalue > 1e-3
    assert np.corrcoef(np.log(rx), np.log(ry))[0, 1] == pytest.approx(0.9, abs=0.01)
    u = x / rx[:, None]
    assert np.abs(u.mean(axis=0)).max() < 0.02 and np.abs(np.cov(u, rowvar=False) - np.eye(3) / 3).max() < 0.02
    assert np.abs(np.corrcoef(u[:, 0], rx)[0, 1]) < 0.03
    # x and y are uncorrelated: the Gaussian plug-in sees (almost) nothing of the 0.83 nats
    assert gaussian_plugin_mi(x, y) < 0.01 < s.mutual_information()
    assert gaussian_plugin_mi(np.log(rx)[:, None], np.log(ry)[:, None]) == pytest.approx(s.mutual_information(),
                                                                                         abs=0.03)


def test_one_dimensional_shells_are_signed_and_reproducible():
    s = ConcentricShells(1, 4, rho=0.5)
    x1, y1 = s.sample(1000, seed=8)
    x2, y2 = s.sample(1000, seed=8)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert x1.shape == (1000, s.dim_x) == (1000, 1) and y1.shape == (1000, s.dim_y) == (1000, 4)
    assert 0.45 < (x1 > 0).mean() < 0.55 and np.all(x1 != 0)
    assert "ConcentricShells" in repr(s) and s.mi_standard_error() == 0.0


def test_bad_shells_are_rejected():
    with pytest.raises(ValueError, match="rho must be <"):
        ConcentricShells(2, 2, 1.0)
    with pytest.raises(ValueError, match="log_sd must be >"):
        ConcentricShells(2, 2, 0.5, log_sd=0.0)
    with pytest.raises(ValueError, match="dim_x must be >= 1"):
        ConcentricShells(0, 2, 0.5)
    with pytest.raises(ValueError, match="mi must be"):
        ConcentricShells.from_mi(-1.0, 2, 2)
