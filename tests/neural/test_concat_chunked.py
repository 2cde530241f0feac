"""The concat critic: chunked (with recomputation) equals unchunked, on single and stacked inputs."""

import pytest
import torch

from mibound.neural.critics import ConcatCritic
from mibound.neural.stacking import stack_modules


def _grads(critic, x, y):
    critic.zero_grad(set_to_none=True)
    s = critic(x, y)
    (s.logsumexp(-1).mean() - s.diagonal(dim1=-2, dim2=-1).mean()).backward()
    return s.detach(), [p.grad.clone() for p in critic.parameters()]


@pytest.mark.numerics
@pytest.mark.parametrize("chunk", [1, 3, 7, 16])
@pytest.mark.parametrize("layers", [1, 2, 3])
def test_chunked_equals_unchunked(chunk, layers):
    torch.manual_seed(0)
    critic = ConcatCritic(3, 5, hidden_dim=16, layers=layers)
    x, y = torch.randn(13, 3), torch.randn(13, 5)
    s_full, g_full = _grads(critic, x, y)
    critic.chunk_size = chunk
    s_chunk, g_chunk = _grads(critic, x, y)
    # no training, only the summation order differs. Measured max |diff| over unset (AVX-512) and
    # ATEN_CPU_CAPABILITY=default (alone and with MKL_CBWR=COMPATIBLE) with seeds shifted by 0-9, and
    # MKL_ENABLE_INSTRUCTIONS=AVX2: scores 1.2e-7, gradients 7.5e-8, >= 17x inside; the same below (6e-8, 1.2e-7)
    torch.testing.assert_close(s_chunk, s_full, atol=1e-6, rtol=1e-5)
    for a, b in zip(g_chunk, g_full):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    with torch.no_grad():  # no recomputation needed without autograd
        torch.testing.assert_close(critic(x, y), s_full, atol=1e-6, rtol=1e-5)


@pytest.mark.numerics
def test_concat_equals_the_mlp_on_concatenated_pairs():
    torch.manual_seed(1)
    critic = ConcatCritic(2, 3, hidden_dim=8, layers=2)
    x, y = torch.randn(4, 2), torch.randn(4, 3)
    w = torch.cat([critic.first_x.weight, critic.first_y.weight], dim=1)
    pairs = torch.cat([x[:, None, :].expand(4, 4, 2), y[None, :, :].expand(4, 4, 3)], dim=-1)
    h = torch.relu(pairs @ w.T + critic.first_y.bias)
    want = critic.rest[1](h).squeeze(-1)
    torch.testing.assert_close(critic(x, y), want, atol=1e-6, rtol=1e-5)


@pytest.mark.numerics
def test_budget_chooses_chunks_and_stacked_runs_match():
    torch.manual_seed(2)
    critics = [ConcatCritic(3, 3, hidden_dim=8) for _ in range(3)]
    stacked = stack_modules(critics)
    x, y = torch.randn(3, 10, 3), torch.randn(3, 10, 3)
    stacked.pair_memory_bytes = 3 * 10 * 8 * 4 * 6 * 3  # three rows of x per chunk
    assert stacked._rows_per_chunk(10, 3, 4) == 3
    s = stacked(x, y)
    s.sum().backward()
    for r, c in enumerate(critics):
        torch.testing.assert_close(s[r], c(x[r], y[r]), atol=1e-6, rtol=1e-5)


def test_memory_stays_bounded_at_large_k():
    """Peak RSS of one forward+backward at K=1024, chunked, measured in a fresh subprocess."""
    from tests._benchmarks import load

    info = load("bench_speed").concat_memory(k=1024, hidden_dim=64)
    assert info["unchunked_activations_mib"] == pytest.approx(768.0)
    assert info["step_mib"] < 0.5 * info["unchunked_activations_mib"], info
    assert info["peak_rss_mib"] < 1024, info
