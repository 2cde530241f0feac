"""Every bound against a brute-force loop, plus the laws that hold for any score matrix."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mibound.functional import bounds
from mibound.neural.objectives import OBJECTIVES


def _offdiag(s):
    k = len(s)
    return [s[i][j] for i in range(k) for j in range(k) if i != j]


def brute_infonce(s):
    k = len(s)
    return sum(s[i][i] - math.log(sum(math.exp(s[i][j]) for j in range(k))) for i in range(k)) / k + math.log(k)


def brute_nwj(s):
    k = len(s)
    return sum(s[i][i] for i in range(k)) / k - math.exp(-1) * sum(math.exp(v) for v in _offdiag(s)) / (k * (k - 1))


def brute_dv(s):
    k = len(s)
    return sum(s[i][i] for i in range(k)) / k - math.log(sum(math.exp(v) for v in _offdiag(s)) / (k * (k - 1)))


def brute_tuba(s, a):
    k = len(s)
    joint = sum(s[i][i] - a[i] for i in range(k)) / k
    marg = sum(math.exp(s[i][j] - a[j]) for i in range(k) for j in range(k) if i != j) / (k * (k - 1))
    return 1 + joint - marg


def softplus(v):
    return math.log1p(math.exp(v))


def brute_js(s):
    k = len(s)
    return (sum(-softplus(-s[i][i]) for i in range(k)) / k
            - sum(softplus(v) for v in _offdiag(s)) / (k * (k - 1)))


def brute_smile(s, tau):
    k = len(s)
    clipped = [min(max(v, -tau), tau) for v in _offdiag(s)]
    return sum(s[i][i] for i in range(k)) / k - math.log(sum(math.exp(v) for v in clipped) / (k * (k - 1)))


@pytest.fixture(params=[2, 3, 8])
def scores(request):
    g = torch.Generator().manual_seed(request.param)
    return torch.randn(request.param, request.param, generator=g, dtype=torch.float64) * 2


def test_against_brute_force(scores):
    s = scores.tolist()
    assert float(bounds.infonce(scores)) == pytest.approx(brute_infonce(s), rel=1e-12)
    assert float(bounds.nwj(scores)) == pytest.approx(brute_nwj(s), rel=1e-12)
    assert float(bounds.dv(scores)) == pytest.approx(brute_dv(s), rel=1e-12)
    assert float(bounds.js_fgan(scores)) == pytest.approx(brute_js(s), rel=1e-12)
    assert float(bounds.js_nwj_readout(scores)) == pytest.approx(brute_nwj((scores + 1).tolist()), rel=1e-12)
    assert float(bounds.smile(scores, 1.0)) == pytest.approx(brute_smile(s, 1.0), rel=1e-12)
    assert float(bounds.smile(scores, None)) == pytest.approx(brute_dv(s), rel=1e-12)
    a = torch.linspace(-1, 1, len(s), dtype=torch.float64)
    assert float(bounds.tuba(scores, a)) == pytest.approx(brute_tuba(s, a.tolist()), rel=1e-12)
    assert float(bounds.tuba(scores - 1)) == pytest.approx(brute_nwj(s), rel=1e-12)


def test_mine_surrogate_value_and_gradient(scores):
    s = scores.clone().requires_grad_(True)
    log_ema = torch.tensor(0.3, dtype=torch.float64)
    val = bounds.mine_surrogate(s, log_ema)
    k = len(s)
    off = ~torch.eye(k, dtype=torch.bool)
    expected = s.diagonal().mean() - torch.exp(s[off]).mean() / math.exp(0.3)
    assert float(val.detach()) == pytest.approx(float(expected.detach()), rel=1e-12)
    val.backward()
    # gradient of the partition term is exp(S_ij) / (K(K-1) EMA): DV's with the EMA as denominator
    g_off = s.grad[off]
    np.testing.assert_allclose(g_off.numpy(), -(torch.exp(scores[off]) / (k * (k - 1)) / math.exp(0.3)).numpy(),
                               rtol=1e-10)


finite_scores = st.integers(2, 12).flatmap(
    lambda k: arrays(np.float64, (k, k), elements=st.floats(-60, 60, allow_nan=False)))


@given(finite_scores)
@settings(max_examples=150, deadline=None)
def test_infonce_never_exceeds_log_k(s):
    s = torch.as_tensor(s)
    assert float(bounds.infonce(s)) <= math.log(len(s)) + 1e-9


@given(finite_scores)
@settings(max_examples=150, deadline=None)
def test_dv_at_least_nwj(s):
    """DV >= NWJ for any scores (log z <= z/e for z > 0)."""
    s = torch.as_tensor(s)
    assert float(bounds.dv(s)) >= float(bounds.nwj(s)) - 1e-9 * (1 + abs(float(bounds.nwj(s))))


@given(finite_scores, st.randoms(use_true_random=False))
@settings(max_examples=80, deadline=None)
def test_joint_permutation_invariance(s, rnd):
    s = torch.as_tensor(s)
    k = len(s)
    perm = list(range(k))
    rnd.shuffle(perm)
    p = torch.tensor(perm)
    sp = s[p][:, p]
    for f in (bounds.infonce, bounds.nwj, bounds.dv, bounds.js_fgan, bounds.smile):
        assert float(f(sp)) == pytest.approx(float(f(s)), rel=1e-9, abs=1e-9)


def test_shift_invariance_of_infonce_rows_and_dv():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(6, 6, generator=g, dtype=torch.float64)
    row_shift = torch.randn(6, 1, generator=g, dtype=torch.float64)
    assert float(bounds.infonce(s + row_shift)) == pytest.approx(float(bounds.infonce(s)), rel=1e-12)
    assert float(bounds.dv(s + 3.0)) == pytest.approx(float(bounds.dv(s)), rel=1e-12)


def test_large_scores_do_not_overflow():
    s = torch.full((4, 4), -1e4, dtype=torch.float32)
    s.fill_diagonal_(1e4)
    assert math.isfinite(float(bounds.infonce(s)))
    assert math.isfinite(float(bounds.dv(s)))
    assert math.isfinite(float(bounds.js_fgan(s)))
    assert math.isfinite(float(bounds.smile(s)))


@pytest.mark.parametrize("bad,exc,match", [
    (torch.zeros(3, 4), ValueError, "square"),
    (torch.zeros(1, 1), ValueError, "K >= 2"),
    (torch.zeros(3), ValueError, "square"),
    (np.zeros((3, 3)), TypeError, "torch.Tensor"),
])
def test_bad_scores(bad, exc, match):
    with pytest.raises(exc, match=match):
        bounds.infonce(bad)


def test_tuba_baseline_shape_checked():
    with pytest.raises(ValueError, match="log_baseline must have shape"):
        bounds.tuba(torch.zeros(3, 3), torch.zeros(2))


def test_objectives_table_is_complete():
    assert set(OBJECTIVES) == {"infonce", "nwj", "dv", "mine", "tuba", "js", "smile", "alpha_infonce"}
    assert OBJECTIVES["infonce"].ceiling(64) == pytest.approx(math.log(64))
    assert all(o.ceiling is None for n, o in OBJECTIVES.items() if n != "infonce")


def test_interpolated_bound_is_infonce_at_one_and_tuba_at_zero():
    torch.manual_seed(0)
    s = torch.randn(3, 16, 16, dtype=torch.float64)
    b = torch.randn(3, 16, dtype=torch.float64)
    torch.testing.assert_close(bounds.interpolated_infonce(s, b, alpha=1.0), bounds.infonce(s.transpose(-1, -2)))
    torch.testing.assert_close(bounds.interpolated_infonce(s, b, alpha=0.0), bounds.tuba(s, b))
    mid = bounds.interpolated_infonce(s, b, alpha=0.3)
    assert mid.shape == (3,) and torch.isfinite(mid).all()
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        bounds.interpolated_infonce(s, b, alpha=1.5)


def test_interpolated_bound_passes_log_k_with_the_optimal_critic():
    """The staircase's known behaviour: at 6 nats InfoNCE stays under log K = 4.16 even with the optimal
    critic, while I_alpha (alpha = 0.01, baseline a = 1: the critic is already the log density ratio) is not
    capped there."""
    import mibound
    from mibound.neural.critics import GaussianOptimalCritic

    g = mibound.CorrelatedGaussian.from_mi(6.0, 5)
    critic = GaussianOptimalCritic.correlated(g.rho, 5)
    gen = torch.Generator().manual_seed(0)
    vals = {"infonce": [], "alpha": []}
    for _ in range(200):
        x, y = g.sample_torch(64, gen)
        s = critic(x, y).double()
        vals["infonce"].append(float(bounds.infonce(s)))
        vals["alpha"].append(float(bounds.interpolated_infonce(s, None, 0.01)))
    inf, alp = np.mean(vals["infonce"]), np.mean(vals["alpha"])
    assert inf < math.log(64) < alp < 6.0 + 3 * np.std(vals["alpha"]) / np.sqrt(200)
