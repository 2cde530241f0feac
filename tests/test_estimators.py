import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

import mibound
from mibound import CorrelatedGaussian, GaussianOptimalCritic, NeuralEstimator, estimate_mi, make_estimator


@pytest.fixture(scope="module")
def gauss_1nat():
    s = CorrelatedGaussian.from_mi(1.0, 2)
    return s, *s.sample(4000, seed=0)


def test_trained_infonce_converges_near_small_known_mi(gauss_1nat):
    _, x, y = gauss_1nat
    res = estimate_mi(x, y, "infonce", steps=600, batch_size=64, progress=False, true_mi=1.0,
                      critic_options={"hidden_dim": 64}, learning_rate=2e-3)
    assert res.estimate == pytest.approx(1.0, abs=0.2)
    assert res.ci[0] < res.estimate < res.ci[1]
    assert res.ceiling == pytest.approx(math.log(64))
    assert res.true_mi == 1.0 and res.error == pytest.approx(res.estimate - 1.0)
    assert res.n_train == 3200 and res.n_test == 768
    assert res.history["step"][-1] == 599


@pytest.mark.parametrize("name", ["nwj", "smile", "js"])
def test_other_bounds_converge_near_small_known_mi(gauss_1nat, name):
    _, x, y = gauss_1nat
    res = estimate_mi(x, y, name, steps=600, progress=False, critic_options={"hidden_dim": 64},
                      learning_rate=2e-3)
    assert res.estimate == pytest.approx(1.0, abs=0.3)
    assert res.ceiling is None


def test_fit_sampler_uses_fresh_data_and_knows_truth():
    s = CorrelatedGaussian.from_mi(0.5, 2)
    est = NeuralEstimator("infonce", steps=300, batch_size=32, eval_batches=10, progress=False,
                          critic_options={"hidden_dim": 32}, learning_rate=2e-3).fit_sampler(s)
    assert est.result_.true_mi == pytest.approx(0.5)
    assert est.result_.n_test == 320
    assert est.estimate_ == pytest.approx(0.5, abs=0.2)


def test_optimal_critic_needs_no_training():
    s = CorrelatedGaussian.from_mi(2.0, 20)
    est = NeuralEstimator("infonce", critic=GaussianOptimalCritic(s.covariance(), 20), steps=0,
                          eval_batches=100, progress=False).fit_sampler(s)
    # the bound's own looseness at K = 64 and 2 nats: about 0.2 nats under the truth
    assert 1.7 < est.estimate_ < 2.0
    assert est.history_["step"] == []


def test_same_seed_same_numbers_different_seed_different(gauss_1nat):
    _, x, y = gauss_1nat
    kw = dict(steps=50, progress=False, critic_options={"hidden_dim": 16})
    a = estimate_mi(x, y, seed=3, **kw)
    b = estimate_mi(x, y, seed=3, **kw)
    c = estimate_mi(x, y, seed=4, **kw)
    assert a.estimate == b.estimate and a.history == b.history
    assert a.estimate != c.estimate
    assert a.seed == 3 and a.settings["seed"] == 3


@pytest.mark.parametrize("convert", [
    lambda a: a,
    lambda a: torch.as_tensor(a),
    lambda a: pd.DataFrame(a),
    lambda a: a.tolist(),
])
def test_input_types(gauss_1nat, convert):
    _, x, y = gauss_1nat
    res = estimate_mi(convert(x), convert(y), "gaussian")
    assert res.estimate == pytest.approx(1.0, abs=0.1)


def test_one_dimensional_input_is_one_column(rng):
    x = rng.standard_normal(2000)
    y = x + rng.standard_normal(2000)
    res = estimate_mi(x, y, "gaussian", n_subsamples=0)
    assert res.estimate == pytest.approx(0.5 * math.log(2), abs=0.05)
    assert res.ci == (res.estimate, res.estimate)


def test_result_is_json_safe_and_same_shape_for_all_estimators(gauss_1nat):
    _, x, y = gauss_1nat
    keys = None
    for name in ["gaussian", "ksg", "infonce"]:
        opts = {"steps": 20, "progress": False} if name == "infonce" else {}
        d = json.loads(json.dumps(estimate_mi(x[:1000], y[:1000], name, **opts).to_dict()))
        assert d["units"] == "nats"
        keys = keys or set(d)
        assert set(d) == keys


def test_estimator_params_stored_unchanged():
    est = NeuralEstimator("smile", batch_size=16, clip=2.0)
    params = est.get_params()
    assert params["estimator"] == "smile" and params["clip"] == 2.0 and params["batch_size"] == 16
    with pytest.raises(RuntimeError, match="not fitted"):
        est.estimate_


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(estimator="infonse"), ValueError, "did you mean 'infonce'"),
    (dict(critic="concatt"), ValueError, "did you mean 'concat'"),
    (dict(batch_size=1), ValueError, "batch_size must be >= 2"),
    (dict(steps=-1), ValueError, "steps must be >= 0"),
    (dict(steps=1.5), TypeError, "steps must be an int"),
    (dict(learning_rate=0.0), ValueError, "learning_rate must be >"),
    (dict(test_fraction=1.0), ValueError, "test_fraction must be <"),
    (dict(seed=-1), ValueError, "seed must be in"),
    (dict(clip=-1.0), ValueError, "clip must be >"),
    (dict(criticc="separable"), TypeError, "unknown option"),
    (dict(lr_schedule="step"), ValueError, "unknown lr_schedule 'step'"),
    (dict(estimator="ksg", k=0), ValueError, "k must be >= 1"),
    (dict(estimator="ksg", batch_size=32), ValueError, "only apply to neural"),
])
def test_bad_options(gauss_1nat, kwargs, exc, match):
    _, x, y = gauss_1nat
    kwargs.setdefault("progress", False)
    if kwargs.get("estimator") == "ksg":
        kwargs.pop("progress")
    with pytest.raises(exc, match=match):
        estimate_mi(x, y, **kwargs)


@pytest.mark.parametrize("x,y,exc,match", [
    (np.full((100, 2), np.nan), np.zeros((100, 2)), ValueError, "NaN"),
    (np.r_[np.zeros((99, 2)), [[np.inf, 0]]], np.zeros((100, 2)), ValueError, "inf"),
    (np.zeros((100, 2)), np.zeros((99, 2)), ValueError, "same number of samples"),
    (np.zeros((10, 2, 2)), np.zeros((10, 2)), ValueError, "3 dimensions"),
    (np.array([["a", "b"]] * 10), np.zeros((10, 1)), TypeError, "string"),
    (np.array([[1, None]] * 10, dtype=object), np.zeros((10, 1)), TypeError, "object array"),
    (np.zeros((0, 2)), np.zeros((0, 2)), ValueError, "empty"),
    (np.full((100, 1), 1e30), np.zeros((100, 1)), ValueError, "rescale"),
    (None, np.zeros((3, 1)), TypeError, "x is None"),
])
def test_bad_data(x, y, exc, match):
    with pytest.raises(exc, match=match):
        estimate_mi(x, y, steps=1, progress=False)


def test_too_few_samples_for_batch_and_held_out_split(gauss_1nat):
    _, x, y = gauss_1nat
    with pytest.raises(ValueError, match=r"too few samples: got n=500.*needs at least 640"):
        estimate_mi(x[:500], y[:500], batch_size=64, progress=False)


def test_make_estimator_routes_options():
    assert isinstance(make_estimator("nwj", steps=3), NeuralEstimator)
    assert make_estimator("ksg", k=5).k == 5
    assert set(mibound.ESTIMATORS) == {"infonce", "nwj", "dv", "mine", "tuba", "js", "smile", "gaussian", "ksg", "flow",
                                       "doe"}
