"""One seeded plan for every fit: the split into train / validation / test and each step's batch rows.

Layout
------
A data set of ``n`` rows is split once by a keyed pseudo-random permutation ``P`` of ``range(n)``
that depends on ``seed`` only, so every process, and every way the data arrive (arrays in memory,
memory-mapped files, the shards of a distributed job), computes the same split: positions
``[0, n_train)`` of ``P`` are the training rows, the next ``n_validation`` the validation rows and
the last ``n_test = round(n * test_fraction)`` the test rows. Each part is cut into ``world_size``
equal contiguous ranges of positions, the *shards* (a remainder of fewer than ``world_size``
positions is left out, so that every process runs the same number of batches); process ``rank``
reads only the rows of its own shards. Step ``s`` of a distributed fit reads ``world_size`` local
batches, and their union is the global batch of ``K = world_size * batch_size`` rows that
:meth:`FitPlan.global_rows` computes in one process.

Within an epoch a process visits its training shard in the order of a second keyed permutation
(seeded by ``seed``, ``rank`` and the epoch), ``batch_size`` positions at a time: no row is used
twice in an epoch, and the last partial batch of an epoch is skipped. Validation and test shards
are read in a fixed order, batch by batch.

Both permutations are evaluated pointwise (a balanced Feistel network with cycle walking; Black
& Rogaway 2002, "Ciphers with Arbitrary Finite Domains"), so nothing of size ``n`` is allocated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mibound.inputs.checks import check_choice, check_float, check_int, check_seed

__all__ = ["KeyedPermutation", "FitPlan", "SPLITS", "split_sizes", "shard_range", "grouped_order"]

#: The parts of a plan, in the order of their positions in the split permutation.
SPLITS = ("train", "validation", "test")

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
    """``(n_train, n_test)`` with ``n_test = round(n * test_fraction)`` (a plan without validation)."""
    sizes = FitPlan(n, 1, test_fraction=test_fraction).sizes
    return sizes["train"], sizes["test"]


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


@dataclass(frozen=True)
class FitPlan:
    """The seeded split of ``n`` rows into train / validation / test and the rows of every batch.

    See the module docstring for the layout. The plan holds no data and nothing of size ``n``:
    it maps ``(part, step, rank)`` to the file rows of that batch.

    Parameters
    ----------
    n : int
        Rows of the data set.
    batch_size : int
        Rows per batch of one process (the local ``k``; the global ``K = world_size * k``).
    seed : int, default 0
        Seeds the split (the same on every process) and the epoch orders (with the rank).
    test_fraction : float, default 0.2
        Share of the rows for the reported estimate: ``n_test = round(n * test_fraction)``.
    validation_fraction : float, default 0.0
        Share of the rows for choices made during the fit (early stopping, selection):
        ``n_validation = round(n * validation_fraction)``.
    world_size : int, default 1
        Processes the parts are sharded over.

    Examples
    --------
    >>> plan = FitPlan(1000, 16, seed=3, validation_fraction=0.1)
    >>> plan.sizes
    {'train': 700, 'validation': 100, 'test': 200}
    >>> plan.rows("train", 0).shape
    (16,)
    """

    n: int
    batch_size: int
    seed: int = 0
    test_fraction: float = 0.2
    validation_fraction: float = 0.0
    world_size: int = 1

    def __post_init__(self):
        check_int(self.n, "n", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_seed(self.seed)
        check_float(self.test_fraction, "test_fraction", minimum=0.0, maximum=1.0, exclusive_min=True,
                    exclusive_max=True)
        check_float(self.validation_fraction, "validation_fraction", minimum=0.0, maximum=1.0, exclusive_max=True)
        check_int(self.world_size, "world_size", minimum=1)
        if self.test_fraction + self.validation_fraction >= 1.0:
            raise ValueError(f"test_fraction + validation_fraction must be below 1 (rows are needed for training), "
                             f"got {self.test_fraction} + {self.validation_fraction}")

    # -- sizes -------------------------------------------------------------------------------
    @property
    def sizes(self) -> dict[str, int]:
        """Rows of each part before sharding (``train`` + ``validation`` + ``test`` = ``n``)."""
        n_test = int(round(self.n * self.test_fraction))
        n_val = int(round(self.n * self.validation_fraction))
        return {"train": self.n - n_test - n_val, "validation": n_val, "test": n_test}

    def shard_rows(self, part: str) -> int:
        """Rows of ``part`` in the shard of one process."""
        return self.sizes[check_choice(part, SPLITS, "split")] // self.world_size

    def batches_per_epoch(self, part: str) -> int:
        """Batches of ``batch_size`` rows in one pass over a process's shard of ``part``."""
        return self.shard_rows(part) // self.batch_size

    def rows_used(self, part: str) -> int:
        """Rows of ``part`` that the processes read together in one epoch of whole batches."""
        return self.batches_per_epoch(part) * self.batch_size * self.world_size

    def check(self, test_batches: int = 2, validation_batches: int = 0) -> "FitPlan":
        """Raise ``ValueError`` unless every process gets a training batch and the asked-for held-out batches.

        The message names the smallest ``n`` that would do. Returns the plan.
        """
        want = {"train": 1, "validation": validation_batches, "test": test_batches}
        if all(self.batches_per_epoch(p) >= b for p, b in want.items()):
            return self
        need = max(math.ceil(b * self.batch_size * self.world_size / f) for b, f in (
            (1, 1 - self.test_fraction - self.validation_fraction), (test_batches, self.test_fraction),
            (validation_batches, self.validation_fraction or 1.0)))
        while not all(FitPlan(need, self.batch_size, 0, self.test_fraction, self.validation_fraction,
                              self.world_size).batches_per_epoch(p) >= b for p, b in want.items()):
            need += 1
        procs = f" x {self.world_size} processes" if self.world_size > 1 else ""
        held = f"{test_batches} test" + (f" and {validation_batches} validation" if validation_batches else "")
        raise ValueError(
            f"too few samples: got n={self.n}, but batch_size={self.batch_size}{procs} with "
            f"test_fraction={self.test_fraction}"
            + (f", validation_fraction={self.validation_fraction}" if self.validation_fraction else "")
            + f" needs at least {need} (one training batch and {held} batches per process); "
            "pass more data or a smaller batch_size")

    # -- rows --------------------------------------------------------------------------------
    def split_perm(self) -> KeyedPermutation:
        """The split as a map position -> row: the positions hold the training, validation and test rows, in order."""
        return KeyedPermutation(self.n, (self.seed, 0x5EED))

    def _first(self, part: str, rank: int) -> int:
        sizes = self.sizes
        offset = {"train": 0, "validation": sizes["train"], "test": sizes["train"] + sizes["validation"]}[part]
        return offset + shard_range(sizes[part], rank, self.world_size)[0]

    def chunk_rows(self, part: str, epoch: int, first: int, stop: int, rank: int = 0) -> np.ndarray:
        """Rows of batches ``first .. stop - 1`` of ``epoch`` for process ``rank``: shape ``(stop - first, k)``.

        Each row of the result is one batch, its file rows ascending (one forward pass over a file).
        Validation and test have one fixed order, so their ``epoch`` is ignored.
        """
        part = check_choice(part, SPLITS, "split")
        check_int(rank, "rank", minimum=0, maximum=self.world_size - 1)
        per_epoch = self.batches_per_epoch(part)
        if not 0 <= first <= stop <= per_epoch:
            raise IndexError(f"batches {first}..{stop - 1} out of range: the {part} shard has {per_epoch} batches")
        local = np.arange(first * self.batch_size, stop * self.batch_size)
        if part == "train":
            local = KeyedPermutation(self.shard_rows(part), (self.seed, rank, epoch, 0xE90C))(local)
        rows = self.split_perm()(self._first(part, rank) + local)
        return np.sort(rows.reshape(stop - first, self.batch_size), axis=1)

    def rows(self, part: str, step: int, rank: int = 0) -> np.ndarray:
        """File rows (ascending, int64, ``(batch_size,)``) of process ``rank``'s batch at ``step``.

        Training: epoch ``step // batches_per_epoch``, batch ``step % batches_per_epoch`` of it.
        Validation and test: ``0 <= step < batches_per_epoch`` (``IndexError`` otherwise).
        """
        check_int(step, "step", minimum=0)
        per_epoch = self.batches_per_epoch(part)
        if part == "train" and per_epoch:
            epoch, b = divmod(step, per_epoch)
        else:
            epoch, b = 0, step
        return self.chunk_rows(part, epoch, b, b + 1, rank)[0]

    def global_rows(self, part: str, step: int) -> np.ndarray:
        """The rows of step ``step`` over all processes: the union of every rank's batch, ``(K,)``."""
        return np.concatenate([self.rows(part, step, r) for r in range(self.world_size)])

    def sample_rows(self, part: str, m: int) -> np.ndarray:
        """Up to ``m`` rows of ``part`` (the first of its positions: a uniform random subset), sorted."""
        part = check_choice(part, SPLITS, "split")
        first = {"train": 0, "validation": self.sizes["train"],
                 "test": self.sizes["train"] + self.sizes["validation"]}[part]
        pos = first + np.arange(min(m, self.sizes[part]), dtype=np.int64)
        return np.sort(self.split_perm()(pos)) if pos.size else np.empty(0, np.int64)

    def part_rows(self, part: str) -> np.ndarray:
        """All rows of ``part`` that the shards hold, sorted (``O(n)`` memory: for checks and small data)."""
        part = check_choice(part, SPLITS, "split")
        m = self.shard_rows(part)
        pos = np.concatenate([self._first(part, r) + np.arange(m) for r in range(self.world_size)])
        return np.sort(self.split_perm()(pos.astype(np.int64))) if pos.size else np.empty(0, np.int64)


def grouped_order(plan: FitPlan, groups: np.ndarray, seed: int,
                  held_out: "list[np.ndarray] | None" = None) -> tuple[np.ndarray, int]:
    """An order of the rows that puts every group (copies of one row) in one part of ``plan``.

    ``x[order]`` read through ``plan`` has the rows of each group in the same part: whole groups, in a
    seeded random order, fill the test part, then the validation part, each exactly (a group that does
    not fit is passed over for a smaller one); the rest train. Where no set of whole groups fills a part
    exactly, the last rows come from one group whose other copies train: the count of such straddling
    groups is returned (0 in the usual case of many single rows).

    Parameters
    ----------
    plan : FitPlan
        The plan of ``n = len(groups)`` rows, one process.
    groups : ndarray of int, shape (n,)
        The group of each row, ``0 .. m - 1``.
    seed : int
    held_out : list of int arrays, optional
        The row sets to fill with whole groups, in this order (default: the plan's test and validation
        rows). Cross-fitting passes its folds as well (:func:`mibound.estimators.stacked.fold_parts`); the
        plan's training rows outside them take the rest.

    Returns
    -------
    order : ndarray of int, shape (n,)
        A permutation of ``range(n)``: position ``r`` of the reordered data holds row ``order[r]``.
    straddling : int
    """
    groups = np.asarray(groups, dtype=np.int64)
    counts = np.bincount(groups)
    members = np.split(np.argsort(groups, kind="stable"), np.cumsum(counts)[:-1])
    free = list(np.random.default_rng(seed).permutation(counts.size))
    order = np.empty(plan.n, dtype=np.int64)
    straddling = 0
    parts = held_out if held_out is not None else [plan.part_rows("test"), plan.part_rows("validation")]
    for slots in parts:
        need, taken, rest = slots.size, [], []
        for g in free:
            if 0 < counts[g] <= need:
                taken.append(members[g])
                need -= counts[g]
            else:
                rest.append(g)
        if need:  # no whole group fits what is left: part of one group, the rest of it trains
            g = rest.pop(0)
            taken.append(members[g][:need])
            members[g], counts[g] = members[g][need:], counts[g] - need
            rest.insert(0, g)
            straddling += 1
        order[slots] = np.concatenate(taken) if taken else np.empty(0, np.int64)
        free = rest
    train = plan.part_rows("train")
    if held_out is not None:  # folds cut from the training rows are filled above
        train = train[~np.isin(train, np.concatenate(parts))]
    order[train] = np.concatenate([members[g] for g in free]) if free else np.empty(0, np.int64)
    return order, straddling
