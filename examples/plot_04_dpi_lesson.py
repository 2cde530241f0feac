r"""
Lesson: the data-processing inequality, every gap measured
==========================================================

Two views ``v1, v2`` (two crops of one random texture), an encoder ``z = f(v)`` applied to each, and a
critic trained with a contrastive loss (InfoNCE) on the codes. Four numbers, each exact or computed,
always in this order:

.. math::

    I(v_1; v_2) \;\ge\; I(z_1; z_2) \;\ge\; \underbrace{\log K - \mathcal{L}_{\text{InfoNCE}}(f^*)}_{\text{optimal critic}}
    \;\ge\; \underbrace{\log K - \mathcal{L}_{\text{InfoNCE}}(f_\theta)}_{\text{trained critic}}

(the views, the codes, the bound at this :math:`K`, what training reaches).

Each inequality has its own cause:

1. **the encoder throws information away** (the data-processing inequality: no function of a view
   can know more about the other view than the view itself);
2. **the bound is loose**: InfoNCE cannot read more than ``log K``, and is loose below it;
3. **training is imperfect**: the trained critic is not the optimal one.

On Gaussian views with linear encoders every term is known, so each gap can be measured. The full
experiment is ``mibound experiment dpi`` (see :doc:`/tutorial-dpi`).
"""

# %%
# Step 1 — the views and their exact MI
# -------------------------------------
# Two 8x8 crops of one Gaussian random field, 6 pixels apart, with pixel noise.
import math

import matplotlib.pyplot as plt
import numpy as np

import mibound
from mibound.data import EncodedViews, GaussianRandomFieldCrops
from mibound.data.encoders import AvgPool, Identity
from mibound.neural.critics import GaussianOptimalCritic

K = 128  # the batch of the contrastive loss: InfoNCE's ceiling is log K
STEPS = 400  # training steps of the critic (a student's first knob)
views = GaussianRandomFieldCrops(image_size=16, crop_size=8, offset=(0, 6), noise=0.5, torus_size=32)
print(f"I(v1; v2) = {views.mutual_information():.3f} nats (exact)")

# %%
# Step 2 — encoders and what they keep
# ------------------------------------
# Average pooling over ``s x s`` blocks is linear, so ``I(z1; z2)`` is exact too. Larger blocks keep less.
encoders = {"identity": Identity(), "pool 2x2": AvgPool(2), "pool 4x4": AvgPool(4)}
rows = []
for name, encoder in encoders.items():
    codes = EncodedViews(views, encoder)  # the same encoder on both views
    mi_codes = codes.mutual_information()

    # Step 3 — the bound with the optimal critic: no training, only the bound's own looseness at K
    optimal = GaussianOptimalCritic(codes.covariance(), codes.dim_x)
    bound = mibound.NeuralEstimator("infonce", critic=optimal, steps=0, batch_size=K, eval_batches=8,
                                    progress=False).fit_sampler(codes).result_.estimate

    # Step 4 — a trained critic (the MLP critic on the flattened codes)
    trained = mibound.NeuralEstimator("infonce", critic="separable", batch_size=K, steps=STEPS, eval_batches=8,
                                      progress=False, seed=0).fit_sampler(codes).result_.estimate
    rows.append((name, views.mutual_information(), mi_codes, bound, trained))
    print(f"{name:9s} I(z1;z2) {mi_codes:6.3f}   InfoNCE optimal {bound:6.3f}   trained {trained:6.3f}")

# %%
# Step 5 — the gaps, stacked
# --------------------------
# Each bar is ``I(v1; v2)``, cut into what each stage loses; the blue part is what a contrastive loss
# trained for ``STEPS`` steps at batch ``K`` actually sees.
fig, ax = plt.subplots(figsize=(6.5, 4))
names = [r[0] for r in rows]
mv, mc, ob, tr = (np.array([r[i] for r in rows]) for i in range(1, 5))
ax.bar(names, tr, color="C0", label="InfoNCE, trained critic")
ax.bar(names, ob - tr, bottom=tr, color="C1", label="optimisation gap")
ax.bar(names, mc - ob, bottom=ob, color="C2", label="bound looseness (log K and below)")
ax.bar(names, mv - mc, bottom=mc, color="C3", label="lost by the encoder (DPI)")
ax.axhline(math.log(K), color="k", ls="--", lw=1, label=f"log K = {math.log(K):.2f}")
ax.set_ylabel("nats")
ax.set_title("I(v1;v2) >= I(z1;z2) >= InfoNCE optimal >= InfoNCE trained")
ax.legend(fontsize=8, loc="upper right")
fig.tight_layout()

# %%
# Questions (change one line, rerun)
# ----------------------------------
# 1. Set ``K = 1024``. Which gap shrinks, and why does the red one not change?
# 2. Set ``STEPS = 50``. Which gap grows? Can the trained critic ever beat the optimal one on average?
# 3. Change ``offset=(0, 6)`` to ``offset=(0, 2)``: the crops overlap more. What happens to
#    ``I(v1; v2)``, and to the green gap?
# 4. Add ``"pool 8x8": AvgPool(8)`` (the global mean of each crop). How much of the MI survives one
#    number per view?
# 5. Why can no encoder make ``I(z1; z2)`` larger than ``I(v1; v2)``? (Hint: ``z2`` is computed from
#    ``v2`` alone.)
