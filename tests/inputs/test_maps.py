"""mibound.inputs.maps: the fast average ranks equal scipy's ``rankdata`` on every kind of column."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtri
from scipy.stats import rankdata

from mibound.inputs.maps import average_ranks, copula_normalize


def _columns(rng, n: int, kinds) -> np.ndarray:
    """One column per kind: continuous (no ties), a few integer values (ties), rounded normals (some ties)."""
    make = {"continuous": lambda: rng.standard_normal(n),
            "few": lambda: rng.integers(0, 3, n).astype(np.float64),
            "rounded": lambda: np.round(rng.standard_normal(n), 1),
            "constant": lambda: np.full(n, 2.5)}
    return np.stack([make[k]() for k in kinds], axis=1) if kinds else np.zeros((n, 0))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 120),
       kinds=st.lists(st.sampled_from(["continuous", "few", "rounded", "constant"]), min_size=1, max_size=5),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_average_ranks_equal_rankdata_with_and_without_ties_property(seed, n, kinds, dtype):
    """Ranks are integers or half-integers, exact in float64: equal bit for bit, whichever path a column takes."""
    a = _columns(np.random.default_rng(seed), n, kinds).astype(dtype)
    got = average_ranks(a)
    assert got.dtype == np.float64 and got.shape == a.shape and got.flags.c_contiguous
    np.testing.assert_array_equal(got, rankdata(a, method="average", axis=0))
    # the normal scores: the same ranks through the same ndtri, so the same floats
    np.testing.assert_array_equal(copula_normalize(a), ndtri(rankdata(a, method="average", axis=0) / (n + 1)))


@pytest.mark.parametrize("column, want", [
    ([3.0, 1.0, 2.0, 10.0], [3, 1, 2, 4]),                      # no ties: the fast path
    ([1.0, 1.0, 5.0, 1.0], [2, 2, 4, 2]),                       # three ties share (1 + 2 + 3) / 3
    ([0.0, -0.0, 1.0, -1.0], [2.5, 2.5, 4, 1]),                 # -0 == 0: a tie
    ([np.inf, -np.inf, 0.0, 1.0], [4, 1, 2, 3]),                # infinities are ordinary values
    ([np.nan, 1.0, 2.0, 3.0], [np.nan] * 4),                    # scipy's nan_policy="propagate"
])
def test_average_ranks_on_explicit_tie_cases(column, want):
    a = np.c_[np.asarray(column), np.arange(4.0)]  # a second, tie-free column beside each case
    got = average_ranks(a)
    np.testing.assert_array_equal(got[:, 0], np.asarray(want, dtype=np.float64))
    np.testing.assert_array_equal(got[:, 1], [1, 2, 3, 4])
    np.testing.assert_array_equal(got, rankdata(a, method="average", axis=0))


def test_average_ranks_of_integer_and_tiny_inputs_follow_rankdata():
    ints = np.array([[3, 1], [1, 1], [2, 7]])
    np.testing.assert_array_equal(average_ranks(ints), rankdata(ints, method="average", axis=0))
    np.testing.assert_array_equal(average_ranks(np.array([[4.0, 2.0]])), [[1.0, 1.0]])
    assert average_ranks(np.zeros((5, 0))).shape == (5, 0)


def test_average_ranks_refuse_other_than_two_dimensions():
    with pytest.raises(ValueError, match="2-D array"):
        average_ranks(np.arange(4.0))


def test_average_ranks_equal_rankdata_on_a_probe_sized_float32_sample(rng):
    """The monitor's case: 2048 rows of float32 codes, where some columns hold a few equal values by chance."""
    a = np.c_[rng.standard_normal((2048, 6)), np.round(rng.standard_normal((2048, 2)), 3)].astype(np.float32)
    np.testing.assert_array_equal(average_ranks(a), rankdata(a, method="average", axis=0))
    np.testing.assert_array_equal(copula_normalize(a), ndtri(rankdata(a, method="average", axis=0) / 2049))
