"""KSG: the k-d tree and the bitset implementations against a brute-force O(n^2) reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree
from scipy.special import digamma

from mibound.functional.analytic import mi_from_rho
from mibound.functional.boxcount import RankBitsets, ksg_counts_bitset
from mibound.functional.nonparametric import ksg_mi


def brute_ksg(x, y, k):
    """KSG-1 from the full max-norm distance matrices (the definition, O(n^2))."""
    n = len(x)
    dx = np.abs(x[:, None, :] - x[None, :, :]).max(-1)
    dy = np.abs(y[:, None, :] - y[None, :, :]).max(-1)
    eps = np.sort(np.maximum(dx, dy), axis=1)[:, k]  # k-th neighbour, the point itself at index 0
    r = np.nextafter(eps, 0)  # strictly within eps
    nx = (dx <= r[:, None]).sum(1) - 1
    ny = (dy <= r[:, None]).sum(1) - 1
    terms = digamma(k) + digamma(n) - digamma(nx + 1) - digamma(ny + 1)
    return eps, nx, ny, float(terms.mean())


def _pair(n, dx, dy, seed, ties=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dx))
    y = 0.6 * x[:, :1] + 0.8 * rng.standard_normal((n, dy))
    if ties:
        x, y = np.round(x, 1), np.round(y, 1)
    return x, y


@pytest.mark.parametrize("n,dx,dy,k,ties", [(300, 1, 1, 3, False), (400, 5, 3, 2, False), (350, 4, 6, 5, True),
                                            (500, 10, 10, 3, False)])
def test_both_methods_equal_brute_force(n, dx, dy, k, ties):
    x, y = _pair(n, dx, dy, seed=n + dx, ties=ties)
    _, _, _, want = brute_ksg(x, y, k)
    # ties="keep": the counts on tied box edges are what is compared here (the default jitters them away)
    assert ksg_mi(x, y, k=k, standardize=False, method="tree", ties="keep") == want
    assert ksg_mi(x, y, k=k, standardize=False, method="bitset", ties="keep") == want


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), group=st.sampled_from([16, 40, 64]), block=st.integers(3, 70),
       approx=st.sampled_from([0.0, 1.0, 3.0]))
def test_bitset_counts_are_exact_for_any_bound_group_and_block(seed, group, block, approx):
    x, y = _pair(257, 3, 4, seed)
    k = 3
    eps, nx, ny, _ = brute_ksg(x, y, k)
    xy = np.concatenate([x, y], axis=1)
    upper = cKDTree(xy).query(xy, k=k + 1, p=np.inf, eps=approx)[0][:, -1]
    got = ksg_counts_bitset(x, y, k, upper, workers=2, block=block, group=group)
    np.testing.assert_array_equal(got[0], eps)
    np.testing.assert_array_equal(got[1], nx)
    np.testing.assert_array_equal(got[2], ny)


def test_box_bits_membership_matches_the_definition():
    rng = np.random.default_rng(3)
    v = np.round(rng.standard_normal((300, 3)), 1)  # ties on the box edges
    tables = RankBitsets(v, group=16)
    centres, radii = v[:20], np.abs(rng.standard_normal(20)) + np.array([0.0, 0.1] * 10)
    bits = tables.box_bits(centres, radii, np.empty((20, tables.words), np.uint64), tables.scratch(20))
    unpacked = np.unpackbits(bits.astype("<u8").view(np.uint8).reshape(20, -1), axis=1, bitorder="little")[:, :300]
    want = np.abs(v[None, :, :] - centres[:, None, :]).max(-1) <= radii[:, None]
    np.testing.assert_array_equal(unpacked.astype(bool), want)


def test_auto_uses_bitset_in_many_dims_and_agrees_with_the_tree():
    x, y = _pair(5000, 5, 5, seed=1)
    auto = ksg_mi(x, y)
    assert auto == ksg_mi(x, y, method="tree")


def test_close_to_exact_mi_of_a_low_dimensional_gaussian():
    rho, n = 0.8, 4000
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 1))
    y = rho * x + np.sqrt(1 - rho**2) * rng.standard_normal((n, 1))
    truth = mi_from_rho(rho, 1)
    for method in ("tree", "bitset"):
        assert ksg_mi(x, y, method=method) == pytest.approx(truth, abs=0.05)


def test_bad_method():
    x, y = _pair(50, 1, 1, seed=0)
    with pytest.raises(ValueError, match="method must be one of"):
        ksg_mi(x, y, method="kdtree")
