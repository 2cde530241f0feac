"""ContrastiveMonitor: the chain against exact I(z1; z2) of linear encoders, saturation, bad input, trouble."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch

from mibound.data import CorrelatedGaussian, CorrelatedPairs
from mibound.data.encoders import LinearEncoder, encoded_mi
from mibound.monitor import ContrastiveMonitor, effective_rank, training_bound
from mibound.results import codes_of


def neg_sq_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``-|a_i - b_j|^2``: with two linear maps it holds the optimal critic of a correlated Gaussian."""
    return -torch.cdist(a, b) ** 2


def train_linear(sampler, k: int, out_dim: int, steps: int, every: int, seed: int = 0, lr: float = 0.02, **options):
    """Train two linear encoders by InfoNCE (critic ``-|z1 - z2|^2``) under a monitor; exact I(z1;z2) per checkpoint."""
    torch.manual_seed(seed)
    f1 = torch.nn.Linear(sampler.dim_x, out_dim, bias=False)
    f2 = torch.nn.Linear(sampler.dim_y, out_dim, bias=False)
    opt = torch.optim.Adam([*f1.parameters(), *f2.parameters()], lr=lr)
    mon = ContrastiveMonitor.from_sampler(sampler, n_probe=4096, encoder=(f1, f2), similarity=neg_sq_distance,
                                          every=every, **options)
    gen = torch.Generator().manual_seed(seed + 1)
    exact = []
    for _ in range(steps):
        x, y = sampler.sample_torch(k, gen)
        loss = torch.nn.functional.cross_entropy(neg_sq_distance(f1(x), f2(y)), torch.arange(k))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if mon.update(loss, k=k) is not None:
            w1, w2 = (f.weight.detach().double().numpy() for f in (f1, f2))
            exact.append(encoded_mi(sampler, LinearEncoder(w1), LinearEncoder(w2)))
    return mon, np.array(exact)


def test_chain_holds_and_the_estimate_of_i_z1_z2_matches_the_exact_value_at_every_checkpoint():
    sampler = CorrelatedPairs.from_mi(6.0, 8, decay=0.7)  # a rank-2 encoder keeps about 3.2 of 6 nats
    mon, exact = train_linear(sampler, k=64, out_dim=2, steps=300, every=30)
    assert len(mon.checkpoints) == 10
    assert exact[-1] > exact[0] + 0.1  # training finds the informative directions: I(z1;z2) rises
    for rec, mi in zip(mon.checkpoints, exact):
        # gcmi's interval (the delta method, the monitor's default) covers the exact value up to 0.03 nats;
        # measured over seeds 0-4 x 10 checkpoints (n = 4096, 2 + 2 columns): error in [-0.043, +0.028] nats, at
        # most 0.0011 outside the interval (with 10 half-samples, the former default: 0.006)
        assert rec["mi_codes_ci_low"] - 0.03 <= mi <= rec["mi_codes_ci_high"] + 0.03, (rec["step"], mi, rec)
        # log K - L <= I(z1;z2) <= I(v1;v2), within noise (the window mean of 30 training bounds has its own
        # scatter); measured: it sat at least 0.36 nats below the interval's high end over seeds 0-4
        assert rec["train_bound_window"] <= rec["mi_codes_ci_high"] + 0.05
        assert rec["heldout_bound_ci_low"] <= mi
        assert mi <= rec["mi_views"] + 1e-9
        assert rec["mi_views_kind"] == "exact"
        assert math.isclose(rec["mi_views"], sampler.mutual_information(), rel_tol=1e-12)
    assert "chain_violated" not in codes_of(mon.diagnostics)
    frame = mon.frame()
    assert list(frame.columns) == ["step", "quantity", "value", "ci_low", "ci_high", "kind", "K", "estimator"]
    assert (frame.query("quantity == 'train_bound'")["step"] == np.arange(1, 301)).all()
    assert set(frame["quantity"]) >= {"train_bound", "log_k", "heldout_bound", "mi_codes", "mi_views",
                                      "effective_rank_z1", "effective_rank_z2", "heldout_ceiling"}


@pytest.mark.parametrize("k, fires", [(8, True), (512, False)])
def test_saturation_fires_at_k_8_with_4_nats_and_not_at_k_512(k, fires):
    sampler = CorrelatedGaussian.from_mi(4.0, dim=4)
    mon, exact = train_linear(sampler, k=k, out_dim=4, steps=300 if k == 8 else 150, every=50)
    assert np.allclose(exact, 4.0, atol=1e-6)  # invertible linear codes keep all 4 nats
    sat = [d for d in mon.diagnostics if d["code"] == "saturated"]
    assert bool(sat) is fires
    if fires:
        assert "raise K" in sat[-1]["message"]
        assert mon.diagnostics[-1]["step"] == 300  # still saturated at the end of the run
    else:
        assert mon.checkpoints[-1]["train_bound_window"] < 0.9 * math.log(512)


def test_training_bound_forms_agree():
    torch.manual_seed(0)
    s = torch.randn(16, 16)
    b_scores, k, loss = training_bound(scores=s)
    assert k == 16
    ce = torch.nn.functional.cross_entropy(s, torch.arange(16))
    assert math.isclose(loss, float(ce), rel_tol=1e-6)
    b_loss, _, _ = training_bound(ce, 16)
    assert math.isclose(b_scores, b_loss, rel_tol=1e-6)
    # SimCLR form: positive first, temperature dividing the raw similarities
    logits = torch.randn(8, 15)
    b_logits, k, loss = training_bound(logits=logits, labels=torch.zeros(8, dtype=torch.long), temperature=0.5)
    assert k == 15
    assert math.isclose(loss, float(torch.nn.functional.cross_entropy(logits / 0.5, torch.zeros(8, dtype=torch.long))),
                        rel_tol=1e-6)
    assert math.isclose(b_logits, math.log(15) - loss, rel_tol=1e-12)


def test_effective_rank():
    rng = np.random.default_rng(0)
    assert effective_rank(np.zeros((100, 5))) == 0.0
    assert effective_rank(np.outer(rng.standard_normal(100), rng.standard_normal(5))) < 1.0 + 1e-6
    # white noise in 4 columns on 10^4 rows: singular values equal to about 1%
    assert 3.95 < effective_rank(rng.standard_normal((10_000, 4))) <= 4.0 + 1e-9


def test_bad_set_up_raises_clearly():
    x = np.zeros((100, 3))
    with pytest.raises(ValueError, match="same number of rows"):
        ContrastiveMonitor((x, np.zeros((99, 3))))
    with pytest.raises(TypeError, match="pair"):
        ContrastiveMonitor(x)
    mon = ContrastiveMonitor((x, x), encoder=lambda v: v, every=5)
    with pytest.raises(ValueError, match="K must be >= 2"):
        mon.update(1.0, k=1)
    with pytest.raises(ValueError, match="K is unknown"):
        mon.update(1.0)
    with pytest.raises(ValueError, match="labels"):
        mon.update(logits=torch.zeros(4, 5))
    with pytest.raises(ValueError, match="contradicts"):
        mon.update(1.0, k=8, scores=torch.zeros(4, 4))
    with pytest.raises(ValueError, match="the probe 100 pairs"):
        ContrastiveMonitor((x, x), every=5).checkpoint(embeddings=(np.zeros((50, 2)), np.zeros((50, 2))))
    with pytest.raises(ValueError, match="same number of rows"):
        ContrastiveMonitor(every=5).checkpoint(embeddings=(np.zeros((50, 2)), np.zeros((40, 2))))
    with pytest.raises(ValueError, match="needs the encoder"):  # a probe without an encoder: at the first checkpoint
        probe_only = ContrastiveMonitor((x, x), every=1)
        probe_only.update(1.0, k=4)
    assert ContrastiveMonitor(every=1).update(1.0, k=4) is None  # neither: checkpoints are the caller's
    with pytest.raises(ValueError, match="unknown estimator"):
        ContrastiveMonitor((x, x), estimator="gcmii")
    with pytest.raises(ValueError, match="similarity"):
        ContrastiveMonitor((x, x), similarity="euclid")
    with pytest.raises(ValueError, match="mi_views must be"):
        ContrastiveMonitor((x, x), mi_views="exact")
    with pytest.raises(TypeError, match="mi_views must be a real number"):
        ContrastiveMonitor((x, x), mi_views=(1.0, 2.0))


def test_trouble_during_training_becomes_a_diagnostic_and_a_log_line(caplog):
    rng = np.random.default_rng(0)
    v = rng.standard_normal((512, 4)).astype(np.float32)
    w = (v + 0.5 * rng.standard_normal((512, 4))).astype(np.float32)

    def broken_metric(z1, z2):
        raise RuntimeError("probe classifier failed")

    mon = ContrastiveMonitor((v, w), encoder=lambda t: t, every=2, mi_views=None, metrics={"acc": broken_metric})
    with caplog.at_level(logging.WARNING, logger="mibound.monitor"):
        mon.update(float("nan"), k=16)
        rec = mon.update(2.0, k=16)  # a checkpoint: the metric fails, the rest is read
    assert codes_of(mon.diagnostics) == ["non_finite_loss", "estimate_failed"]
    assert "probe classifier failed" in mon.diagnostics[1]["message"]
    assert any("non_finite_loss" in r.getMessage() for r in caplog.records)
    assert rec["mi_codes"] > 0.5 and math.isfinite(rec["heldout_bound"])
    # NaN embeddings: nothing is read, training goes on
    mon.update(2.0, k=16)
    rec = mon.update(2.0, k=16, encoder=lambda t: t * float("nan"))
    assert "mi_codes" not in rec and codes_of(mon.diagnostics)[-1] == "estimate_failed"
    assert math.isnan(mon.frame().query("quantity == 'train_bound'")["value"].iloc[0])


def test_collapse_and_files(tmp_path):
    rng = np.random.default_rng(1)
    v = rng.standard_normal((400, 3)).astype(np.float32)
    mon = ContrastiveMonitor((v, v + 0.1), encoder=lambda t: t[:, :1] * torch.ones(1, 3), every=3, out=tmp_path)
    for step in range(7):
        mon.update(1.0, k=32)
    mon.close()
    assert "collapse" in codes_of(mon.diagnostics)
    import pandas as pd

    table = pd.read_csv(tmp_path / "monitor.csv")
    assert (table.query("quantity == 'train_bound'")["step"] == np.arange(1, 8)).all()
    assert table.query("quantity == 'mi_codes'")["step"].tolist() == [3, 6, 7]  # close() reads the last step
    assert (tmp_path / "monitor.png").stat().st_size > 0 and (tmp_path / "monitor_diagnostics.csv").exists()


def test_a_held_out_bound_above_i_v1_v2_breaks_the_chain():
    rng = np.random.default_rng(2)
    v = rng.standard_normal((1024, 2)).astype(np.float32)
    w = (v + 0.1 * rng.standard_normal((1024, 2))).astype(np.float32)  # about 4.6 nats shared
    mon = ContrastiveMonitor((v, w), encoder=lambda t: t, similarity=neg_sq_distance, every=1, mi_views=0.5)
    rec = mon.update(1.0, k=16)
    assert rec["heldout_bound_ci_low"] > 0.5
    assert codes_of(mon.diagnostics) == ["chain_violated"]
    assert "above the exact I(v1;v2) = 0.500" in mon.diagnostics[0]["message"]


def test_loss_tensors_are_read_at_the_checkpoint():
    mon = ContrastiveMonitor(every=3)
    for value in (2.0, float("nan"), 1.0):
        mon.update(torch.tensor(value), k=8)
    assert mon.diagnostics == []  # nothing read yet: one read per checkpoint, not one device sync per step
    mon.checkpoint(embeddings=(np.eye(8), np.eye(8)))
    assert codes_of(mon.diagnostics)[0] == "non_finite_loss" and mon.diagnostics[0]["step"] == 2
    bounds = mon.frame().query("quantity == 'train_bound'")["value"].to_numpy()
    assert bounds[0] == pytest.approx(math.log(8) - 2.0, rel=1e-12) and np.isnan(bounds[1])
    assert mon.last_train_bound == pytest.approx(math.log(8) - 1.0, rel=1e-12)


def test_the_held_out_bound_read_in_row_slices_equals_whole_blocks():
    """The built-in similarities score (ROW_SLICE, K_probe) slices; a callable gets whole (K_probe, K_probe) blocks."""
    rng = np.random.default_rng(3)
    z1 = rng.standard_normal((2048, 16)).astype(np.float32)
    z2 = (z1 + 0.5 * rng.standard_normal((2048, 16))).astype(np.float32)

    def cosine(a, b):
        return torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T / 0.2

    got = {}
    for sim in ("cosine", cosine):
        mon = ContrastiveMonitor(similarity=sim, temperature=0.2, mi_views=None, estimator="gaussian")
        rec = mon.checkpoint(embeddings=(z1, z2))
        got[isinstance(sim, str)] = (rec["heldout_bound"], rec["heldout_bound_ci_low"], rec["heldout_bound_ci_high"])
    # float32 scores up to 1/0.2 = 5 in size: the two paths (temperature before or after the product, a slice or the
    # whole block in one matrix product) differ by rounding, measured 2e-8 nats; 1e-6 leaves room for other BLAS
    np.testing.assert_allclose(got[True], got[False], atol=1e-6)
    assert 3.0 < got[True][0] < np.log(1024)  # 3.65 nats read at K = 1024: a real reading, not two zeros


def test_the_per_step_path_checks_k():
    mon = ContrastiveMonitor(every=10)
    with pytest.raises(ValueError, match="K must be >= 2"):
        mon.update(torch.tensor(1.0), k=1)
    with pytest.raises(TypeError, match="K must be an int"):
        mon.update(torch.tensor(1.0), k=2.5)
    mon.update(torch.tensor(1.0), k=np.int64(8))  # a numpy integer takes the checked path
    assert mon.last_k == 8 and mon.last_train_bound == pytest.approx(math.log(8) - 1.0, rel=1e-12)
