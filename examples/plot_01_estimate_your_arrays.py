"""
Estimate the MI of your own arrays and read the result
======================================================

Two arrays with one row per pair go in; one :class:`~mibound.results.EstimateResult` comes out. Here
the arrays come from a sampler whose MI we know (so we can check the answer), pushed through
nonlinear maps so that they no longer look Gaussian — replace ``x`` and ``y`` with your own.
"""

# %%
# Your data: ``x`` of shape ``(n, d_x)``, ``y`` of shape ``(n, d_y)``, row ``i`` of each from the same
# object. The maps below are increasing per column, so they keep the MI at exactly 1.5 nats.
import matplotlib.pyplot as plt
import numpy as np

import mibound

x, y = mibound.CorrelatedGaussian.from_mi(1.5, dim=4).sample(6000, seed=0)
x = np.c_[x[:, :2] ** 3, np.exp(x[:, 2:])]  # skewed, heavy-tailed columns
y = np.tanh(y)

# %%
# One call. ``estimator="auto"`` (the default) splits the rows once into training, validation and
# test rows, runs a small panel (copulas, KSG in low dimension, an InfoNCE critic), chooses on the
# validation rows and reports the chosen member on the test rows. ``steps`` is kept small here.
res = mibound.estimate_mi(x, y, steps=600, progress=False, true_mi=1.5)
print(res)

# %%
# Reading the result
# ------------------
# * ``estimate`` and ``ci``: nats, read on held-out rows, with a 95% interval;
# * ``is_bound``: whether the number is a lower bound in expectation (InfoNCE) or an estimate that can
#   overshoot (the copulas, KSG);
# * ``ceiling``: ``log K`` where the chosen member is InfoNCE — it can never read more than that;
# * ``settings["choice"]`` says which member was chosen and why, ``settings["panel"]`` what every member
#   read and on which rows, ``diagnostics`` what to worry about.
print("estimate", round(res.estimate, 3), "nats, 95% CI", [round(v, 3) for v in res.ci])
print("a lower bound?", res.is_bound)
print("chosen:", res.settings["choice"])
print("diagnostics:", [d["code"] for d in res.diagnostics])
res.to_dict()  # JSON-safe, the same keys for every estimator

# %%
# Every member of the panel, on the same test rows: a figure to judge whether they agree.
panel = {k: v for k, v in res.settings["panel"].items() if v["estimate"] is not None}
names = list(panel)
est = np.array([panel[k]["estimate"] for k in names])
lo = est - np.array([panel[k]["ci"][0] for k in names])
hi = np.array([panel[k]["ci"][1] for k in names]) - est
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.bar(names, est, yerr=[lo, hi], capsize=4,
       color=["C1" if k == res.settings["choice"]["estimator"] else "C0" for k in names])
ax.axhline(1.5, color="k", ls="--", label="true MI (1.5 nats)")
ax.set_ylabel("nats (test rows)")
ax.set_title("auto's panel; the chosen member in orange")
ax.legend()
fig.tight_layout()
