"""The training loop: fused Adam, no host syncs per step, short runs, MINE's branch-free average."""

import math

import torch

from mibound.data.gaussian import CorrelatedGaussian
from mibound.neural.critics import SeparableCritic
from mibound.neural.objectives import Loss
from mibound.neural.engine import SingleRun, logged_steps, make_optimizer, train


def test_logged_steps_for_short_runs():
    assert logged_steps(10, 100).tolist() == [9]
    assert logged_steps(0, 100).tolist() == []
    assert logged_steps(250, 100).tolist() == [99, 199, 249]
    assert logged_steps(200, 100).tolist() == [99, 199]


def test_train_fewer_steps_than_log_every():
    torch.manual_seed(0)
    sampler = CorrelatedGaussian.from_mi(1.0, 3)
    gen = torch.Generator().manual_seed(0)
    hist = train(SingleRun(SeparableCritic(3, 3, hidden_dim=8), Loss("infonce", 3)), lambda s: sampler.sample_torch(8, gen),
                 5, progress=False)
    assert hist["step"].tolist() == [4] and torch.isfinite(hist["value"]).all()


def test_make_optimizer_matches_plain_adam():
    torch.manual_seed(0)
    a = torch.nn.Linear(4, 3)
    b = torch.nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    oa, ob = make_optimizer(a.parameters(), 1e-2), torch.optim.Adam(b.parameters(), lr=1e-2)
    x = torch.randn(16, 4)
    for _ in range(5):
        for m, o in ((a, oa), (b, ob)):
            o.zero_grad()
            m(x).pow(2).sum().backward()
            o.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)


def test_mine_moving_average_starts_then_updates():
    loss = Loss("mine", 2, ema_rate=0.1)
    s1, s2 = torch.randn(5, 5), torch.randn(5, 5)
    from mibound.functional.bounds import log_mean_exp_offdiag

    loss(s1, torch.randn(5, 2))
    torch.testing.assert_close(loss.log_ema, log_mean_exp_offdiag(s1))
    loss(s2, torch.randn(5, 2))
    want = torch.logaddexp(log_mean_exp_offdiag(s1) + math.log(0.9), log_mean_exp_offdiag(s2) + math.log(0.1))
    torch.testing.assert_close(loss.log_ema, want)
