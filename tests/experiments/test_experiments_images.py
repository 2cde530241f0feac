"""The photograph experiments (patch-distance, color-split) in quick mode, and the spectrum fit."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("skimage")

from mibound.data.images import grf_spectrum  # noqa: E402
from mibound.experiments import EXPERIMENTS, color_split, patch_distance  # noqa: E402
from mibound.experiments.patch_distance import fit_power_law, radial_power_spectrum  # noqa: E402

PD_SMALL = dict(n_pairs=800, distances=(2, 9), steps=60, batch_size=32, photographs=("astronaut", "chelsea", "coffee"))
CS_SMALL = dict(n_patches=800, steps=60, batch_size=32, crop_size=3, photographs=("astronaut", "coffee", "rocket"),
                splits=(("rgb", ("R",), ("G", "B")), ("ycbcr", ("Y",), ("Cb", "Cr")), ("yuv", ("Y",), ("U", "V")),
                        ("hsv", ("H",), ("S", "V"))))


@pytest.fixture(scope="module")
def pd_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("patch")
    return out, patch_distance.run(out, quick=True, progress=False, **PD_SMALL)


@pytest.fixture(scope="module")
def cs_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("color")
    return out, color_split.run(out, quick=True, progress=False, **CS_SMALL)


def test_registered():
    assert EXPERIMENTS["patch-distance"] is patch_distance.run
    assert EXPERIMENTS["color-split"] is color_split.run


def test_patch_distance_files_and_columns(pd_run):
    out, frame = pd_run
    for name in ["patch_distance.csv", "patch_distance_spectrum.csv", "metadata.json", "patch_distance.png",
                 "patch_distance.svg"]:
        assert (out / name).stat().st_size > 0
    csv = pd.read_csv(out / "patch_distance.csv")
    assert {"source", "distance", "estimator", "kind", "estimate", "ci_low", "ci_high", "is_bound", "ceiling",
            "exact_mi", "n_pairs", "n_test", "diagnostics", "alpha"} <= set(csv.columns)
    est = csv[csv["estimator"] != "exact"]
    assert len(est) == 2 * 2 * 2  # (photographs, grf) x 2 distances x (gaussian, infonce)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["units"] == "nats" and meta["settings"]["n_pairs"] == 800
    assert 1.0 < meta["settings"]["alpha_pooled"] < 4.0  # natural images: near 2 (steeper for these smooth ones)
    assert set(meta["settings"]["alpha_per_photograph"]) == set(PD_SMALL["photographs"])


def test_patch_distance_inequalities(pd_run):
    _, frame = pd_run
    exact = frame[frame["estimator"] == "exact"].sort_values("distance")
    assert exact["distance"].tolist() == list(range(1, 10))
    assert np.all(np.diff(exact["estimate"].to_numpy()) < 0)  # exact GRF MI falls with the distance
    nce = frame[frame["estimator"] == "infonce"]
    assert (nce["estimate"] <= nce["ceiling"] + 1e-9).all()  # InfoNCE never above log K
    assert (nce["ceiling"] >= math.log(32) - 1e-9).all()  # log K of the read-out batches
    assert nce["is_bound"].all()
    grf = frame[(frame["source"] == "grf") & (frame["estimator"] != "exact")]
    assert np.allclose(grf["exact_mi"], [exact.set_index("distance").loc[d, "estimate"] for d in grf["distance"]])
    # the Gaussian estimate is consistent on the GRF: near the exact MI once the crops are apart
    g9 = grf[(grf["estimator"] == "gaussian") & (grf["distance"] == 9)].iloc[0]
    assert abs(g9["estimate"] - g9["exact_mi"]) < 0.5
    # the lower bound stays below the exact MI on the GRF (up to its interval)
    for _, row in grf[grf["estimator"] == "infonce"].iterrows():
        assert row["ci_low"] <= row["exact_mi"]


def test_patch_distance_resume_keeps_finished_rows(pd_run, tmp_path):
    out, frame = pd_run
    again = patch_distance.run(out, quick=True, progress=False, resume=True, **PD_SMALL)
    cols = ["source", "distance", "estimator", "estimate", "seconds"]
    pd.testing.assert_frame_equal(again[cols].reset_index(drop=True), frame[cols].reset_index(drop=True))
    # a resumed run with fewer distances reports only its own rows (the file keeps the others)
    fewer = patch_distance.run(out, quick=True, progress=False, resume=True, **{**PD_SMALL, "distances": (2,)})
    assert set(fewer["distance"]) == {1, 2}
    assert len(fewer[fewer["estimator"] != "exact"]) == 2 * 2
    assert len(pd.read_csv(out / "patch_distance.csv")) == len(frame)


def test_spectrum_fit_recovers_grf_alpha():
    """A GRF with a known power-law spectrum: the fitted alpha is the one it was built with."""
    size = 256
    s = grf_spectrum(size, alpha=2.0, f0=1 / 512)
    gen = torch.Generator().manual_seed(0)
    edges = np.geomspace(1 / 64, 1 / 4, 13)
    centres = np.sqrt(edges[1:] * edges[:-1])
    spectra = []
    for _ in range(6):  # one field's fit has sd ~0.1: average six periodograms
        z = torch.randn(size, size, generator=gen, dtype=torch.float64)
        field = torch.fft.ifft2(torch.fft.fft2(z) * torch.as_tensor(np.sqrt(s))).real.numpy()
        spectra.append(radial_power_spectrum(field, edges))
    alpha, _ = fit_power_law(centres, np.mean(spectra, axis=0))
    assert alpha == pytest.approx(2.0, abs=0.12)
    white = radial_power_spectrum(np.random.default_rng(1).normal(size=(200, 300)), edges)
    assert fit_power_law(centres, white)[0] == pytest.approx(0.0, abs=0.15)
    with pytest.raises(ValueError, match="2-D"):
        radial_power_spectrum(np.zeros((2, 3, 4)), edges)


def test_color_split_files_and_inequalities(cs_run):
    out, frame = cs_run
    for name in ["color_split.csv", "metadata.json", "color_split.png", "color_split.svg"]:
        assert (out / name).stat().st_size > 0
    csv = pd.read_csv(out / "color_split.csv")
    assert {"split", "space", "view1", "view2", "dim_x", "dim_y", "estimator", "kind", "estimate", "ci_low",
            "ci_high", "is_bound", "ceiling", "gap_to_ceiling", "diagnostics", "n_test"} <= set(csv.columns)
    assert len(csv) == 4 * 3
    assert set(csv["split"]) == {"rgb: R | GB", "ycbcr: Y | CbCr", "yuv: Y | UV", "hsv: H | SV"}
    assert (csv["dim_x"] == 9).all() and (csv["dim_y"] == 18).all()
    nce = frame[frame["estimator"] == "infonce"]
    assert (nce["estimate"] <= nce["ceiling"] + 1e-9).all()
    assert np.allclose(nce["gap_to_ceiling"], nce["ceiling"] - nce["estimate"])
    # Y | UV is a per-view linear map of Y | CbCr: the Gaussian MI is the same to rounding
    gauss = frame[frame["estimator"] == "gaussian"].set_index("split")["estimate"]
    assert gauss["yuv: Y | UV"] == pytest.approx(gauss["ycbcr: Y | CbCr"], abs=1e-6)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["settings"]["n_patches"] == 800 and meta["units"] == "nats"


def test_patches_are_dequantised_inside_the_unit_cube():
    from mibound.images.photographs import load_photographs

    photos = load_photographs(["chelsea"])
    p = color_split.make_patches(photos, 5, 200, np.random.default_rng(0))
    assert p.shape == (200, 3, 5, 5) and p.min() > 0 and p.max() < 1
    k = np.floor(p * 256)
    assert np.unique(k).size <= 256 and len(np.unique(p)) == p.size  # continuous, on the 8-bit grid


def test_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="did you mean 'lab'"):
        color_split.run(tmp_path, splits=(("lba", ("L",), ("a", "b")),), progress=False)
    with pytest.raises(ValueError, match="unknown channel"):
        color_split.run(tmp_path, splits=(("lab", ("Y",), ("a", "b")),), progress=False)
    with pytest.raises(ValueError, match="estimators must be among"):
        color_split.run(tmp_path, estimators=("ksg",), progress=False)
    with pytest.raises(ValueError, match="non-negative integers"):
        patch_distance.run(tmp_path, distances=(2.5,), progress=False)
    with pytest.raises(TypeError, match="unknown patch-distance setting"):
        patch_distance.run(tmp_path, n_pair=10, progress=False)
    with pytest.raises(ValueError, match="spectrum_band"):
        patch_distance.run(tmp_path, spectrum_band=(0.3, 0.1), progress=False)
