"""
Images as views and the conv critic
===================================

Arrays of images, ``(n, H, W)`` or channel-first ``(n, C, H, W)``, go straight into
:func:`~mibound.api.estimate_mi`. Neural estimators then train a convolutional critic (``critic="auto"``),
which reads the pixel grid; the other estimators flatten the pixels and say so in ``diagnostics``.
Here the views are two channel groups of one random image (the "L vs ab" colour split of InfoMin),
whose MI is exact, and we compare the conv critic with the MLP critic at the same steps and ``K``.
"""

import math

import matplotlib.pyplot as plt

import mibound
from mibound.data import ChannelSplitViews
from mibound.neural.critics import GaussianOptimalCritic

views = ChannelSplitViews(rho=0.3)
v1, v2 = views.sample(4, seed=0)
print("view shapes:", v1.shape, v2.shape, " exact MI:", round(views.mutual_information(), 3), "nats")

# %%
# Three InfoNCE readings on fresh batches of K = 128: the optimal critic (the bound's own limit at this
# K), the conv critic and the MLP ("separable") critic, both trained for the same 400 steps.
K, STEPS = 128, 400
optimal = GaussianOptimalCritic(views.covariance(), views.dim_x)
read = {"optimal critic": mibound.NeuralEstimator("infonce", critic=optimal, steps=0, batch_size=K,
                                                  eval_batches=8, progress=False).fit_sampler(views).result_}
for critic in ("conv", "separable"):
    read[f"{critic} critic"] = mibound.NeuralEstimator("infonce", critic=critic, steps=STEPS, batch_size=K,
                                                       eval_batches=8, progress=False,
                                                       seed=0).fit_sampler(views).result_
for name, r in read.items():
    print(f"{name:16s} {r.estimate:.3f} nats [{r.ci[0]:.3f}, {r.ci[1]:.3f}]")

# %%
# The same from arrays: channel-first images go through ``estimate_mi`` as they are. A non-neural
# estimator flattens them and says so.
x, y = views.sample(3000, seed=1)
flat = mibound.estimate_mi(x, y, estimator="gaussian")
print(flat.estimate, [d["code"] for d in flat.diagnostics])

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
names = list(read)
ax.bar(names, [read[k].estimate for k in names], color=["C2", "C0", "C7"],
       yerr=[[read[k].estimate - read[k].ci[0] for k in names], [read[k].ci[1] - read[k].estimate for k in names]],
       capsize=4)
ax.axhline(views.mutual_information(), color="k", ls="-", lw=1, label="exact I(v1; v2)")
ax.axhline(math.log(K), color="k", ls="--", lw=1, label="log K")
ax.set_ylabel("InfoNCE, held-out (nats)")
ax.legend(fontsize=8)
fig.tight_layout()
