import math

import numpy as np
import pytest
import torch
from scipy import stats

from mibound import bounds
from mibound.critics import (BilinearCritic, ConcatCritic, GaussianOptimalCritic, SeparableCritic, make_critic)
from mibound.data import CorrelatedGaussian

from .conftest import random_spd


def _xy(k=7, dx=3, dy=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, dx, generator=g), torch.randn(k, dy, generator=g)


@pytest.mark.parametrize("name", ["separable", "bilinear", "concat"])
def test_score_matrix_is_pairwise(name):
    torch.manual_seed(0)
    x, y = _xy()
    critic = make_critic(name, 3, 2, hidden_dim=16).requires_grad_(False)
    s = critic(x, y)
    assert s.shape == (7, 7)
    # S[i, j] = f(x_i, y_j): scoring the single pair (x_i, y_j) gives the same number
    for i, j in [(0, 0), (2, 5), (6, 1)]:
        single = critic(torch.stack([x[i], x[i]]), torch.stack([y[j], y[j]]))[0, 0]
        assert float(single) == pytest.approx(float(s[i, j]), rel=1e-5, abs=1e-6)


def test_poole_defaults():
    c = SeparableCritic(20, 20)
    linears = [m for m in c.g if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [256, 256, 32]
    assert isinstance(c.g[1], torch.nn.ReLU)


def test_concat_split_first_layer_equals_concatenated_mlp():
    torch.manual_seed(1)
    x, y = _xy(5, 3, 2)
    c = ConcatCritic(3, 2, hidden_dim=8)
    w = torch.cat([c.first_x.weight, c.first_y.weight], dim=1)
    pairs = torch.cat([x[:, None, :].expand(5, 5, 3), y[None, :, :].expand(5, 5, 2)], dim=-1)
    h = torch.relu(pairs @ w.T + c.first_y.bias)
    ref = c.rest[1](h).squeeze(-1)
    torch.testing.assert_close(c(x, y), ref)


def test_concat_chunked_equals_unchunked_and_gradients():
    torch.manual_seed(2)
    x, y = _xy(10, 4, 3)
    c = ConcatCritic(4, 3, hidden_dim=8)
    full = c(x, y)
    c.chunk_size = 3
    chunked = c(x, y)
    torch.testing.assert_close(full, chunked)
    chunked.sum().backward()
    g1 = c.first_x.weight.grad.clone()
    c.zero_grad()
    c.chunk_size = None
    c(x, y).sum().backward()
    torch.testing.assert_close(g1, c.first_x.weight.grad)


def test_cosine_separable_scores_are_bounded():
    torch.manual_seed(0)
    x, y = _xy()
    c = SeparableCritic(3, 2, hidden_dim=8, cosine=True, temperature=0.5)
    assert float(c(x, y).detach().abs().max()) <= 2.0 + 1e-5


def test_bilinear_without_hidden_layers_is_bilinear_form():
    torch.manual_seed(0)
    x, y = _xy()
    c = BilinearCritic(3, 2, layers=0, embed_dim=4)
    s1 = c(2 * x, y)
    s0 = c(torch.zeros_like(x), y)
    s = c(x, y)
    torch.testing.assert_close(s1 - s0, 2 * (s - s0))


def test_optimal_critic_is_log_density_ratio(rng):
    cov = random_spd(rng, 5)
    dx = 2
    c = GaussianOptimalCritic(cov, dx)
    z = rng.multivariate_normal(np.zeros(5), cov, size=6)
    x, y = torch.as_tensor(z[:, :dx]), torch.as_tensor(z[:, dx:])
    s = c(x, y).numpy()
    joint = stats.multivariate_normal(np.zeros(5), cov)
    px = stats.multivariate_normal(np.zeros(dx), cov[:dx, :dx])
    py = stats.multivariate_normal(np.zeros(3), cov[dx:, dx:])
    for i, j in [(0, 0), (1, 4), (5, 2)]:
        ref = joint.logpdf(np.r_[z[i, :dx], z[j, dx:]]) - px.logpdf(z[i, :dx]) - py.logpdf(z[j, dx:])
        assert s[i, j] == pytest.approx(ref, rel=1e-9, abs=1e-9)


def test_optimal_critic_infonce_near_truth_for_small_mi_and_pinned_for_large():
    """Known behaviour: close to the truth for MI << log K, stuck just under log K for MI >> log K."""
    k = 256
    g = torch.Generator().manual_seed(0)
    for mi, check in [(0.5, lambda v: abs(v - 0.5) < 0.05), (12.0, lambda v: math.log(k) - 0.2 < v <= math.log(k))]:
        sampler = CorrelatedGaussian.from_mi(mi, 10)
        critic = GaussianOptimalCritic.correlated(sampler.rho, 10)
        vals = [float(bounds.infonce(critic(*sampler.sample_torch(k, g, dtype=torch.float64)))) for _ in range(20)]
        assert check(np.mean(vals)), (mi, np.mean(vals))


def test_optimal_critic_nwj_unbiased():
    """NWJ with the optimal critic 1 + log r is unbiased: E[NWJ] = I for any K."""
    sampler = CorrelatedGaussian.from_mi(1.0, 4)
    critic = GaussianOptimalCritic.correlated(sampler.rho, 4, offset=1.0)
    g = torch.Generator().manual_seed(3)
    vals = [float(bounds.nwj(critic(*sampler.sample_torch(64, g, dtype=torch.float64)))) for _ in range(200)]
    assert np.mean(vals) == pytest.approx(1.0, abs=4 * np.std(vals) / math.sqrt(200))


@pytest.mark.parametrize("call,exc,match", [
    (lambda: make_critic("seperable", 2, 2), ValueError, "did you mean 'separable'"),
    (lambda: make_critic("separable", 2, 2, hiden_dim=3), TypeError, "Valid options"),
    (lambda: SeparableCritic(0, 2), ValueError, "dim_x must be >= 1"),
    (lambda: SeparableCritic(2, 2, temperature=0), ValueError, "temperature must be >"),
    (lambda: ConcatCritic(2, 2, chunk_size=0), ValueError, "chunk_size must be >= 1"),
    (lambda: GaussianOptimalCritic(np.eye(2), 2), ValueError, "dim_x must be in"),
])
def test_bad_critic_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
