"""MIBoundCallback: runs in a Lightning Trainer on CPU and logs the monitor's keys; one line without the extra."""

from __future__ import annotations

import importlib
import math
import sys

import numpy as np
import pytest
import torch

from mibound.data import CorrelatedGaussian
from mibound.inputs.checks import MissingDependency

pl = pytest.importorskip("lightning.pytorch", reason="lightning is in the test extra: pip install 'mibound[test]'")


class PairModule(pl.LightningModule):
    """A SimCLR-style module: one linear encoder, cosine similarity at temperature 0.2, InfoNCE over the batch."""

    def __init__(self, dim: int, form: str):
        super().__init__()
        self.encoder = torch.nn.Linear(dim, 4)
        self.form = form

    def forward(self, v):
        return self.encoder(v)

    def training_step(self, batch, batch_idx):
        x, y = batch
        z1 = torch.nn.functional.normalize(self(x), dim=1)
        z2 = torch.nn.functional.normalize(self(y), dim=1)
        scores = z1 @ z2.T / 0.2
        loss = torch.nn.functional.cross_entropy(scores, torch.arange(len(x)))
        if self.form == "loss":
            return loss
        return {"loss": loss, "scores": scores.detach()}

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-2)


def loader(sampler, n: int = 256, k: int = 32):
    x, y = sampler.sample(n, seed=1)
    data = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    return torch.utils.data.DataLoader(data, batch_size=k, shuffle=False)


@pytest.mark.parametrize("form", ["loss", "scores"])
def test_fast_dev_run_logs_the_keys(form):
    from mibound.monitor.lightning import LOGGED, MIBoundCallback

    sampler = CorrelatedGaussian.from_mi(2.0, dim=4)
    cb = MIBoundCallback(sampler.sample(1024, seed=99), temperature=0.2, mi_views=sampler)
    trainer = pl.Trainer(fast_dev_run=2, accelerator="cpu", callbacks=[cb], enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(PairModule(4, form), loader(sampler))
    logged = trainer.callback_metrics
    for key in ("train_bound", "log_k", *LOGGED):
        assert f"mibound/{key}" in logged, (key, sorted(logged))
    assert math.isclose(float(logged["mibound/log_k"]), math.log(32), rel_tol=1e-6)
    assert math.isclose(float(logged["mibound/mi_views"]), 2.0, rel_tol=1e-9)
    assert cb.monitor.every == 1 and [r["step"] for r in cb.monitor.checkpoints] == [1, 2]
    assert float(logged["mibound/train_bound"]) <= math.log(32)


def test_the_csv_logger_receives_the_figures(tmp_path):
    from mibound.monitor.lightning import MIBoundCallback

    sampler = CorrelatedGaussian.from_mi(2.0, dim=4)
    cb = MIBoundCallback(sampler.sample(1024, seed=99), temperature=0.2, every=4, out=tmp_path / "mon")
    trainer = pl.Trainer(max_steps=8, accelerator="cpu", callbacks=[cb], logger=pl.loggers.CSVLogger(tmp_path), log_every_n_steps=1,
                         enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(PairModule(4, "loss"), loader(sampler))
    import pandas as pd

    metrics = pd.read_csv(next(tmp_path.glob("lightning_logs/*/metrics.csv")))
    assert metrics["mibound/train_bound"].notna().sum() == 8
    assert metrics["mibound/mi_codes"].dropna().size == 2
    assert (tmp_path / "mon" / "monitor.csv").exists() and (tmp_path / "mon" / "monitor.png").exists()
    assert np.isfinite(metrics["mibound/heldout_bound"].dropna()).all()


def test_without_the_extra_the_import_is_one_clear_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightning", None)  # import lightning -> ImportError
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
    monkeypatch.delitem(sys.modules, "mibound.monitor.lightning", raising=False)
    with pytest.raises(MissingDependency, match=r"^PyTorch Lightning .* is not installed .*pip install 'mibound\[lightning\]'$"):
        importlib.import_module("mibound.monitor.lightning")
    monkeypatch.delitem(sys.modules, "mibound.monitor.lightning", raising=False)


def test_bad_probe_raises_at_construction():
    from mibound.monitor.lightning import MIBoundCallback

    with pytest.raises(ValueError, match="same number of rows"):
        MIBoundCallback((np.zeros((10, 2)), np.zeros((9, 2))))
