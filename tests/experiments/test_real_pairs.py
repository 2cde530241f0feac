"""mibound.experiments.real_pairs: the gallery of real view pairs (quick settings)."""

import json

import numpy as np
import pandas as pd
import pytest

from mibound.experiments import EXPERIMENTS, real_pairs

SMALL = dict(pairs=("digits-left-right", "wine-phenolics-rest", "photo-crops-near"), max_rows=1400, photo_rows=300,
             n_permutations=9)


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    out = tmp_path_factory.mktemp("real_pairs")
    return out, EXPERIMENTS["real-pairs"](out=out, quick=True, progress=False, **SMALL)


def test_outputs_and_columns(gallery):
    out, frame = gallery
    assert list(frame["pair"]) == list(SMALL["pairs"])
    for f in ("real_pairs.csv", "real_pairs.png", "real_pairs.svg", "metadata.json", "real_pairs_panels.json"):
        assert (out / f).exists(), f
    on_disk = pd.read_csv(out / "real_pairs.csv")
    assert {"estimate", "ci_low", "ci_high", "chosen", "panel", "diagnostics", "p_value", "null_mean", "null_std",
            "excess", "n_permutations"} <= set(on_disk.columns)
    # the p-values live on the permutation grid {1/10, ..., 1}
    k = frame["p_value"] * (SMALL["n_permutations"] + 1)
    assert np.allclose(k, np.round(k)) and (frame["p_value"] >= 0.1 - 1e-12).all()
    np.testing.assert_allclose(frame["excess"], frame["perm_estimate"] - frame["null_mean"], atol=1e-9)
    digits = frame.set_index("pair").loc["digits-left-right"]
    assert digits["dim_x"] == 32 and digits["n"] == 1400
    # without its critic no member of auto's panel reads the digit halves (gcmi: rank-deficient normal scores; the
    # discrete plug-in: a cell per row): the row says so, with each member's reason, and the test still runs
    assert digits["chosen"] == "refused" and np.isnan(digits["estimate"])
    assert "'gcmi': {" in digits["panel"] and "discrete needs at least 5 rows per cell" in digits["panel"]
    assert np.isfinite(digits["p_value"])
    photo = frame.set_index("pair").loc["photo-crops-near"]  # 300 rows of 9+9 pixels: gcmi's domain
    assert np.isfinite(photo["estimate"]) and photo["chosen"] != "refused"
    panels = json.loads((out / "real_pairs_panels.json").read_text())
    assert set(panels) == set(SMALL["pairs"])
    assert json.loads((out / "metadata.json").read_text())["settings"]["n_permutations"] == 9


def test_resume_skips_finished_pairs(gallery, tmp_path, monkeypatch):
    out, frame = gallery

    def fail(*args, **kwargs):
        raise AssertionError("a finished pair was run again")

    monkeypatch.setattr(real_pairs, "_one", fail)
    again = real_pairs.run(out=out, quick=True, progress=False, resume=True, **SMALL)
    pd.testing.assert_frame_equal(again.reset_index(drop=True), pd.read_csv(out / "real_pairs.csv"))


def test_photo_crops_offsets():
    x, y = real_pairs.photo_crops(50, 3, 0, seed=1)
    assert x.shape == y.shape == (50, 9) and list(x.columns)[:2] == ["x[0,0]", "x[0,1]"]
    np.testing.assert_array_equal(x.to_numpy(), y.to_numpy())  # offset 0: the same patch
    a, b = real_pairs.photo_crops(50, 3, 1, seed=1)
    np.testing.assert_array_equal(a.to_numpy().reshape(50, 3, 3)[:, :, 1:], b.to_numpy().reshape(50, 3, 3)[:, :, :2])


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"unknown pair\(s\) \['digits'\]"):
        real_pairs.run(out=tmp_path, pairs=("digits",), progress=False)
    with pytest.raises(TypeError, match=r"unknown real-pairs setting\(s\) \['rows'\]"):
        real_pairs.run(out=tmp_path, rows=3, progress=False)
    with pytest.raises(ValueError, match="unknown pair 'nope'"):
        real_pairs.load_pair_named("nope", real_pairs.QUICK)
