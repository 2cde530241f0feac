"""
The InfoMin sweet spot
======================

Tian et al. (2020): views that share too little miss the task; views that share too much let the
encoder win with a shortcut. Each view is a two-channel 8x8 image — a digit (the task) and a random
texture (the nuisance) — and one knob ``s`` sets what the views share: the digit's class with
probability ``s`` for ``s <= 1``, then also the texture with correlation ``s - 1``. The x-axis is the
views' **exact** MI; the y-axis is how well a linear probe reads the digit class from the trained
encoder. The full experiment is ``mibound experiment infomin`` (see :doc:`/infomin`); this runs a
shortened sweep (one seed, 300 steps).
"""

import tempfile

import matplotlib.pyplot as plt

from mibound.experiments import infomin

with tempfile.TemporaryDirectory() as out:
    frame = infomin.run(out=out, quick=True, progress=False, sweep=(0.0, 0.5, 1.0, 1.5, 1.9, 1.99), n_seeds=1,
                        steps=300, offsets=(0, 4, 8), infonce_offsets=(4,), offset_steps=100, eval_batches=8)
# one row per setting s (column "sweep"): the exact MI, its digit and texture parts, InfoNCE, probe accuracy
sweep = frame.sort_values("sweep")
print(sweep[["sweep", "mi", "mi_digit", "mi_texture", "infonce", "probe_accuracy"]].round(3).to_string(index=False))

# %%
# The reverse U: probe accuracy rises while the views share the class, then falls once the shared
# texture gives the encoder a shortcut — even though the MI keeps rising.
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(sweep["mi"], sweep["probe_accuracy"], "o-")
for _, r in sweep.iterrows():
    ax.annotate(f"s={r['sweep']:g}", (r["mi"], r["probe_accuracy"]), textcoords="offset points", xytext=(4, 4),
                fontsize=8)
ax.set_xscale("symlog", linthresh=1.0)
ax.set_xlabel("exact I(v1; v2) (nats, symmetric log scale)")
ax.set_ylabel("linear probe accuracy (digit class)")
fig.tight_layout()
