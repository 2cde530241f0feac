"""Watch a contrastive learner: ``I(v1; v2) >= I(z1; z2) >= log K - L``, live.

:class:`ContrastiveMonitor` works in any PyTorch training loop; :mod:`mibound.monitor.lightning`
holds :class:`~mibound.monitor.lightning.MIBoundCallback`, the thin PyTorch Lightning wrapper
(``pip install 'mibound[lightning]'``); :mod:`mibound.monitor.plot` draws the chain over steps.
"""

from mibound.monitor.core import QUANTITIES, ContrastiveMonitor, default_estimator, effective_rank, training_bound

__all__ = ["ContrastiveMonitor", "training_bound", "effective_rank", "default_estimator", "QUANTITIES"]
