import math

import pytest
import torch

from mibound.critics import GaussianOptimalCritic, SeparableCritic
from mibound.data import CorrelatedGaussian
from mibound.results import TrainingDiverged
from mibound.training import NEURAL_ESTIMATORS, Loss, evaluate, train

from .conftest import ExplodingCritic


def _stream(mi=1.0, dim=4, k=32, seed=0):
    s = CorrelatedGaussian.from_mi(mi, dim)
    g = torch.Generator().manual_seed(seed)
    return s, (lambda step: s.sample_torch(k, g))


@pytest.mark.parametrize("name", NEURAL_ESTIMATORS)
def test_every_estimator_trains_and_learns(name):
    torch.manual_seed(0)
    sampler, stream = _stream()
    critic = SeparableCritic(4, 4, hidden_dim=32, embed_dim=8)
    loss = Loss(name, 4)
    hist = train(critic, loss, stream, 300, learning_rate=2e-3, log_every=50, progress=False)
    assert hist["step"].tolist() == [49, 99, 149, 199, 249, 299]
    assert torch.isfinite(hist["value"]).all()
    vals = evaluate(critic, loss, [sampler.sample_torch(128, torch.Generator().manual_seed(i)) for i in range(8)])
    assert vals.shape == (8,)
    assert float(vals.mean()) > 0.4  # from ~0 at initialisation toward the true 1 nat


def test_train_is_deterministic():
    out = []
    for _ in range(2):
        torch.manual_seed(5)
        _, stream = _stream(seed=1)
        critic = SeparableCritic(4, 4, hidden_dim=16, embed_dim=4)
        out.append(train(critic, Loss("nwj", 4), stream, 60, log_every=20, progress=False)["value"])
    assert torch.equal(out[0], out[1])


def test_record_every_step():
    _, stream = _stream()
    hist = train(SeparableCritic(4, 4, hidden_dim=8), Loss("infonce", 4), stream, 7, log_every=3,
                 progress=False, record_every_step=True)
    assert hist["step"].tolist() == list(range(7))


def test_untrainable_critic_is_only_read():
    sampler, stream = _stream(mi=0.5)
    critic = GaussianOptimalCritic(sampler.covariance(), 4)
    hist = train(critic, Loss("infonce", 4), stream, 50, progress=False, record_every_step=True)
    assert float(hist["value"].mean()) == pytest.approx(0.5, abs=0.1)
    assert float(hist["value"].max()) <= math.log(32)


def test_divergence_names_step_and_last_value():
    _, stream = _stream()
    with pytest.raises(TrainingDiverged, match=r"nwj training diverged: non-finite loss at step 7") as info:
        train(ExplodingCritic(7), Loss("nwj", 4), stream, 20, log_every=5, progress=False)
    assert info.value.step == 7
    assert info.value.last_finite is not None and math.isfinite(info.value.last_finite)


def test_mine_moving_average_tracks_partition():
    _, stream = _stream()
    loss = Loss("mine", 4, ema_rate=0.5)
    critic = SeparableCritic(4, 4, hidden_dim=8)
    train(critic, loss, stream, 5, progress=False)
    assert torch.isfinite(loss.log_ema)


def test_unknown_loss_name():
    with pytest.raises(ValueError, match="unknown neural estimator"):
        Loss("infonse", 3)


def test_cosine_schedule_decays_to_two_percent():
    from mibound.training import make_optimizer, make_scheduler

    p = torch.nn.Parameter(torch.zeros(3))
    opt = make_optimizer([p], 1e-3)
    sched = make_scheduler(opt, "cosine", 10)
    rates = []
    for _ in range(10):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert rates[0] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    assert opt.param_groups[0]["lr"] == pytest.approx(2e-5)
    assert make_scheduler(opt, "constant", 10) is None
    with pytest.raises(ValueError, match="unknown lr_schedule 'linear'"):
        make_scheduler(opt, "linear", 10)
