"""Cross-fitting (``NeuralEstimator(folds=F)``) and the stacked fits of reordered rows (``mibound.estimators.stacked``)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mibound
from mibound.data import CorrelatedGaussian
from mibound.estimators.distributed import DistributedNeuralEstimator
from mibound.estimators.neural import NeuralEstimator
from mibound.estimators.stacked import _Rows, fold_orders
from mibound.neural.batches import ShardedBatchStream
from mibound.neural.selection import selection_record


def _fold_plan(n, folds, validation_fraction=0.1, batch_size=8, seed=2):
    p = dict(batch_size=batch_size, seed=seed, test_fraction=0.2, validation_fraction=validation_fraction,
             eval_batch_size=None, folds=folds)
    return NeuralEstimator.plans(p, n)[0]


@pytest.mark.parametrize("n, folds", [(1003, 4), (500, 2), (211, 3)])
def test_folds_partition_the_non_validation_rows(n, folds):
    plan = _fold_plan(n, folds)
    orders = fold_orders(plan, folds)
    assert len(orders) == folds and orders[0] is None
    parts = {p: plan.part_rows(p) for p in ("train", "validation", "test")}
    outside = set(range(n)) - set(parts["validation"].tolist())
    tests = []
    for order in orders:
        o = np.arange(n) if order is None else order
        assert sorted(o.tolist()) == list(range(n))  # a permutation of the rows
        train, val, test = (set(o[parts[p]].tolist()) for p in ("train", "validation", "test"))
        assert val == set(parts["validation"].tolist())  # every fold chooses on the same rows
        assert not train & test and train | test == outside
        tests.append(test)
    assert all(not a & b for i, a in enumerate(tests) for b in tests[i + 1:])  # each row is read by one critic
    assert len(outside - set().union(*tests)) < folds  # rows left by rounding only train


def test_each_fold_trains_without_its_rows():
    """The streams of reordered_runs (the stacked strategy of fit_critics): run f's training batches never hold a row of fold f, its test batches only them."""
    n, folds = 600, 3
    plan = _fold_plan(n, folds)
    idx = np.arange(n, dtype=np.float32)[:, None]
    orders = fold_orders(plan, folds)
    for order in orders:
        view = idx if order is None else _Rows(idx, order)
        train = ShardedBatchStream(view, view, plan=plan, split="train", check_values=False)
        test = ShardedBatchStream(view, view, plan=plan, split="test", check_values=False)
        seen = {int(v) for s in range(3 * plan.batches_per_epoch("train")) for v in train.batch(s)[0][:, 0]}
        fold = {int(v) for b in range(len(test)) for v in test[b][0][:, 0]}
        assert fold and not seen & fold
        assert len(seen) > 0.9 * plan.sizes["train"]


def test_cross_fitted_estimate():
    x, y = CorrelatedGaussian.from_mi(1.0, dim=2).sample(2400, seed=4)
    est = NeuralEstimator(folds=3, steps=600, progress=False, num_threads=1, seed=1).fit(x, y)
    r = est.result_
    cf = r.settings["cross_fit"]
    assert cf["folds"] == 3 and len(cf["fold_estimates"]) == 3
    assert r.estimate == pytest.approx(np.mean(cf["fold_estimates"]), abs=1e-9)  # equal batches per fold
    assert r.n_test == 3 * 720 and r.n_train == 1440  # 720 rows per fold (n=2400, 240 validation)
    assert len(r.settings["selection"]["selected_step"]) == 3
    assert r.settings["test_fraction"] == pytest.approx(720 / 2400)
    assert 0.75 < r.estimate < 1.0 + 3 * r.std  # a lower bound in expectation, read on held-out rows
    # the fold estimates scatter as held-out readouts of one procedure, not as one number repeated
    assert np.ptp(cf["fold_estimates"]) > 0


def test_folds_one_is_the_single_fit():
    x, y = CorrelatedGaussian.from_mi(0.5, dim=1).sample(800, seed=0)
    a = NeuralEstimator(steps=200, progress=False, num_threads=1).fit(x, y).result_
    b = NeuralEstimator(steps=200, progress=False, num_threads=1, folds=1).fit(x, y).result_
    assert a.estimate == b.estimate and "cross_fit" not in b.settings


def test_folds_bad_input(tmp_path):
    x, y = CorrelatedGaussian.from_mi(0.5, dim=1).sample(800, seed=0)
    with pytest.raises(ValueError, match="folds must be >= 1, got 0"):
        NeuralEstimator(folds=0, progress=False).fit(x, y)
    with pytest.raises(TypeError, match="pass the critic by name"):
        NeuralEstimator(folds=2, critic=mibound.make_critic("separable", 1, 1), progress=False).fit(x, y)
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    np.save(tmp_path / "y.npy", y.astype(np.float32))
    xm, ym = (np.load(tmp_path / f, mmap_mode="r") for f in ("x.npy", "y.npy"))
    with pytest.raises(ValueError, match="memory maps and distributed fits take folds=1"):
        NeuralEstimator(folds=2, progress=False).fit(xm, ym)
    with pytest.raises(ValueError, match="a sampler gives fresh pairs"):
        NeuralEstimator(folds=2, progress=False).fit_sampler(CorrelatedGaussian.from_mi(0.5, dim=1))
    with pytest.raises(ValueError, match="memory maps and distributed fits take folds=1"):
        DistributedNeuralEstimator(folds=2, progress=False, device="cpu").fit(x, y)
    with pytest.raises(ValueError, match="cannot be cut into folds=9"):
        NeuralEstimator.plans(dict(batch_size=2, seed=0, test_fraction=0.2, validation_fraction=0.1,
                                   eval_batch_size=None, folds=9), 8)


def test_selection_record_over_runs():
    hist = {"steps_run": 50, "selected_step": np.array([9, 19]), "selected_value": np.array([1.0, 2.0])}
    rec = selection_record(hist, True, np.ones((2, 3)), np.array([[0.5, 0.7], [0.9, 1.1]]), runs=(0, 1))
    assert rec == {"steps_run": 50, "selected_step": [10, 20], "validation_value": 1.5, "train_value": 1.0,
                   "test_value": pytest.approx(0.8), "learning_rate": None, "candidates": []}
    one = selection_record(hist, False, np.empty(0), np.array([0.5, np.nan]))
    assert one["selected_step"] is None and one["train_value"] is None and one["test_value"] is None


def test_cli_folds(tmp_path, capsys):
    from mibound.cli import main

    x, y = CorrelatedGaussian.from_mi(0.5, dim=1).sample(900, seed=0)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    assert main(["estimate", str(tmp_path / "d.npz"), "--estimator", "infonce", "--folds", "2", "--steps", "100",
                 "--quiet"]) == 0
    assert "per critic, 2 folds cross-fitted" in capsys.readouterr().out
    assert main(["estimate", str(tmp_path / "d.npz"), "--estimator", "gcmi", "--folds", "2"]) == 2
    assert "--folds do not apply to 'gcmi'" in capsys.readouterr().err


@settings(max_examples=30, deadline=None)
@given(n=st.integers(40, 3000), folds=st.integers(2, 6), vf=st.sampled_from([0.0, 0.1, 0.2, 0.3]))
def test_fold_orders_partition_for_any_size(n, folds, vf):
    try:
        plan = _fold_plan(n, folds, validation_fraction=vf, batch_size=2)
    except ValueError as exc:  # too few rows for the batches: refused with the smallest n that works
        assert "too few samples" in str(exc)
        return
    parts = {p: plan.part_rows(p) for p in ("train", "validation", "test")}
    outside = set(range(n)) - set(parts["validation"].tolist())
    tests = [set((np.arange(n) if o is None else o)[parts["test"]].tolist()) for o in fold_orders(plan, folds)]
    assert sum(len(t) for t in tests) == len(set().union(*tests))  # disjoint
    assert set().union(*tests) <= outside and len(outside - set().union(*tests)) < folds
