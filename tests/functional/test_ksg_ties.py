"""KSG on data with ties: discrete columns, repeated rows, mixtures; the jitter that breaks them."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mibound import KSGEstimator
from mibound.api import estimate_mi
from mibound.functional.nonparametric import jitter_ties, ksg_mi
from mibound.results import codes_of

N = 3000


def discrete_mi(joint: np.ndarray) -> float:
    """Exact MI of a discrete joint probability table."""
    p = joint / joint.sum()
    px, py = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    m = p > 0
    return float((p[m] * np.log(p[m] / (px @ py)[m])).sum())


def booleans(agree, seed, p_x=0.5):
    rng = np.random.default_rng(seed)
    b = rng.random(N) < p_x
    c = np.where(rng.random(N) < agree, b, ~b)
    joint = np.array([[(1 - p_x) * agree, (1 - p_x) * (1 - agree)], [p_x * (1 - agree), p_x * agree]])
    return b.astype(float), c.astype(float), discrete_mi(joint)


def few_integers(dependent, seed):
    """x uniform on 0..4, y = x + u mod 5 with u uniform on 0..2 (MI log 5 - log 3), or y independent."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 5, N)
    if dependent:
        y = (x + rng.integers(0, 3, N)) % 5
        return x.astype(float), y.astype(float), math.log(5) - math.log(3)
    return np.c_[x, rng.integers(0, 3, N)].astype(float), rng.integers(0, 4, N).astype(float), 0.0


def repeated_rows(dependent, seed):
    """10 distinct rows (2 + 1 continuous columns) repeated: MI log 10 when x and y come from the same row."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((10, 3))
    i = rng.integers(0, 10, N)
    j = i if dependent else rng.integers(0, 10, N)
    return base[i, :2], base[j, 2:], math.log(10) if dependent else 0.0


CASES = {
    # drawn with default_rng(0), the jitter's default seed: its noise must not come from the same stream
    "booleans-dependent": lambda: booleans(0.9, 0),
    "booleans-skewed-dependent": lambda: booleans(0.8, 1, p_x=0.2),
    "booleans-independent": lambda: booleans(0.5, 2),
    "integers-dependent": lambda: few_integers(True, 3),
    "integers-independent": lambda: few_integers(False, 4),
    "rows-dependent": lambda: repeated_rows(True, 5),
    "rows-independent": lambda: repeated_rows(False, 6),
}


@pytest.mark.parametrize("case", CASES)
def test_ties_give_the_exact_discrete_mi_not_a_large_negative_value(case):
    x, y, exact = CASES[case]()
    assert ksg_mi(x[:, None] if x.ndim == 1 else x, y[:, None] if y.ndim == 1 else y, ties="keep") < -1.0
    res = KSGEstimator().fit(x, y, true_mi=exact).result_
    assert res.estimate >= -0.05
    assert res.estimate == pytest.approx(exact, abs=0.04)
    assert codes_of(res.diagnostics) == ["ties", "discrete_columns"]
    assert "x[0]" in res.diagnostics[0]["message"] and "noise" in res.diagnostics[0]["message"]


def test_ties_are_handled_the_same_by_both_exact_implementations():
    x, y, _ = repeated_rows(True, 7)
    x = np.c_[x, np.round(x * 3)]  # 4 + 4 dimensions: the bitset path is taken by "auto" at n >= 5000
    y = np.c_[y, np.round(y * 2), y ** 2, np.floor(y)]
    assert ksg_mi(x, y, method="tree") == ksg_mi(x, y, method="bitset")


def test_zero_inflated_mixture():
    """30% of one Gaussian column set to 0: the MI is 0.7 I(Gaussian pair) (the zero flag is independent)."""
    rng = np.random.default_rng(8)
    n, rho = 5000, 0.8
    z = rng.standard_normal((n, 2))
    x, y = z[:, :1].copy(), rho * z[:, :1] + math.sqrt(1 - rho**2) * z[:, 1:]
    x[rng.random(n) < 0.3] = 0.0
    truth = 0.7 * -0.5 * math.log(1 - rho**2)
    res = KSGEstimator().fit(x, y).result_
    assert res.estimate == pytest.approx(truth, abs=0.05)
    assert codes_of(res.diagnostics) == ["ties"]  # 30% of x tied, but 3500 distinct values: not discrete


def test_data_without_ties_are_untouched(rng):
    x = rng.standard_normal((800, 2))
    y = x[:, :1] + rng.standard_normal((800, 1))
    assert ksg_mi(x, y) == ksg_mi(x, y, ties="keep")
    assert KSGEstimator().fit(x, y).result_.diagnostics == []
    # float32 storage repeats a few values by chance: jittered far below the resolution, not reported
    xf, yf = x.astype(np.float32), y.astype(np.float32)
    xf[1] = xf[0]
    res = KSGEstimator().fit(xf, yf).result_
    assert res.diagnostics == [] and res.estimate == pytest.approx(ksg_mi(xf, yf, ties="keep"), abs=0.01)


def test_seed_is_used_and_recorded():
    x, y, _ = booleans(0.9, 9)
    a, b, c = (KSGEstimator(seed=s).fit(x, y).result_ for s in (1, 1, 2))
    assert a.estimate == b.estimate != c.estimate
    assert a.seed == 1 and a.settings["seed"] == 1 and a.settings["ties"] == "jitter"
    assert abs(a.estimate - c.estimate) < 0.06  # the noise adds an sd of about 0.015 nats here
    assert estimate_mi(x, y, "ksg", seed=1).estimate == a.estimate  # the API passes its seed to KSG now


@pytest.mark.parametrize("transform", ["rank", "normal"])
def test_transforms_make_ksg_depend_only_on_ranks(rng, transform):
    x = rng.standard_normal((1000, 2))
    y = x[:, :1] ** 3 + 0.5 * rng.standard_normal((1000, 1))
    base = ksg_mi(x, y, transform=transform)
    assert ksg_mi(np.exp(x), np.arcsinh(y), transform=transform) == base
    assert ksg_mi(np.exp(x), y) != ksg_mi(x, y)  # without a transform KSG is not invariant
    b, c, exact = booleans(0.9, 10)
    assert ksg_mi(b[:, None], c[:, None], transform=transform) == pytest.approx(exact, abs=0.04)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 200), values=st.integers(1, 12),
       scale=st.sampled_from([1e-6, 1.0, 1e6]))
def test_jitter_keeps_order_and_breaks_every_tie(seed, n, values, scale):
    rng = np.random.default_rng(seed)
    a = np.c_[rng.integers(0, values, n) * scale, rng.standard_normal(n), rng.choice([0.0, 0.1, 0.3, 7.0], n)]
    out, names = jitter_ties(a, seed)
    stats_before = [len(np.unique(c)) for c in a.T]
    for j in range(a.shape[1]):
        if stats_before[j] in (1, n):  # constant (refused by KSG later) or tie-free: unchanged
            np.testing.assert_array_equal(out[:, j], a[:, j])
            continue
        assert f"x[{j}]" in names
        assert len(np.unique(out[:, j])) == n
        lo, hi = a[:, j][:, None] < a[:, j][None, :], out[:, j][:, None] < out[:, j][None, :]
        assert np.all(hi[lo])  # distinct values keep their order


@pytest.mark.parametrize("kwargs,match", [
    (dict(ties="drop"), "ties must be one of"),
    (dict(transform="log"), "transform must be None or one of"),
    (dict(seed=-1), "seed must be in"),
])
def test_bad_tie_options(rng, kwargs, match):
    x = rng.standard_normal((50, 1))
    with pytest.raises(ValueError, match=match):
        ksg_mi(x, x + rng.standard_normal((50, 1)), **kwargs)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(ties="drop"), ValueError, "unknown ties 'drop'"),
    (dict(transform="rnak"), ValueError, "did you mean 'rank'"),
    (dict(seed=1.5), TypeError, "seed must be a non-negative int"),
])
def test_bad_estimator_tie_options(rng, kwargs, exc, match):
    x = rng.standard_normal(50)
    with pytest.raises(exc, match=match):
        KSGEstimator(**kwargs).fit(x, x + rng.standard_normal(50))
