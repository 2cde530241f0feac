import numpy as np
import pytest
import torch
from hypothesis import settings

# Property tests explore the same examples on every run: CI failures are reproducible, never flaky.
settings.register_profile("mibound", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("mibound")


@pytest.fixture(autouse=True)
def _one_thread():
    """Small critics gain nothing from intra-op threads; keep test timings stable on 2 cores."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_spd(rng, d, jitter=0.1):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + jitter * np.eye(d)


class ExplodingCritic(torch.nn.Module):
    """A bilinear critic whose scores become infinite from call ``after + 1`` on (divergence tests)."""

    def __init__(self, after: int):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(0.1))
        self.after, self.calls = after, 0

    def forward(self, x, y):
        self.calls += 1
        s = self.w * (x @ y.T)
        return s * float("inf") if self.calls > self.after else s
