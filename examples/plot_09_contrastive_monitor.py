"""
Watch a contrastive learner: log K - L <= I(z1;z2) <= I(v1;v2), live
====================================================================

A contrastive learner minimises the InfoNCE loss ``L`` of batches of ``K`` pairs. ``log K - L`` is a
lower bound on what its embeddings share, ``I(z1;z2)``, which can never exceed what the views share,
``I(v1;v2)``. :class:`mibound.monitor.ContrastiveMonitor` watches the three during training: the loss at
every step, and, every few steps on held-out probe pairs, the critic's held-out bound, an estimate of
``I(z1;z2)`` and (once) ``I(v1;v2)``. Here the views are Gaussian with 4 nats in 8 + 8 dimensions, the
encoders are linear maps to 4 dimensions, and ``K = 8``: the training bound cannot pass ``log 8 = 2.08``
nats, while the embeddings keep more than that.

The monitor's summary shows it: the training bound stays under 2.08, the held-out bound of the same
critic read at ``K = 1024`` reaches about 2.8, and the embeddings keep about 3 of the 4 nats.

Try: ``K = 256`` instead of 8 (the training bound climbs past 2.08); ``out_dim = 2`` (the encoders keep
less: I(z1;z2) stops near 2 nats).
"""

import math

import matplotlib.pyplot as plt
import torch

from mibound.data import CorrelatedPairs
from mibound.monitor import ContrastiveMonitor

K, out_dim, steps = 8, 4, 600
sampler = CorrelatedPairs.from_mi(4.0, 8, decay=0.7)  # I(v1;v2) = 4 nats, exact
torch.manual_seed(0)
f1, f2 = (torch.nn.Linear(8, out_dim, bias=False) for _ in range(2))
opt = torch.optim.Adam([*f1.parameters(), *f2.parameters()], lr=0.02)


def similarity(z1, z2):
    """The critic of the InfoNCE loss: minus the squared distance (K x K scores, positives on the diagonal)."""
    return -torch.cdist(z1, z2) ** 2


# the probe: 4096 fresh pairs never trained on; I(v1;v2) from the sampler, exactly
monitor = ContrastiveMonitor.from_sampler(sampler, n_probe=4096, encoder=(f1, f2), similarity=similarity,
                                          total_steps=steps)
gen = torch.Generator().manual_seed(1)
for step in range(steps):
    x, y = sampler.sample_torch(K, gen)
    loss = torch.nn.functional.cross_entropy(similarity(f1(x), f2(y)), torch.arange(K))
    opt.zero_grad()
    loss.backward()
    opt.step()
    monitor.update(loss, k=K)  # log K - L every step; a checkpoint on the probe every steps/20 steps
monitor.close(figure=False)
print(monitor.summary())
print(f"log K = {math.log(K):.3f} nats")

# %%
# The chain over training: I(v1;v2) (exact), the estimate of I(z1;z2) with its interval, the held-out bound
# of the same critic read at K = 1024 on the probe, and the training bound log K - L under its ceiling log K.
fig, ax = plt.subplots(figsize=(7, 4))
monitor.plot(ax=ax)
fig.tight_layout()
