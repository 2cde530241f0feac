"""Discrete and mixed samplers: exact MI against entropy formulas, scipy quadrature and Monte Carlo."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from mibound.data import BinnedGaussian, DiscreteJoint, NoisyDiscrete, discrete_mi, entropy


def _assert_plugin_close(a, b, table):
    """The plug-in MI of integer-coded samples is within 4 standard errors (plus its bias) of the table's MI."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    ia, ib = ia.ravel(), ib.ravel()
    counts = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(counts, (ia, ib), 1)
    p = np.asarray(table, float)
    pmi = np.log(p[ia, ib] / (p.sum(1)[ia] * p.sum(0)[ib]))  # pointwise MI under the true table
    se = pmi.std() / math.sqrt(pmi.size)
    bias = (p.shape[0] - 1) * (p.shape[1] - 1) / (2 * pmi.size)
    assert abs(discrete_mi(counts) - discrete_mi(p)) < 4 * se + bias


def test_discrete_mi_formula_and_entropy():
    h_b = lambda p: -p * math.log(p) - (1 - p) * math.log(1 - p)  # noqa: E731
    assert discrete_mi([[0.4, 0.1], [0.1, 0.4]]) == pytest.approx(math.log(2) - h_b(0.2), rel=1e-12)
    assert discrete_mi(np.outer([0.2, 0.8], [0.5, 0.3, 0.2])) == pytest.approx(0.0, abs=1e-15)
    assert discrete_mi(np.eye(5)) == pytest.approx(math.log(5), rel=1e-12)  # y = x: I = H(x)
    assert discrete_mi(3 * np.eye(2)) == pytest.approx(math.log(2))  # normalised
    assert entropy([0.5, 0.5, 0.0]) == pytest.approx(math.log(2))


@pytest.mark.parametrize("k,err", [(2, 0.1), (4, 0.1), (8, 0.2)])
def test_symmetric_channel_closed_form(k, err):
    s = DiscreteJoint.symmetric_channel(k, err)
    closed = math.log(k) + err * math.log(err / (k - 1)) + (1 - err) * math.log(1 - err)
    assert s.mutual_information() == pytest.approx(closed, rel=1e-12)


def test_discrete_samples_follow_the_table():
    table = np.array([[0.3, 0.05, 0.05], [0.02, 0.2, 0.08], [0.1, 0.0, 0.2]])
    s = DiscreteJoint(table, values_x=[-1.0, 0.5, 2.0], values_y=[10.0, 20.0, 30.0])
    x, y = s.sample(200_000, seed=1, dtype=np.float64)
    assert set(np.unique(x)) == {-1.0, 0.5, 2.0} and set(np.unique(y)) == {10.0, 20.0, 30.0}
    counts = np.array([[np.mean((x[:, 0] == a) & (y[:, 0] == b)) for b in (10, 20, 30)] for a in (-1.0, 0.5, 2.0)])
    np.testing.assert_allclose(counts, table, atol=0.004)
    _assert_plugin_close(x, y, table)


def test_one_hot_coding_keeps_the_mi():
    s = DiscreteJoint.symmetric_channel(5, 0.3, one_hot=True)
    x, y = s.sample(50_000, seed=2)
    assert x.shape == (50_000, s.dim_x) == (50_000, 4) and y.shape == (50_000, 4)
    assert np.all(x.sum(axis=1) <= 1) and set(np.unique(x)) == {0.0, 1.0}
    decode = lambda v: np.where(v.any(axis=1), v.argmax(axis=1) + 1, 0)  # noqa: E731  (all zeros: category 0)
    assert np.bincount(decode(x), minlength=5).min() > 9000
    _assert_plugin_close(decode(x), decode(y), s.table)
    # no collinear columns: the sample covariance has full rank
    assert np.linalg.matrix_rank(np.cov(np.concatenate([x, y], axis=1), rowvar=False)) == 8
    np.testing.assert_array_equal(s.sample(20, seed=3)[0], s.sample(20, seed=3)[0])


@pytest.mark.parametrize("values,probs,sd", [([0, 1, 2, 3], None, 0.5), ([-1, 0, 1], [0.2, 0.5, 0.3], 0.3),
                                             ([0, 1], None, 2.0)])
def test_noisy_discrete_matches_scipy_quadrature_and_monte_carlo(values, probs, sd):
    s = NoisyDiscrete(values, probs, noise_sd=sd)
    p = np.full(len(values), 1 / len(values)) if probs is None else np.asarray(probs)
    dens = lambda t: float(np.sum(p * stats.norm.pdf(t, np.asarray(values, float), sd)))  # noqa: E731
    h = integrate.quad(lambda t: -dens(t) * math.log(dens(t)) if dens(t) > 0 else 0.0,
                       min(values) - 12 * sd, max(values) + 12 * sd, limit=400, points=values)[0]
    assert s.mutual_information() == pytest.approx(h - 0.5 * math.log(2 * math.pi * math.e * sd**2), abs=1e-8)
    x, y = s.sample(50_000, seed=4, dtype=np.float64)
    log_py = np.log(np.sum(p * stats.norm.pdf(y, np.asarray(values, float), sd), axis=1))
    terms = stats.norm.logpdf(y[:, 0], x[:, 0], sd) - log_py
    assert abs(terms.mean() - s.mutual_information()) < 4 * terms.std() / math.sqrt(terms.size)


def test_noisy_discrete_dimensions_add_up():
    one, three = NoisyDiscrete([0, 1, 2], noise_sd=0.4), NoisyDiscrete([0, 1, 2], noise_sd=0.4, dim=3)
    assert three.mutual_information() == pytest.approx(3 * one.mutual_information(), rel=1e-12)
    x, y = three.sample(100, seed=0)
    assert x.shape == y.shape == (100, 3) and set(np.unique(x)) <= {0.0, 1.0, 2.0}
    assert NoisyDiscrete([0, 1], noise_sd=1e-3).mutual_information() == pytest.approx(math.log(2), abs=1e-9)


@pytest.mark.parametrize("width", [1.0, 0.25, 3.0])
def test_binning_without_noise_has_mi_equal_to_the_bin_entropy(width):
    s = BinnedGaussian(width)
    k = np.arange(-200, 200)
    p = stats.norm.cdf((k + 1) * width) - stats.norm.cdf(k * width)
    assert s.mutual_information() == pytest.approx(entropy(p), rel=1e-10)
    x, y = s.sample(100_000, seed=5, dtype=np.float64)
    np.testing.assert_array_equal(y, np.floor(x / width))  # a function of x
    _, counts = np.unique(y, return_counts=True)
    assert abs(entropy(counts / counts.sum()) - s.mutual_information()) < 0.01


@pytest.mark.parametrize("width,sd", [(0.5, 0.2), (1.0, 1.0)])
def test_binning_with_noise_matches_a_monte_carlo_log_ratio(width, sd):
    s = BinnedGaussian(width, noise_sd=sd)
    x, y = s.sample(50_000, seed=6, dtype=np.float64)
    x, y = x[:, 0], y[:, 0]
    cond = stats.norm.cdf(((y + 1) * width - x) / sd) - stats.norm.cdf((y * width - x) / sd)
    tot = math.sqrt(1 + sd**2)
    marg = stats.norm.cdf((y + 1) * width / tot) - stats.norm.cdf(y * width / tot)
    terms = np.log(cond) - np.log(marg)
    assert abs(terms.mean() - s.mutual_information()) < 4 * terms.std() / math.sqrt(terms.size)
    assert 0 < s.mutual_information() < BinnedGaussian(width).mutual_information()
    assert BinnedGaussian(width, sd, dim=2).mutual_information() == pytest.approx(2 * s.mutual_information())


def test_bad_discrete_input_is_rejected():
    with pytest.raises(ValueError, match="non-negative"):
        DiscreteJoint([[0.5, -0.1], [0.3, 0.3]])
    with pytest.raises(ValueError, match="all-zero row or column"):
        DiscreteJoint([[0.5, 0.0], [0.5, 0.0]])
    with pytest.raises(ValueError, match="non-empty 2-D"):
        DiscreteJoint([0.5, 0.5])
    with pytest.raises(ValueError, match="distinct"):
        DiscreteJoint(np.eye(2), values_x=[1.0, 1.0])
    with pytest.raises(ValueError, match="needs 2 entries"):
        DiscreteJoint(np.eye(2), values_y=[1.0])
    with pytest.raises(ValueError, match="error must be <"):
        DiscreteJoint.symmetric_channel(3, 1.0)
    with pytest.raises(ValueError, match="at least 2 distinct"):
        NoisyDiscrete([1.0])
    with pytest.raises(ValueError, match="probs must be 2 positive"):
        NoisyDiscrete([0, 1], probs=[1.0, 0.0])
    with pytest.raises(ValueError, match="noise_sd must be >"):
        NoisyDiscrete([0, 1], noise_sd=0.0)
    with pytest.raises(ValueError, match="width must be >"):
        BinnedGaussian(0.0)
    with pytest.raises(ValueError, match="noise_sd must be >="):
        BinnedGaussian(1.0, noise_sd=-1.0)
