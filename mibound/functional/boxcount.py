"""Exact max-norm box queries for KSG in many dimensions, with rank-space bitsets.

In 10 to 20 dimensions the KSG neighbourhoods are large (a box of radius ``eps_i`` holds hundreds
of points when ``n = 10^5``) and k-d trees degrade to a slow brute force. This module answers the
two KSG queries exactly with bitsets instead:

* which points lie in the box ``{j : max_d |v_jd - c_d| <= r}`` (members), and how many (count).

A box is the intersection over dimensions of slabs ``{j : |v_jd - c_d| <= r}``, and each slab is a
contiguous range of ranks in that dimension's sorted order. For every dimension a table holds,
every ``G`` ranks, the bitset (over point indices, 64 per ``uint64`` word) of the points whose rank
is below that: a slab's bitset is then the XOR of two table rows (the ranks between two multiples
of ``G``) plus at most ``2G`` single bits at its ends. Intersecting ``D`` slabs costs ``O(D n / 64)``
word operations per query instead of ``O(D n)`` comparisons, with no approximation: slab ends are
found by binary search with a safety margin, and the few points inside the margin are decided
by the exact floating-point predicate ``|v_jd - c_d| <= r`` that a k-d tree evaluates.

Memory: ``D (n / G) (n / 64) 8`` bytes; ``G`` is chosen to fit a budget.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["RankBitsets", "ksg_counts_bitset"]

_ONE = np.uint64(1)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


def _ragged(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ``range(starts[q], stops[q])`` for every ``q``: (query index, value) arrays."""
    n = np.maximum(stops - starts, 0)
    total = int(n.sum())
    q = np.repeat(np.arange(len(n)), n)
    if total == 0:
        return q, np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(n) - n - starts, n)
    return q, np.arange(total, dtype=np.int64) - offsets


class RankBitsets:
    """Per-dimension rank tables of one view ``v (n, D)`` (float64) for exact box queries.

    Parameters
    ----------
    v : ndarray, shape (n, D), float64
    group : int
        ``G``: one table row every ``G`` ranks.
    """

    def __init__(self, v: np.ndarray, group: int):
        self.v = np.ascontiguousarray(v, dtype=np.float64)
        n, dims = self.v.shape
        self.n, self.dims, self.group = n, dims, group
        self.words = (n + 63) // 64
        rows = (n + group - 1) // group + 1
        self.order = np.argsort(self.v, axis=0, kind="stable").T.copy()  # (D, n): rank -> point
        self.sorted = np.take_along_axis(self.v.T, self.order, axis=1)  # (D, n)
        self.rows = rows
        self.tables = np.zeros((dims, rows, self.words), dtype=np.uint64)
        ids = np.arange(n)
        word = ids // 64
        bit = np.left_shift(_ONE, (ids % 64).astype(np.uint64))
        row_of_rank = np.arange(n) // group + 1
        for d in range(dims):
            row = np.empty(n, dtype=np.int64)
            row[self.order[d]] = row_of_rank
            np.bitwise_or.at(self.tables[d], (row, word), bit)
            np.bitwise_or.accumulate(self.tables[d], axis=0, out=self.tables[d])

    @staticmethod
    def table_bytes(n: int, dims: int, group: int) -> int:
        return dims * ((n + group - 1) // group + 1) * ((n + 63) // 64) * 8

    def scratch(self, block: int) -> tuple[np.ndarray, np.ndarray]:
        """Two ``(D * block, words)`` work arrays for :meth:`box_bits` (one pair per thread)."""
        shape = (self.dims * block, self.words)
        return np.empty(shape, dtype=np.uint64), np.empty(shape, dtype=np.uint64)

    def box_bits(self, centres: np.ndarray, radii: np.ndarray, out: np.ndarray,
                 scratch: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Bitsets of ``{j : max_d fl(|v_jd - c_d|) <= r}`` for a block of queries.

        All dimensions are handled in one set of array operations (few Python calls per block).

        Parameters
        ----------
        centres : (b, D) float64
        radii : (b,) float64, >= 0
        out : (b, words) uint64
            Receives the result.
        scratch : from :meth:`scratch` with ``block >= b``

        Returns
        -------
        (b, words) uint64
        """
        b = centres.shape[0]
        dims, g, words = self.dims, self.group, self.words
        c = centres.T  # (D, b)
        rad = np.broadcast_to(radii, (dims, b))
        delta = (np.abs(c) + rad) * 2.0**-40  # >> rounding of c +- r; inside the margin: exact test
        bounds = np.stack([c - rad - delta, c - rad + delta, c + rad - delta, c + rad + delta])  # (4, D, b)
        lo_out, lo_in, hi_in, hi_out = (np.empty((dims, b), dtype=np.int64) for _ in range(4))
        for d in range(dims):
            s = self.sorted[d]
            lo_out[d] = np.searchsorted(s, bounds[0, d], side="left")
            lo_in[d] = np.searchsorted(s, bounds[1, d], side="left")
            hi_in[d] = np.searchsorted(s, bounds[2, d], side="right")
            hi_out[d] = np.searchsorted(s, bounds[3, d], side="right")
        empty = lo_in >= hi_in
        lo_in = np.where(empty, hi_out, lo_in)
        hi_in = np.where(empty, hi_out, hi_in)
        a = -(-lo_in // g) * g
        e = hi_in // g * g
        core = a < e
        a = np.where(core, a, hi_in)
        e = np.where(core, e, hi_in)
        base = (np.arange(dims) * self.rows)[:, None]
        flat_tables = self.tables.reshape(dims * self.rows, words)
        slabs, other = scratch[0][:dims * b], scratch[1][:dims * b]
        np.take(flat_tables, (base + np.where(core, e // g, 0)).ravel(), axis=0, out=slabs)  # ranks below e
        np.take(flat_tables, (base + np.where(core, a // g, 0)).ravel(), axis=0, out=other)  # ranks below a
        slabs ^= other  # ranks in [a, e) (the rows are nested prefixes)
        # single bits (q = d * b + query): definite ends [lo_in, a) and [e, hi_in), uncertain margins tested exactly
        q1, r1 = _ragged(lo_in.ravel(), a.ravel())
        q2, r2 = _ragged(e.ravel(), hi_in.ravel())
        q3, r3 = _ragged(lo_out.ravel(), np.minimum(lo_in, hi_out).ravel())
        q4, r4 = _ragged(np.maximum(hi_in, lo_out).ravel(), hi_out.ravel())
        qm = np.concatenate([q3, q4])
        rm = np.concatenate([r3, r4])
        if rm.size:
            dm = qm // b
            keep = np.abs(self.sorted[dm, rm] - c.ravel()[qm]) <= rad.ravel()[qm]
            qm, rm = qm[keep], rm[keep]
        q = np.concatenate([q1, q2, qm])
        r = np.concatenate([r1, r2, rm])
        if r.size:
            p = self.order[q // b, r]  # point ids
            np.bitwise_or.at(slabs.reshape(-1), q * words + p // 64,  # q indexes (d, query) pairs
                             np.left_shift(_ONE, (p % 64).astype(np.uint64)))
        return np.bitwise_and.reduce(slabs.reshape(dims, b, words), axis=0, out=out)


def _members(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, point index) of every set bit of a ``(b, words)`` block."""
    nz = np.flatnonzero(bits)
    if nz.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    words = bits.shape[1]
    vals = bits.reshape(-1)[nz].astype("<u8")
    unpacked = np.unpackbits(vals.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    which, pos = np.nonzero(unpacked)
    return nz[which] // words, (nz[which] % words) * 64 + pos


def _max_abs_diff(v: np.ndarray, rows: np.ndarray, centres: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``max_d |v[idx, d] - centres[rows, d]|`` (the k-d tree's max-norm, in float64)."""
    out = np.abs(v[idx, 0] - centres[rows, 0])
    for d in range(1, v.shape[1]):
        np.maximum(out, np.abs(v[idx, d] - centres[rows, d]), out=out)
    return out


def _segment_start(rows: np.ndarray, b: int) -> np.ndarray:
    return np.searchsorted(rows, np.arange(b), side="left")


def ksg_counts_bitset(x: np.ndarray, y: np.ndarray, k: int, upper: np.ndarray, workers: int = 1,
                      table_bytes: int = 512 * 2**20, block: int = 64, group: int | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact KSG-1 quantities from upper bounds on the joint k-NN radius.

    Parameters
    ----------
    x : (n, dx) float64
    y : (n, dy) float64
    k : int
    upper : (n,) float64
        ``upper[i] >=`` the max-norm distance from ``i`` to its ``k``-th neighbour in the joint
        space (e.g. from an approximate k-d tree query); tighter is faster, any valid bound is exact.
    workers : int
        Threads over blocks of queries.
    table_bytes : int
        Memory budget of the rank tables (both views).
    block : int
        Queries per block.
    group : int, optional
        ``G``; by default the smallest that fits ``table_bytes`` (at least 16).

    Returns
    -------
    eps : (n,) float64
        Joint max-norm distance to the ``k``-th neighbour (self excluded), as a k-d tree gives it.
    nx, ny : (n,) int64
        Points other than ``i`` strictly closer than ``eps[i]`` in ``x`` / ``y``, counted as
        ``fl(|.|) <= nextafter(eps, 0)`` exactly like ``cKDTree.query_ball_point``.
    """
    n = x.shape[0]
    dims = x.shape[1] + y.shape[1]
    if group is None:
        per_group = dims * ((n + 63) // 64) * 8 * n  # table bytes times G
        group = max(16, math.ceil(per_group / max(table_bytes, 1)))
    vx, vy = RankBitsets(x, group), RankBitsets(y, group)
    words = vx.words
    eps = np.empty(n)
    nx = np.empty(n, dtype=np.int64)
    ny = np.empty(n, dtype=np.int64)
    starts = list(range(0, n, block))

    def run(chunk: list[int]) -> None:
        bx = np.empty((block, words), dtype=np.uint64)
        by = np.empty((block, words), dtype=np.uint64)
        tmp = np.empty((block, words), dtype=np.uint64)
        work_x, work_y = vx.scratch(block), vy.scratch(block)
        for s in chunk:
            e = min(s + block, n)
            b = e - s
            cx, cy, u = x[s:e], y[s:e], upper[s:e]
            mx = vx.box_bits(cx, u, bx[:b], work_x)
            my = vy.box_bits(cy, u, by[:b], work_y)
            joint = np.bitwise_and(mx, my, out=tmp[:b])
            rows, idx = _members(joint)  # row-major: rows ascending
            dist = np.maximum(_max_abs_diff(vx.v, rows, cx, idx), _max_abs_diff(vy.v, rows, cy, idx))
            order = np.lexsort((dist, rows))
            first = _segment_start(rows[order], b)
            eps_b = dist[order][first + k]  # (k+1)-th smallest including the point itself
            eps[s:e] = eps_b
            # counts strictly within eps (<= nextafter(eps, 0)), as cKDTree.query_ball_point gives them
            r = np.nextafter(eps_b, 0)
            nx[s:e] = np.bitwise_count(vx.box_bits(cx, r, bx[:b], work_x)).sum(axis=1, dtype=np.int64) - 1
            ny[s:e] = np.bitwise_count(vy.box_bits(cy, r, by[:b], work_y)).sum(axis=1, dtype=np.int64) - 1

    workers = max(1, int(workers))
    if workers == 1 or len(starts) < 2:
        run(starts)
    else:
        parts = [starts[i::workers] for i in range(workers)]
        with ThreadPoolExecutor(workers) as pool:
            for f in [pool.submit(run, p) for p in parts]:
                f.result()
    return eps, nx, ny
