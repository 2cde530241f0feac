"""mibound experiment contrastive: a small form of --quick writes the monitors' tables, figure, metadata; resumes."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from mibound.experiments import EXPERIMENTS, contrastive

SMALL = dict(steps=40, digits_steps=40, ks=(8, 32), digits_k=32, n_probe=256, hidden=32, out_dim=8,
             augment_rounds=1)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("contrastive")
    return out, contrastive.run(out, quick=True, progress=False, **SMALL)


def test_outputs(small):
    out, frame = small
    for name in ("contrastive.csv", "contrastive_diagnostics.csv", "metadata.json", "contrastive.png",
                 "contrastive.svg"):
        assert (out / name).stat().st_size > 0
    table = pd.read_csv(out / "contrastive.csv")
    assert list(table.columns) == ["views", "K_train", "seed", "step", "quantity", "value", "ci_low", "ci_high",
                                   "kind", "K", "estimator"]
    assert sorted(set(zip(table["views"], table["K_train"]))) == [("digits", 32), ("grf", 8), ("grf", 32)]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["experiment"] == "contrastive" and meta["units"] == "nats" and meta["settings"]["steps"] == 40
    assert "contrastive" in EXPERIMENTS


def test_the_chain_is_recorded(small):
    _, frame = small
    grf = frame[frame["views"] == "grf"]
    views = grf[grf["quantity"] == "mi_views"]
    assert (views["kind"] == "exact").all()
    assert views["value"].to_numpy() == pytest.approx(contrastive.grf_views().mutual_information(), rel=1e-12)
    for k in (8, 32):
        run = grf[grf["K_train"] == k]
        bound = run[run["quantity"] == "train_bound"]
        assert len(bound) == 40 and (bound["value"] <= math.log(k) + 1e-9).all()  # log K - L <= log K, always
        held = run[run["quantity"] == "heldout_bound"]
        assert len(held) == 20 and (held["value"] <= math.log(256) + 1e-9).all()  # K_probe = the 256 probe pairs
    digits = frame[frame["views"] == "digits"]
    acc = digits[digits["quantity"] == "probe_accuracy"]["value"]
    assert len(acc) == 20 and ((acc >= 0) & (acc <= 1)).all()
    assert (digits[digits["quantity"] == "mi_views"]["kind"] != "exact").all()  # no ground truth for digits


def test_resume_skips_finished_runs(small, monkeypatch):
    out, frame = small

    def boom(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(contrastive, "_grf_run", boom)
    monkeypatch.setattr(contrastive, "_digits_run", boom)
    again = contrastive.run(out, quick=True, progress=False, resume=True, **SMALL)
    assert len(again) == len(frame)


def test_unknown_views_raise():
    with pytest.raises(ValueError, match="unknown views"):
        contrastive.run("unused", views=("mnist",))
