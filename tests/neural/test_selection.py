"""The learning-rate race (mibound.neural.selection.RateRace) and its record, on crafted validation values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mibound.neural import engine
from mibound.neural.selection import RateRace, choose_rates


def _run(race: RateRace, reads: list[list[float]], every: int = 100, spread: float = 0.0):
    """Feed ``race`` the validation means ``reads[v][run]`` as train() would: two batches at ``+-spread``,
    in opposite order for odd runs (so the paired differences spread by ``2 * spread``)."""
    best = torch.full((len(reads[0]),), -np.inf, dtype=torch.float64)
    alive = torch.ones(len(reads[0]), dtype=torch.bool)
    for v, means in enumerate(reads):
        m = torch.tensor(means, dtype=torch.float64)
        best = torch.maximum(best, m)
        sign = torch.tensor([1.0 if r % 2 else -1.0 for r in range(len(means))], dtype=torch.float64)
        values = torch.stack([m + sign * spread, m - sign * spread], 1)
        alive &= ~race((v + 1) * every - 1, best.clone(), values, alive.clone())
    return alive


def test_a_run_far_behind_a_climbing_leader_is_dropped_after_the_warm_up_and_says_why():
    race = RateRace([5e-4, 1e-4], groups=1, warmup=300)
    reads = [[0.5, 0.1], [0.8, 0.2], [1.0, 0.3], [1.2, 0.4], [1.3, 0.5]]
    alive = _run(race, reads, spread=0.01)
    assert alive.tolist() == [True, False]
    step, why = race.dropped[1]
    assert step == 300  # the first read at the end of the warm-up, not before
    assert why.startswith("race: behind rate 0.0005") and "the leader improving" in why


def test_a_slow_rate_that_still_climbs_is_kept_while_the_fast_one_has_peaked():
    """The fast rate peaks early and overfits; the slow one trails but improves at every read: kept,
    and once it leads by more than the noise, the stale fast rate is the one dropped."""
    race = RateRace([5e-4, 1e-4], groups=1, warmup=300)
    reads = [[1.0, 0.5], [1.1, 0.7], [1.05, 0.9], [1.0, 1.0], [0.98, 1.15], [0.97, 1.25], [0.96, 1.3]]
    alive = _run(race, reads, spread=0.005)
    assert alive.tolist() == [False, True]
    assert "not improving" in race.dropped[0][1] and race.dropped[0][0] >= 500


def test_runs_within_their_noise_both_continue():
    race = RateRace([5e-4, 1e-4], groups=1, warmup=100)
    reads = [[1.0 + 0.01 * v, 0.99 + 0.01 * v] for v in range(8)]
    alive = _run(race, reads, spread=0.05)  # per-batch spread 0.05: a 0.01 gap is noise
    assert alive.all() and race.dropped == {}


def test_choose_rates_never_picks_a_dropped_run_and_records_every_stop():
    race = RateRace([5e-4, 1e-4], groups=1, warmup=0)
    race.dropped[1] = (300, "race: crafted")
    hist = {"selected_value": torch.tensor([1.0, 2.0], dtype=torch.float64), "selected_step": torch.tensor([99, 299]),
            "stopped_step": torch.tensor([800, 300]), "stop_reason": ["patience", "race"], "steps_run": 800}
    chosen, cands = choose_rates(hist, [5e-4, 1e-4], 1, race)
    assert chosen == [0]
    assert cands[1]["stopped"] == "race: crafted" and cands[1]["stopped_step"] == 300
    assert cands[0]["stopped"] == "patience" and cands[0]["stopped_step"] == 800


def test_train_records_per_batch_validation_and_stops_a_raced_runs_object():
    """engine.train with a race hook: the dropped element stops stepping (its loss repeats), the
    history keeps the per-batch validation values and each run's stop."""
    torch.manual_seed(0)
    crit = [torch.nn.Linear(1, 1) for _ in range(2)]

    class Lin(engine.Runs):
        def __init__(self, m):
            self.m, self.labels = m, ["lin"]

        def modules(self):
            return [self.m]

        def forward(self, x, y):
            loss = ((self.m(x) - y) ** 2).mean()
            return loss.reshape(1), (-loss).detach().reshape(1)

        def report(self, x, y):
            return (-((self.m(x) - y) ** 2).mean()).reshape(1)

    parts = [Lin(c) for c in crit]
    x = torch.randn(32, 1)
    batches = [(x[:16], 2 * x[:16]), (x[16:], 2 * x[16:])]
    drop_second = lambda step, best, values, alive: torch.tensor([False, step >= 19])  # noqa: E731
    h = engine.train(parts, lambda s: (x, 2 * x), 60, log_every=10, progress=False,
                     validate=lambda: engine.evaluate(parts, batches), race=drop_second, learning_rate=1e-2)
    assert h["validation_batches"].shape == (6, 2, 2)
    torch.testing.assert_close(h["validation_value"], h["validation_batches"].mean(2))
    assert h["stopped_step"].tolist() == [60, 20] and h["stop_reason"] == ["steps", "race"]
    assert torch.all(h["loss"][2:, 1] == h["loss"][1, 1])  # stopped at step 20: its record repeats


def test_validation_batches_are_read_by_the_stepping_runs_only():
    """engine.train(validation=...): a Runs the race stopped is not read again; its values repeat."""
    torch.manual_seed(0)

    class Counted(engine.SingleRun):
        reads = 0

        def report(self, x, y):
            self.reads += 1
            return super().report(x, y)

    from mibound.neural.critics import make_critic
    from mibound.neural.objectives import Loss

    parts = [Counted(make_critic("separable", 2, 2, hidden_dim=8, embed_dim=4), Loss("infonce", 2)) for _ in range(2)]
    x = torch.randn(64, 2)
    batches = [(x[:32], x[:32]), (x[32:], x[32:])]
    drop_second = lambda step, best, values, alive: torch.tensor([False, step >= 19])  # noqa: E731
    h = engine.train(parts, lambda s: (x[:16], x[:16]), 60, log_every=10, progress=False, validation=batches,
                     race=drop_second)
    assert parts[0].reads == 6 * 2 and parts[1].reads == 2 * 2  # 6 reads of 2 batches; the second stopped after 2
    torch.testing.assert_close(h["validation_batches"][2:, 1], h["validation_batches"][1:2, 1].expand(4, -1))
    with pytest.raises(ValueError, match="validate or validation"):
        engine.train(parts, lambda s: (x[:16], x[:16]), 2, progress=False, validation=batches, validate=lambda: None)


def test_a_run_behind_a_finished_leader_stops_once_it_stops_improving():
    """The leader stopped by early stopping (alive False, not dropped): a trailing run that still improves is
    kept; once it has not improved for RACE_STALE_READS reads it stops, even within the noise."""
    race = RateRace([5e-4, 1e-4], groups=1, warmup=0)
    spread = 0.05  # a 0.002 gap is far inside the noise: the alive-vs-alive rule would never drop it
    seq = [[0.498, 0.40], [0.498, 0.45], [0.498, 0.496], [0.498, 0.496], [0.498, 0.495]]
    best = torch.full((2,), -np.inf, dtype=torch.float64)
    dropped_at = None
    for v, means in enumerate(seq):
        m = torch.tensor(means, dtype=torch.float64)
        best = torch.maximum(best, m)
        sign = torch.tensor([-1.0, 1.0], dtype=torch.float64)  # paired differences spread by 2 * spread
        values = torch.stack([m + sign * spread, m - sign * spread], 1)
        alive = torch.tensor([v == 0, True])  # the leader finished after the first read
        out = race((v + 1) * 100 - 1, best.clone(), values, alive)
        if bool(out[1]) and dropped_at is None:
            dropped_at = v
    assert dropped_at == 4  # improved at reads 1 and 2; stale at reads 3 and 4
    step, why = race.dropped[1]
    assert step == 500 and "which finished" in why and "not improving" in why
    assert 0 not in race.dropped  # the finished leader is never dropped
