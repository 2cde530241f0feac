"""The training loop: fused Adam, no host syncs per step, short runs, MINE's branch-free average."""

import math
import subprocess
import sys

import pytest
import torch

from mibound.data.gaussian import CorrelatedGaussian
from mibound.neural.critics import SeparableCritic
from mibound.neural.objectives import Loss
from mibound.neural import engine
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


@pytest.mark.numerics
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_make_optimizer_matches_torch_adam(weight_decay):
    """engine.Adam is torch.optim.Adam / AdamW (fused where it can be) through the same functional kernel:
    two groups at their own rates, the same weights and state after 5 steps. Both sides run the same
    kernels on the same inputs on this machine, so the only tolerance is for float32 rounding order
    (measured 0 here; 1e-7 relative leaves room for a kernel that reorders a sum)."""
    torch.manual_seed(0)
    a, b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    groups = lambda m: [{"params": [m.weight], "lr": 1e-2}, {"params": [m.bias], "lr": 3e-3}]  # noqa: E731
    fused = engine._fused_adam_works(a.weight)
    cls = torch.optim.AdamW if weight_decay else torch.optim.Adam
    oa = make_optimizer(groups(a), 1e-2, weight_decay)
    ob = cls(groups(b), lr=1e-2, weight_decay=weight_decay, **({"fused": True} if fused else {}))
    x = torch.randn(16, 4)
    for _ in range(5):
        for m, o in ((a, oa), (b, ob)):
            o.zero_grad()
            m(x).pow(2).sum().backward()
            o.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, atol=0, rtol=1e-7)
        for key in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(oa.state[p][key], ob.state[q][key], atol=0, rtol=1e-7)
    assert [g["lr"] for g in oa.param_groups] == [1e-2, 3e-3]


def test_a_fit_does_not_import_dynamo():
    """The engine's own Adam: constructing a torch.optim optimiser imports torch._dynamo (about 1.3 s on a
    fresh process); a neural fit must not."""
    code = ("import sys, numpy as np, mibound; x = np.random.default_rng(0).normal(size=(1000, 2)); "
            "mibound.estimate_mi(x, x[:, ::-1] + 0.1, estimator='infonce', steps=20, progress=False); "
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


def test_mine_moving_average_starts_then_updates():
    loss = Loss("mine", 2, ema_rate=0.1)
    s1, s2 = torch.randn(5, 5), torch.randn(5, 5)
    from mibound.functional.bounds import log_mean_exp_offdiag

    loss(s1, torch.randn(5, 2))
    torch.testing.assert_close(loss.log_ema, log_mean_exp_offdiag(s1))
    loss(s2, torch.randn(5, 2))
    want = torch.logaddexp(log_mean_exp_offdiag(s1) + math.log(0.9), log_mean_exp_offdiag(s2) + math.log(0.1))
    torch.testing.assert_close(loss.log_ema, want)


def test_flush_denormals_sets_and_restores_the_flag():
    """Inside the block a float32 denormal is flushed to zero; after it the thread's flag is what it was."""
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush denormals")
    assert not engine._denormals_flushed()
    with engine.flush_denormals() as ok:
        assert ok and engine._denormals_flushed()
        assert float(torch.tensor(1e-39, dtype=torch.float32)) == 0.0
    assert not engine._denormals_flushed()
    torch.set_flush_denormal(True)  # a caller who flushes already keeps it
    try:
        with engine.flush_denormals():
            pass
        assert engine._denormals_flushed()
    finally:
        torch.set_flush_denormal(False)


def test_train_flushes_denormals_only_while_it_runs():
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush denormals")
    seen = []

    def batch(step):
        seen.append(engine._denormals_flushed())
        return torch.randn(8, 2), torch.randn(8, 2)

    critic, loss = SeparableCritic(2, 2, hidden_dim=8, layers=1, embed_dim=4), Loss("infonce", 2)
    train(SingleRun(critic, loss), batch, 3, progress=False)
    assert seen == [True, True, True] and not engine._denormals_flushed()
