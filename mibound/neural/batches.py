"""Batches of a :class:`~mibound.neural.plan.FitPlan` read from arrays or memory maps, and fresh batches from samplers.

:class:`ShardedBatchStream` reads one process's batches of one part of the plan from arrays in
memory or from memory-mapped files larger than memory: a batch costs ``batch_size`` indices and
``batch_size`` rows, read by one fancy-indexing copy each, in ascending row order, so with
``np.load(path, mmap_mode="r")`` the file itself stays on disk (and in the page cache). Every fit
of arrays (in memory, memory-mapped, distributed) reads its batches through it, so the same seed
gives the same split and the same batches however the data arrive.

:class:`SamplerStream` draws fresh batches from a :class:`~mibound.data.Sampler`, one seeded
generator per ``(seed, stream, rank)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from mibound.data.base import Sampler
from mibound.inputs.checks import as_2d_array, check_choice, check_int, check_seed
from mibound.neural.plan import SPLITS, FitPlan, KeyedPermutation, shard_range, split_sizes

__all__ = [
    "KeyedPermutation",
    "split_sizes",
    "shard_range",
    "check_array_like",
    "ShardedBatchStream",
    "SamplerStream",
]


def check_array_like(a, name: str) -> tuple[int, int]:
    """Check an array (or memory map) without reading its values; return ``(n_rows, n_columns)``.

    The values themselves are checked batch by batch when they are read (see
    :class:`ShardedBatchStream`).
    """
    if a is None:
        raise TypeError(f"{name} is None; expected an array of shape (n_samples, n_features)")
    if not all(hasattr(a, attr) for attr in ("shape", "dtype", "ndim", "__getitem__")):
        raise TypeError(f"{name} must be a numpy array or memory map (np.load(path, mmap_mode='r')), "
                        f"got {type(a).__name__}")
    if np.dtype(a.dtype).kind not in "biuf":
        raise TypeError(f"{name} has dtype {a.dtype}; expected real numbers")
    if a.ndim not in (1, 2):
        raise ValueError(f"{name} has {a.ndim} dimensions (shape {tuple(a.shape)}); expected 1-D or 2-D "
                         "(n_samples, n_features)")
    n, d = int(a.shape[0]), int(a.shape[1]) if a.ndim == 2 else 1
    if n == 0 or d == 0:
        raise ValueError(f"{name} is empty (shape {tuple(a.shape)}); expected at least one sample and feature")
    return n, d


class ShardedBatchStream(Sequence):
    """Batches of ``(x, y)`` rows from one process's shard of one part of a :class:`~mibound.neural.plan.FitPlan`.

    As a sequence it holds the batches of one epoch (``len(stream)`` of them); :meth:`batch` takes
    any step and, for the training part, moves on through the epochs.

    Parameters
    ----------
    x, y : ndarray or numpy.memmap, shapes (n, dx) and (n, dy) (1-D: one column)
        Only the rows of a batch are read, so memory maps of files larger than memory work.
    batch_size : int
        Rows per batch of this process (the local ``k``).
    split : {"train", "validation", "test"}, default "train"
    test_fraction : float, default 0.2
    rank, world_size : int, default 0 and 1
    seed : int, default 0
        Seeds the split (same on every process) and the epoch orders (with the rank).
    dtype : torch.dtype, default torch.float32
    device : str or torch.device, default "cpu"
    check_values : bool, default True
        Check every batch for NaN/inf and absurd magnitudes as it is read (turn off for data that
        was checked as a whole).
    validation_fraction : float, default 0.0
    plan : FitPlan, optional
        The plan to read (then ``batch_size``, ``test_fraction``, ``validation_fraction``,
        ``world_size`` and ``seed`` must agree with it, or are taken from it when omitted).
    transform : pair of callables, optional
        ``(fx, fy)`` applied to the rows of every batch after they are read and checked (e.g. the
        :class:`~mibound.inputs.maps.ColumnMap` s fitted on training rows).

    Attributes
    ----------
    CHUNK_ROWS : int
        Row numbers computed at once (whole batches, at least one): memory for about
        ``max(CHUNK_ROWS, batch_size)`` int64 indices, never anything of the file's size.
    n_rows : int
        Rows of this process's shard.
    n_used : int
        Rows of the part across all processes (``world_size * n_rows``).
    """

    CHUNK_ROWS = 4096

    def __init__(self, x, y, batch_size: int | None = None, *, split: str = "train", test_fraction: float = 0.2,
                 rank: int = 0, world_size: int = 1, seed: int = 0, dtype: torch.dtype = torch.float32,
                 device="cpu", check_values: bool = True, validation_fraction: float = 0.0,
                 plan: FitPlan | None = None, transform=None):
        nx, self.dim_x = check_array_like(x, "x")
        ny, self.dim_y = check_array_like(y, "y")
        if nx != ny:
            raise ValueError(f"x and y must have the same number of samples (rows), got {nx} and {ny}")
        if plan is None:
            plan = FitPlan(nx, check_int(batch_size, "batch_size", minimum=1), check_seed(seed), test_fraction,
                           validation_fraction, check_int(world_size, "world_size", minimum=1))
        elif plan.n != nx or (batch_size is not None and batch_size != plan.batch_size):
            raise ValueError(f"the plan is for n={plan.n} rows in batches of {plan.batch_size}, got n={nx} rows "
                             f"and batch_size={batch_size}")
        self.plan, self.x, self.y, self.n = plan, x, y, nx
        self.batch_size, self.world_size, self.seed = plan.batch_size, plan.world_size, plan.seed
        self.split = check_choice(split, SPLITS, "split")
        self.rank = check_int(rank, "rank", minimum=0, maximum=self.world_size - 1)
        self.dtype, self.device, self.check_values = dtype, torch.device(device), bool(check_values)
        self.transform = transform
        self.n_rows = plan.shard_rows(self.split)
        self.n_used = self.n_rows * self.world_size
        if self.n_rows < self.batch_size:
            frac = {"train": 1 - plan.test_fraction - plan.validation_fraction, "test": plan.test_fraction,
                    "validation": plan.validation_fraction}[self.split]
            need = f"n >= {math.ceil(self.batch_size * self.world_size / frac)}" if frac else "a validation_fraction"
            raise ValueError(
                f"too few samples: the {self.split} split of n={nx} rows has {plan.sizes[self.split]} rows, "
                f"{self.n_rows} per process, fewer than batch_size={self.batch_size} "
                f"(world_size={self.world_size}); it needs {need}: pass more data or a smaller batch_size"
            )
        self._chunk: tuple[tuple[int, int], np.ndarray] | None = None

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.n_rows // self.batch_size

    def rows(self, step: int) -> np.ndarray:
        """File rows (ascending, int64, shape ``(batch_size,)``) of this process's batch at ``step``.

        See :meth:`FitPlan.rows`. The rows of ``max(1, CHUNK_ROWS // batch_size)`` consecutive
        batches are computed together (one vectorised pass instead of one per batch) and kept
        until used.
        """
        check_int(step, "step", minimum=0)
        per_epoch = len(self)
        if self.split == "train":
            epoch, b = divmod(step, per_epoch)
        elif step >= per_epoch:
            raise IndexError(f"held-out batch {step} out of range: this shard has {per_epoch} batches")
        else:
            epoch, b = 0, step
        per_chunk = max(1, self.CHUNK_ROWS // self.batch_size)
        chunk = b // per_chunk
        if self._chunk is None or self._chunk[0] != (epoch, chunk):
            first = chunk * per_chunk
            rows = self.plan.chunk_rows(self.split, epoch, first, min(per_epoch, first + per_chunk), self.rank)
            self._chunk = ((epoch, chunk), rows)
        return self._chunk[1][b % per_chunk]

    def _read(self, a, rows: np.ndarray, name: str) -> np.ndarray:
        block = np.asarray(a[rows])
        if self.check_values:
            try:
                return as_2d_array(block, name, dtype=np.float32)
            except ValueError as exc:
                raise ValueError(f"{exc} (in the batch of file rows {rows[0]}..{rows[-1]})") from None
        return block.reshape(len(rows), -1)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch at ``step`` as tensors of shapes ``(batch_size, dx)``, ``(batch_size, dy)``."""
        rows = self.rows(step)
        xb, yb = self._read(self.x, rows, "x"), self._read(self.y, rows, "y")
        if self.transform is not None:
            xb, yb = self.transform[0](xb), self.transform[1](yb)
        return (torch.from_numpy(xb).to(self.device, self.dtype), torch.from_numpy(yb).to(self.device, self.dtype))

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(step, slice):
            raise TypeError("a ShardedBatchStream is indexed by one step, not a slice")
        if not 0 <= step < len(self):
            raise IndexError(f"batch {step} out of range for an epoch of {len(self)} batches")
        return self.batch(step)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of the first epoch (the held-out batches, for ``split="test"``)."""
        for step in range(len(self)):
            yield self.batch(step)


class SamplerStream:
    """Fresh batches from a :class:`~mibound.data.Sampler`, one generator per process.

    Parameters
    ----------
    sampler : Sampler
    batch_size : int
    seed : int
    stream : int
        Separates independent streams of one process (1 training, 2 test, 3 validation).
    rank : int
        Different ranks draw different samples.
    dtype, device
    """

    def __init__(self, sampler: Sampler, batch_size: int, *, seed: int, stream: int, rank: int = 0,
                 dtype: torch.dtype = torch.float32, device="cpu"):
        if not isinstance(sampler, Sampler):
            raise TypeError(f"sampler must be a mibound.data.Sampler, got {type(sampler).__name__}")
        self.sampler, self.batch_size = sampler, check_int(batch_size, "batch_size", minimum=1)
        entropy = np.random.SeedSequence((check_seed(seed), stream, rank)).generate_state(1, dtype=np.uint64)[0]
        self.generator = torch.Generator().manual_seed(int(entropy) & (2**63 - 1))
        self.dtype, self.device = dtype, torch.device(device)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch (``step`` is ignored: every call draws fresh samples)."""
        x, y = self.sampler.sample_torch(self.batch_size, self.generator, dtype=self.dtype)
        return x.to(self.device), y.to(self.device)

    def batches(self, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The next ``count`` batches (held-out sets drawn once)."""
        return [self.batch(b) for b in range(count)]
