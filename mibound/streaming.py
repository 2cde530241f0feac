"""Batches from data larger than memory: a seeded, shard-aware stream over (memory-mapped) rows.

Layout
------
A data set of ``n`` rows is split once by a keyed pseudo-random permutation ``P`` of ``range(n)``
that every process computes alike (it depends on ``seed`` only): the first ``n_train`` positions
of ``P`` are the training split, the other ``n_test = round(n * test_fraction)`` the held-out
split. Each split is cut into ``world_size`` equal contiguous ranges of positions, the *shards*
(a remainder of fewer than ``world_size`` positions is left out, so that every process runs the
same number of batches). Process ``rank`` reads only the rows of its own shards.

Within an epoch a process visits its training shard in the order of a second keyed permutation
(seeded by ``seed``, ``rank`` and the epoch), ``batch_size`` positions at a time: no row is used
twice in an epoch, and the last partial batch of an epoch is skipped. The held-out shard is read
in a fixed order, batch by batch.

Memory
------
Both permutations are evaluated pointwise (a balanced Feistel network with cycle walking; Black
& Rogaway 2002, "Ciphers with Arbitrary Finite Domains"), so nothing of size ``n`` is ever
allocated: a batch costs ``batch_size`` indices and ``batch_size`` rows, read from the arrays by
one fancy-indexing copy each, in ascending row order. With ``np.load(path, mmap_mode="r")`` the
file itself stays on disk (and in the operating system's page cache).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from ._validation import as_2d_array, check_choice, check_float, check_int, check_seed
from .data.base import Sampler

__all__ = [
    "KeyedPermutation",
    "split_sizes",
    "shard_range",
    "check_array_like",
    "ShardedBatchStream",
    "SamplerStream",
    "fit_streaming",
]

_ROUNDS = 4
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def _mix(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on a uint64 array (arithmetic wraps modulo 2**64)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


class KeyedPermutation:
    """A pseudo-random permutation of ``range(n)``, evaluated pointwise in O(1) memory.

    A 4-round Feistel network on ``b`` bits (``2**(b-1) < n <= 2**b``; halves of ``b // 2`` and
    ``b - b // 2`` bits, alternating) with the splitmix64 finaliser as round function, restricted
    to ``range(n)`` by cycle walking: an output ``>= n`` is encrypted again until it falls in
    range (fewer than 2 encryptions on average, since ``2**b < 2 n``). The result is a bijection
    of ``range(n)`` for every key.

    Parameters
    ----------
    n : int
        Size of the domain, ``>= 1``.
    key : int or sequence of int
        Seeds the round keys (through :class:`numpy.random.SeedSequence`); same key, same permutation.

    Examples
    --------
    >>> perm = KeyedPermutation(10, key=(0, 1))
    >>> sorted(perm(np.arange(10)).tolist()) == list(range(10))
    True
    """

    def __init__(self, n: int, key):
        self.n = check_int(n, "n", minimum=1)
        bits = max(2, (self.n - 1).bit_length())
        self._a, self._b = bits // 2, bits - bits // 2  # widths of the left and right halves
        self._keys = np.random.SeedSequence(key).generate_state(_ROUNDS, dtype=np.uint64)

    def _encrypt(self, v: np.ndarray) -> np.ndarray:
        wl, wr = self._a, self._b
        left, right = v >> np.uint64(wr), v & np.uint64((1 << wr) - 1)
        with np.errstate(over="ignore"):
            for k in self._keys:  # (L, R) -> (R, L ^ F(R)); the halves swap widths every round
                left, right = right, left ^ (_mix(right ^ k) & np.uint64((1 << wl) - 1))
                wl, wr = wr, wl
        return (left << np.uint64(wr)) | right

    def __call__(self, i) -> np.ndarray:
        """Images ``P(i)`` of an int array ``i`` with entries in ``range(n)``; same shape, int64."""
        i = np.asarray(i)
        if i.dtype.kind not in "iu":
            raise TypeError(f"indices must be integers, got dtype {i.dtype}")
        if i.size and (int(i.min()) < 0 or int(i.max()) >= self.n):
            raise ValueError(f"indices must lie in [0, {self.n}), got values in [{int(i.min())}, {int(i.max())}]")
        out = self._encrypt(i.astype(np.uint64))
        n = np.uint64(self.n)
        bad = out >= n
        while bad.any():
            out[bad] = self._encrypt(out[bad])
            bad = out >= n
        return out.astype(np.int64)


def split_sizes(n: int, test_fraction: float) -> tuple[int, int]:
    """``(n_train, n_test)`` with ``n_test = round(n * test_fraction)``, as :class:`NeuralEstimator` splits."""
    check_int(n, "n", minimum=1)
    check_float(test_fraction, "test_fraction", minimum=0.0, maximum=1.0, exclusive_min=True, exclusive_max=True)
    n_test = int(round(n * test_fraction))
    return n - n_test, n_test


def shard_range(n_items: int, rank: int, world_size: int) -> tuple[int, int]:
    """Process ``rank``'s contiguous range ``[start, stop)`` of ``n_items`` positions.

    Every process gets ``n_items // world_size`` positions; the remainder is left out so that all
    shards have the same length.
    """
    check_int(n_items, "n_items", minimum=0)
    check_int(world_size, "world_size", minimum=1)
    check_int(rank, "rank", minimum=0, maximum=world_size - 1)
    m = n_items // world_size
    return rank * m, (rank + 1) * m


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
    """Batches of ``(x, y)`` rows from one process's shard of the training or held-out split.

    See the module docstring for the layout. As a sequence it holds the batches of one epoch
    (``len(stream)`` of them); :meth:`batch` takes any step and moves on through the epochs.

    Parameters
    ----------
    x, y : ndarray or numpy.memmap, shapes (n, dx) and (n, dy) (1-D: one column)
        Only the rows of a batch are read, so memory maps of files larger than memory work.
    batch_size : int
        Rows per batch of this process (the local ``k``).
    split : {"train", "test"}, default "train"
    test_fraction : float, default 0.2
    rank, world_size : int, default 0 and 1
    seed : int, default 0
        Seeds the split (same on every process) and the epoch orders (with the rank).
    dtype : torch.dtype, default torch.float32
    device : str or torch.device, default "cpu"
    check_values : bool, default True
        Check every batch for NaN/inf and absurd magnitudes as it is read (turn off for data that
        was checked as a whole).

    Attributes
    ----------
    CHUNK_ROWS : int
        Row numbers computed at once (whole batches, at least one): memory for about
        ``max(CHUNK_ROWS, batch_size)`` int64 indices, never anything of the file's size.
    n_rows : int
        Rows of this process's shard.
    n_used : int
        Rows of the split across all processes (``world_size * n_rows``).
    """

    CHUNK_ROWS = 4096

    def __init__(self, x, y, batch_size: int, *, split: str = "train", test_fraction: float = 0.2,
                 rank: int = 0, world_size: int = 1, seed: int = 0, dtype: torch.dtype = torch.float32,
                 device="cpu", check_values: bool = True):
        nx, self.dim_x = check_array_like(x, "x")
        ny, self.dim_y = check_array_like(y, "y")
        if nx != ny:
            raise ValueError(f"x and y must have the same number of samples (rows), got {nx} and {ny}")
        self.x, self.y, self.n = x, y, nx
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.split = check_choice(split, ("train", "test"), "split")
        self.world_size = check_int(world_size, "world_size", minimum=1)
        self.rank = check_int(rank, "rank", minimum=0, maximum=self.world_size - 1)
        self.seed = check_seed(seed)
        self.dtype, self.device, self.check_values = dtype, torch.device(device), bool(check_values)
        n_train, n_test = split_sizes(nx, test_fraction)
        n_split, first = (n_train, 0) if self.split == "train" else (n_test, n_train)
        start, stop = shard_range(n_split, self.rank, self.world_size)
        self.start = first + start
        self.n_rows = stop - start
        self.n_used = self.n_rows * self.world_size
        if self.n_rows < self.batch_size:
            need_rows = self.batch_size * self.world_size
            frac = (1 - test_fraction) if self.split == "train" else test_fraction
            raise ValueError(
                f"too few samples: the {self.split} split of n={nx} rows has {n_split} rows, "
                f"{self.n_rows} per process, fewer than batch_size={self.batch_size} "
                f"(world_size={self.world_size}); it needs n >= {math.ceil(need_rows / frac)}: pass more data "
                "or a smaller batch_size"
            )
        self._split_perm = KeyedPermutation(nx, (self.seed, 0x5EED))
        self._chunk: tuple[tuple[int, int], np.ndarray] | None = None

    # -- positions and rows ----------------------------------------------------------------
    def __len__(self) -> int:
        """Batches per epoch."""
        return self.n_rows // self.batch_size

    def _order(self, epoch: int) -> KeyedPermutation:
        return KeyedPermutation(self.n_rows, (self.seed, self.rank, epoch, 0xE90C))

    def rows(self, step: int) -> np.ndarray:
        """File rows (ascending, int64, shape ``(batch_size,)``) of this process's batch at ``step``.

        Training: epoch ``step // len(self)``, batch ``step % len(self)`` of it. Held-out:
        ``0 <= step < len(self)``. The rows of ``max(1, CHUNK_ROWS // batch_size)`` consecutive
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
            last = min(per_epoch, first + per_chunk)
            local = np.arange(first * self.batch_size, last * self.batch_size)
            if self.split == "train":
                local = self._order(epoch)(local)
            rows = np.sort(self._split_perm(self.start + local).reshape(last - first, self.batch_size), axis=1)
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
        Separates independent streams of one process (e.g. 1 training, 2 held-out).
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


def fit_streaming(estimator, x, y, true_mi: float | None = None):
    """:meth:`NeuralEstimator.fit` for memory-mapped input: train and evaluate from a stream.

    The split and the batch order come from :class:`ShardedBatchStream` (one process), so memory
    stays bounded by the batch; every held-out batch is evaluated. Returns the fitted estimator.
    """
    p = estimator._validate_params()
    k = p["batch_size"]
    common = dict(test_fraction=p["test_fraction"], seed=p["seed"])
    train = ShardedBatchStream(x, y, k, split="train", **common)
    test = ShardedBatchStream(x, y, k, split="test", **common)
    if len(test) < 2:
        raise ValueError(f"too few samples: the held-out split of n={train.n} rows holds {test.n_rows} rows, "
                         f"fewer than two batches of batch_size={k}; pass more data, a larger test_fraction "
                         "or a smaller batch_size")
    estimator._fit(p, train.dim_x, train.dim_y, train.batch, test, train.n_used, len(test) * k, true_mi)
    estimator.result_.settings["data"] = "stream"
    return estimator
