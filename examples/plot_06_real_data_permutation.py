"""
Real data without ground truth: estimate, agreement, permutation test
=====================================================================

For real data no true MI exists, so no number can be checked against one. What the library can still
say: an estimate (or a lower bound), whether the members of ``auto``'s panel agree, and — with a
permutation test — whether there is any dependence at all. The views here are two halves of the
columns of scikit-learn's wine data (shipped offline): the first 6 measurements against the other 7.
The full gallery of real pairs is ``mibound experiment real-pairs`` (see :doc:`/real-data`).
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_wine

import mibound

data = load_wine(as_frame=True).frame.drop(columns="target")
x, y = data.iloc[:, :6], data.iloc[:, 6:]  # pandas frames keep their column names in the messages
print(x.shape, y.shape)

# %%
# ``auto`` cannot read this pair: its split leaves 36 validation rows for 13 columns, fewer than the 3 rows per
# dimension its Gaussian-copula member needs (``mibound.registry.DOMAINS``), the critic needs hundreds of rows,
# and KSG joins only up to 6 columns. It refuses with each member's reason rather than report a noisy number.
try:
    mibound.estimate_mi(x, y, neural=False, progress=False)
except RuntimeError as exc:
    print(str(exc)[:300], "...")

# %%
# On all 178 rows the Gaussian-copula estimate is in its domain (at least 3 rows per dimension); its interval
# (half-sampling) is wide, as 178 rows make it.
res = mibound.estimate_mi(x, y, estimator="gcmi")
print(res)

# %%
# Is there any dependence? Shuffle the rows of ``y`` 200 times and refit the same estimator: the
# p-value is the share of shuffles reading at least the observed value (Phipson & Smyth 2010).
test = mibound.permutation_test(x, y, estimator="gcmi", n_permutations=200, seed=0, progress=False)
print(test.summary())

# and a pair with no dependence by construction: y's rows shuffled once
null = mibound.permutation_test(x, y.sample(frac=1.0, random_state=1).reset_index(drop=True), estimator="gcmi",
                                n_permutations=200, seed=0, progress=False)
print(null.summary())

# %%
# The observed value against its null distribution, for the real pair and the shuffled one.
fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
for ax, t, title in zip(axes, (test, null), ("wine: 6 vs 7 columns", "the same, y shuffled")):
    ax.hist(t.null, bins=25, color="grey", alpha=0.7, label="shuffled pairs (null)")
    ax.axvline(t.estimate, color="C3", label=f"observed, p = {t.p_value:.3g}")
    ax.set_title(title)
    ax.set_xlabel("gcmi (nats)")
    ax.legend(fontsize=8)
fig.tight_layout()

# %%
# A small p-value says *there is* dependence; it does not say how much. The estimate says how much,
# with an interval — and no ground truth to check it against.
