"""
Which bound should I use? A small staircase
===========================================

The staircase of Poole et al. (2019): the true MI steps up, and each bound is trained on fresh
samples at every level. InfoNCE has low variance but can never exceed ``log K``; NWJ is unbiased in
principle but its variance grows like ``e^I``; SMILE clips the density ratio and follows the staircase.
The full experiment is ``mibound experiment staircase`` (see :doc:`/which-bound`); this is a quick
version (fewer steps, ``d = 5``).
"""

import math

import matplotlib.pyplot as plt

import mibound

K = 64
levels = [1.0, 3.0, 5.0, 7.0]
estimators = ["infonce", "nwj", "smile"]
rows = []
for mi in levels:
    sampler = mibound.CorrelatedGaussian.from_mi(mi, dim=5)
    for name in estimators:
        fit = mibound.NeuralEstimator(name, batch_size=K, steps=400, eval_batches=16, progress=False,
                                      seed=0).fit_sampler(sampler)
        r = fit.result_
        rows.append((mi, name, r.estimate, r.ci))
        print(f"true {mi:.0f} nats  {name:8s} {r.estimate:7.3f}  [{r.ci[0]:.3f}, {r.ci[1]:.3f}]")

# %%
# Each bound against the truth. The dashed line is ``log K``, InfoNCE's ceiling.
fig, ax = plt.subplots(figsize=(6, 4))
for i, name in enumerate(estimators):
    pts = [(m, e, c) for m, n, e, c in rows if n == name]
    ax.errorbar([m + 0.12 * (i - 1) for m, _, _ in pts], [e for _, e, _ in pts],
                yerr=[[e - c[0] for _, e, c in pts], [c[1] - e for _, e, c in pts]], fmt="o-", capsize=3,
                label=name)
ax.plot(levels, levels, "k-", lw=1, label="true MI")
ax.axhline(math.log(K), color="grey", ls="--", label=f"log K = {math.log(K):.2f}")
ax.set_xlabel("true MI (nats)")
ax.set_ylabel("estimate on held-out batches (nats)")
ax.legend()
fig.tight_layout()

# %%
# Try it: set ``K = 512`` and watch InfoNCE's ceiling (and its estimates) rise; add ``"mine"`` or
# ``"js"`` to ``estimators``.
