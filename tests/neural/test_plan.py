"""mibound.neural.plan: one seeded split and batch order, whatever the data source or the number of processes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mibound
from mibound.neural.batches import ShardedBatchStream
from mibound.neural.plan import FitPlan


def indexed(n: int, dim: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Arrays whose column 0 is the row number (x) and minus it (y)."""
    x = np.zeros((n, dim), dtype=np.float32)
    x[:, 0] = np.arange(n)
    x[:, 1:] = np.random.default_rng(0).normal(size=(n, dim - 1))
    return x, -x


@given(n=st.integers(20, 3000), k=st.integers(1, 40), val=st.sampled_from([0.0, 0.1, 0.25]),
       test=st.sampled_from([0.1, 0.2, 0.5]), seed=st.integers(0, 2**31))
@settings(max_examples=40)
def test_parts_partition_the_rows(n, k, val, test, seed):
    plan = FitPlan(n, k, seed, test_fraction=test, validation_fraction=val)
    sizes = plan.sizes
    assert sum(sizes.values()) == n and sizes["test"] == round(n * test) and sizes["validation"] == round(n * val)
    parts = [set(plan.part_rows(p).tolist()) for p in ("train", "validation", "test")]
    assert [len(s) for s in parts] == [sizes["train"], sizes["validation"], sizes["test"]]
    assert set().union(*parts) == set(range(n))


def test_same_seed_same_split_and_batches_for_arrays_memory_maps_and_ranks(tmp_path):
    x, y = indexed(1003)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    xm, ym = np.load(tmp_path / "x.npy", mmap_mode="r"), np.load(tmp_path / "y.npy", mmap_mode="r")
    k = 16
    plan1 = FitPlan(1003, 2 * k, seed=7, validation_fraction=0.1)
    for part in ("train", "validation", "test"):
        arr = ShardedBatchStream(x, y, plan=plan1, split=part, check_values=False)
        mm = ShardedBatchStream(xm, ym, plan=plan1, split=part)
        for step in range(3):  # arrays and memory maps read the very same batches
            a, b = arr.batch(step), mm.batch(step)
            torch.testing.assert_close(a, b, rtol=0, atol=0)
            np.testing.assert_array_equal(a[0][:, 0].numpy().astype(np.int64), plan1.rows(part, step))
    # two processes of local batch k: their union at every step is the plan's global batch of 2k
    plan2 = FitPlan(1003, k, seed=7, validation_fraction=0.1, world_size=2)
    for part in ("train", "test"):
        streams = [ShardedBatchStream(xm, ym, plan=plan2, split=part, rank=r) for r in range(2)]
        for step in (0, 1, len(streams[0]) + 2 if part == "train" else 2):
            got = np.concatenate([s.batch(step)[0][:, 0].numpy().astype(np.int64) for s in streams])
            np.testing.assert_array_equal(got, plan2.global_rows(part, step))
            assert len(set(got.tolist())) == 2 * k
        # the split itself does not depend on the number of processes (up to the shards' remainder)
        one, two = set(plan1.part_rows(part).tolist()), set(plan2.part_rows(part).tolist())
        assert two <= one and len(one - two) < 2


@pytest.mark.parametrize("n,world,val", [(500, 1, 0.0), (1200, 2, 0.0), (600, 1, 0.1), (1500, 3, 0.2)])
def test_plan_check_names_the_smallest_n(n, world, val):
    import re

    with pytest.raises(ValueError, match=r"too few samples: got n=\d+.*needs at least") as info:
        FitPlan(n, 64, world_size=world, validation_fraction=val).check(validation_batches=1 if val else 0)
    need = int(re.search(r"needs at least (\d+)", str(info.value)).group(1))
    FitPlan(need, 64, world_size=world, validation_fraction=val).check(validation_batches=1 if val else 0)
    with pytest.raises(ValueError, match="too few samples"):  # the bound is tight up to the rounding of the parts
        FitPlan(int(need * 0.98), 64, world_size=world, validation_fraction=val).check(
            validation_batches=1 if val else 0)
    if world == 1 and not val:
        assert need == 640  # the message the estimators always gave: 2 x 64 / 0.2
    with pytest.raises(ValueError, match="validation batches"):
        FitPlan(1000, 64, validation_fraction=0.05).check(validation_batches=1)


@pytest.mark.parametrize("kwargs,match", [
    (dict(test_fraction=0.0), "test_fraction"), (dict(test_fraction=1.0), "test_fraction"),
    (dict(validation_fraction=-0.1), "validation_fraction"), (dict(validation_fraction=0.5, test_fraction=0.5),
                                                              "must be below 1"),
    (dict(world_size=0), "world_size"), (dict(seed=-1), "seed"),
])
def test_plan_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FitPlan(100, 4, **kwargs)


def test_plan_rows_bad_step():
    plan = FitPlan(100, 10)
    with pytest.raises(IndexError, match="out of range"):
        plan.rows("test", 2)
    with pytest.raises(ValueError, match="did you mean 'test'"):
        plan.rows("tset", 0)


class RowRecorder(torch.nn.Module):
    """A trainable bilinear critic that records the row numbers (column 0) it sees, by mode."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(0.01))
        self.seen = {True: set(), False: set()}

    def forward(self, x, y):
        self.seen[self.training] |= set(x[:, 0].to(torch.int64).tolist())
        return self.w * (x[:, 1:] @ y[:, 1:].T)


@pytest.mark.parametrize("mmap", [False, True])
def test_training_never_reads_a_held_out_row(tmp_path, mmap):
    x, y = indexed(900)
    y[:, 1:] = x[:, 1:] + 0.5 * np.random.default_rng(1).normal(size=(900, 2))  # some dependence to learn
    y[:, 0] = np.random.default_rng(2).permutation(900)  # the critic reads x's row number only (a column shared
    if mmap:                                              # by both views would make the MI infinite: refused)
        np.save(tmp_path / "x.npy", x)
        np.save(tmp_path / "y.npy", y)
        x, y = np.load(tmp_path / "x.npy", mmap_mode="r"), np.load(tmp_path / "y.npy", mmap_mode="r")
    critic = RowRecorder()
    est = mibound.NeuralEstimator(critic=critic, batch_size=20, steps=120, seed=3, progress=False, log_every=40,
                                  preprocess="none", patience=None)  # column 0 must stay the row number
    est.fit(x, y)
    plan = FitPlan(900, 20, seed=3, validation_fraction=0.1)
    rows = {p: set(plan.part_rows(p).tolist()) for p in ("train", "validation", "test")}
    assert critic.seen[True] and critic.seen[True] <= rows["train"]  # 120 steps: more than one epoch of 31
    assert len(critic.seen[True]) > 0.9 * len(rows["train"])
    # evaluation mode reads every validation and test row (and a few training batches for the gap)
    assert rows["validation"] | rows["test"] <= critic.seen[False] <= rows["validation"] | rows["test"] | rows["train"]
    assert est.result_.n_test == len(rows["test"]) == 180
