import math

import pytest
import torch

from mibound.data import CorrelatedGaussian
from mibound.neural.critics import GaussianOptimalCritic, SeparableCritic
from mibound.neural.engine import SingleRun, evaluate, make_optimizer, make_scheduler, train
from mibound.neural.objectives import NEURAL_ESTIMATORS, Loss
from mibound.results import TrainingDiverged

from tests.conftest import ExplodingCritic


def _stream(mi=1.0, dim=4, k=32, seed=0):
    s = CorrelatedGaussian.from_mi(mi, dim)
    g = torch.Generator().manual_seed(seed)
    return s, (lambda step: s.sample_torch(k, g))


#: Held-out value after the 300 steps of ``test_every_estimator_trains_and_learns`` (1 nat, d = 4,
#: K = 32 training, 8 evaluation batches of 128): ``(mean, training spread)`` over 12 seeds (seed s
#: for the critic's initialisation, the training stream and the evaluation batches), measured on the
#: current loop at a constant rate. The training spread is the seed-to-seed standard deviation left after removing the
#: evaluation standard error (rms 0.03 nats): sqrt(var over seeds - mean SE^2), rounded up.
TRAINED_AT_1_NAT = {"infonce": (0.906, 0.03), "nwj": (0.780, 0.06), "dv": (0.863, 0.035), "mine": (0.820, 0.035),
                    "tuba": (0.823, 0.07), "js": (0.833, 0.04), "smile": (0.842, 0.035),
                    "alpha_infonce": (0.860, 0.05)}  # alpha_infonce: 8 seeds, sd 0.056, rms SE 0.031


@pytest.mark.parametrize("name", NEURAL_ESTIMATORS)
def test_every_estimator_trains_and_learns(name):
    torch.manual_seed(0)
    sampler, stream = _stream()
    critic = SeparableCritic(4, 4, hidden_dim=32, embed_dim=8)
    loss = Loss(name, 4)
    hist = train(SingleRun(critic, loss), stream, 300, learning_rate=2e-3, log_every=50, lr_schedule="constant",
                 progress=False)
    assert hist["step"].tolist() == [49, 99, 149, 199, 249, 299] and hist["value"].shape == (6, 1)
    assert torch.isfinite(hist["value"]).all()
    vals = evaluate(SingleRun(critic, loss), [sampler.sample_torch(128, torch.Generator().manual_seed(i))
                                              for i in range(8)])[0]
    assert vals.shape == (8,)
    mean, se = float(vals.mean()), float(vals.std()) / math.sqrt(8)  # this run's evaluation SE (~0.03)
    # Two-sided: within 4 combined SEs (evaluation SE and seed-to-seed training spread) of the value
    # the loop reaches, e.g. infonce 0.906 +- 0.18, tuba 0.823 +- 0.30; no seed of the 12 measured was
    # more than 1.9 of these SEs away. A broken loss that learns nothing (~0) or a sign error fails it.
    expected, spread = TRAINED_AT_1_NAT[name]
    assert abs(mean - expected) < 4 * math.hypot(se, spread), (name, mean, se)
    # no readout may overshoot the true 1 nat beyond the noise: the bounds sit below it, and the
    # upward finite-batch bias of the DV-type readouts (dv, mine, smile: log of a mean over the
    # 128 x 127 off-diagonal pairs) is far smaller than 3 SE here (largest of 84 measured runs: 0.97)
    assert mean < 1.0 + 3 * se, (name, mean, se)


def test_train_is_deterministic():
    out = []
    for _ in range(2):
        torch.manual_seed(5)
        _, stream = _stream(seed=1)
        critic = SeparableCritic(4, 4, hidden_dim=16, embed_dim=4)
        out.append(train(SingleRun(critic, Loss("nwj", 4)), stream, 60, log_every=20, progress=False)["value"])
    assert torch.equal(out[0], out[1])


def test_record_every_step():
    _, stream = _stream()
    hist = train(SingleRun(SeparableCritic(4, 4, hidden_dim=8), Loss("infonce", 4)), stream, 7, log_every=3,
                 progress=False, record_every_step=True)
    assert hist["step"].tolist() == list(range(7))


def test_untrainable_critic_is_only_read():
    sampler, stream = _stream(mi=0.5)
    critic = GaussianOptimalCritic(sampler.covariance(), 4)
    hist = train(SingleRun(critic, Loss("infonce", 4)), stream, 50, progress=False, record_every_step=True)
    assert float(hist["value"].mean()) == pytest.approx(0.5, abs=0.1)
    assert float(hist["value"].max()) <= math.log(32)


def test_divergence_names_step_and_last_value():
    _, stream = _stream()
    with pytest.raises(TrainingDiverged, match=r"nwj training diverged: non-finite loss at step 7") as info:
        train(SingleRun(ExplodingCritic(7), Loss("nwj", 4)), stream, 20, log_every=5, progress=False)
    assert info.value.step == 7
    assert info.value.last_finite is not None and math.isfinite(info.value.last_finite)


def test_mine_moving_average_tracks_partition():
    _, stream = _stream()
    loss = Loss("mine", 4, ema_rate=0.5)
    critic = SeparableCritic(4, 4, hidden_dim=8)
    train(SingleRun(critic, loss), stream, 5, progress=False)
    assert torch.isfinite(loss.log_ema)


def test_unknown_loss_name():
    with pytest.raises(ValueError, match="unknown neural estimator"):
        Loss("infonse", 3)


def test_cosine_schedule_decays_to_two_percent():
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
