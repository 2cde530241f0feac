"""
InfoNCE saturates at log K
==========================

InfoNCE scores each positive pair against ``K - 1`` negatives, so it can never read more than
``log K`` — whatever the true MI, and even with the *optimal* critic. Here the critic is the exact
optimal one (:class:`~mibound.neural.critics.GaussianOptimalCritic`), so no training is involved:
every gap below is the bound's own looseness. The full experiment is ``mibound experiment vary-k``.
"""

import math

import matplotlib.pyplot as plt

import mibound
from mibound.neural.critics import GaussianOptimalCritic

dim = 10
ks = [4, 16, 64, 256, 1024]
fig, ax = plt.subplots(figsize=(6, 4))
for mi in (1.0, 3.0, 6.0):
    sampler = mibound.CorrelatedGaussian.from_mi(mi, dim=dim)
    critic = GaussianOptimalCritic.correlated(sampler.rho, dim)
    values = []
    for k in ks:
        # steps=0: the critic is read as it is, on fresh held-out batches of K pairs
        r = mibound.NeuralEstimator("infonce", critic=critic, steps=0, batch_size=k, eval_batches=8,
                                    progress=False).fit_sampler(sampler).result_
        values.append(r.estimate)
    print(f"true MI {mi}: " + ", ".join(f"K={k}: {v:.2f}" for k, v in zip(ks, values)))
    line, = ax.plot(ks, values, "o-", label=f"InfoNCE, optimal critic, true MI {mi:g}")
    ax.axhline(mi, color=line.get_color(), ls=":", lw=1)
ax.plot(ks, [math.log(k) for k in ks], "k--", label="log K")
ax.set_xscale("log", base=2)
ax.set_xlabel("K (pairs per score matrix)")
ax.set_ylabel("nats")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Reading the figure: at 1 nat InfoNCE is close to the truth from small ``K`` on; at 6 nats it stays
# under ``log K`` at every ``K`` shown, and still falls short at ``K = 1024`` — the ``K`` needed for a
# tight bound grows like ``e^I`` (McAllester & Stratos 2020). A saturated InfoNCE value says "the MI is
# at least this", nothing more.
