"""Wide views (64 to 1024 dimensions per view) with exact MI, and digit label pairs (an upper bound).

:class:`WideEmbedding` — embedding-like views of a low-dimensional Gaussian latent
    A correlated Gaussian latent pair ``(u, v)``, ``k`` dimensions each, per-coordinate correlation
    ``rho`` (``I(u; v) = -(k/2) log(1 - rho^2)``), each lifted into ``D`` dimensions by its own seeded
    map ``x = R h(A u + sigma eta)``: a full-rank linear lift ``A`` (``D x k``), optional isotropic
    noise ``eta ~ N(0, I_D)`` in the ``D`` dimensions (``sigma > 0``: the views then fill all ``D``
    dimensions, as real embeddings do), a strictly increasing elementwise map ``h`` (a different
    one per column) and a random rotation ``R`` (``D x D`` orthogonal). The construction of the
    latent-MI benchmarks of Gowri et al. (2024, "Approximating mutual information of high-dimensional
    variables using learned representations", LMI), with our own maps and seeds.

    Exact MI. ``h`` and ``R`` are injective, so ``I(x; y) = I(A u + sigma eta; B v + sigma eta')``.
    Without noise ``A`` is injective on the latent: ``I = I(u; v)``. With noise, the sufficient
    statistic of ``u`` in ``A u + sigma eta`` is ``(A^T A)^{-1} A^T (.) = u + n``,
    ``n ~ N(0, sigma^2 (A^T A)^{-1})`` (GROUND_TRUTH.md, "linear rendering with noise"), so
    ``I = I(u + n; v + n')``: the MI of a ``2k``-dimensional Gaussian
    (:func:`~mibound.functional.analytic.gaussian_mi`), computed in float64 in ``O(k^3)``.

:class:`DigitLabelPairs` — real images paired through their labels
    scikit-learn's 1797 ``8 x 8`` digit images (they ship with scikit-learn, offline), 64 pixels a
    view. ``x`` is a uniformly drawn image of class ``c``; ``y`` an image of the same class with
    probability ``1 - beta`` (another image of that class where the class has one), else an image of
    another class ``c' != c`` drawn uniformly among the other classes (Lee & Rhee 2024). ``x - c - c'
    - y`` is a Markov chain, so ``I(x; y) <= I(c; c')`` (:func:`label_pair_mi`, exact from the
    joint table), with equality when the class is readable from the image. The task's
    ``mutual_information()`` is this **upper bound**: ``truth = "upper_bound"`` on the sampler.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mibound.data.base import Sampler
from mibound.functional.analytic import gaussian_mi, mi_from_rho, rho_from_mi
from mibound.inputs.checks import check_float, check_int, check_seed

__all__ = ["WideEmbedding", "DigitLabelPairs", "label_pair_mi", "increasing_maps"]


def increasing_maps(d: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parameters ``(kind, a, b)`` of ``d`` strictly increasing elementwise maps (one per column).

    ``kind 0``: ``a z + tanh(b z)``; ``kind 1``: ``asinh(b z) + a z``; ``kind 2``: ``a z + softplus(b z)``
    — each has derivative ``>= a > 0`` everywhere, so it is strictly increasing (injective).
    """
    rng = np.random.default_rng(check_seed(seed))
    return rng.integers(0, 3, size=d), rng.uniform(0.3, 1.0, size=d), rng.uniform(1.0, 3.0, size=d)


def _apply_maps(z: torch.Tensor, kind: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    bz = b * z
    out = torch.where(kind == 0, torch.tanh(bz), torch.where(kind == 1, torch.asinh(bz),
                                                            torch.nn.functional.softplus(bz)))
    return a * z + out


class WideEmbedding(Sampler):
    """A ``k``-dimensional correlated Gaussian latent embedded in ``D`` dimensions per view (exact MI).

    See the module notes for the construction and the MI.

    Parameters
    ----------
    mi : float
        ``I(u; v)`` of the latent in nats (> 0): per-coordinate correlation ``rho_from_mi(mi, k)``.
    k : int
        Latent dimensions per view (1 to 32).
    dim : int
        ``D``, dimensions per view (``>= k``).
    noise : float, default 0.0
        ``sigma`` of the isotropic noise added after the lift (``0``: noise-free; the views then lie
        on a ``k``-dimensional manifold). The MI with noise is below ``mi`` (:meth:`mutual_information`).
    seed : int, default 0
        Seeds the maps (lift, elementwise maps, rotation) of both views; sampling has its own seed.
    scale : float, default 1.0
        Lift entries ``N(0, scale^2 / k)``.

    Attributes
    ----------
    rho : float
        The latent's per-coordinate correlation.
    """

    def __init__(self, mi: float, k: int, dim: int, noise: float = 0.0, seed: int = 0, scale: float = 1.0):
        self.latent_mi = check_float(mi, "mi", minimum=0.0, exclusive_min=True)
        self.k = check_int(k, "k", minimum=1)
        if self.k > 32:
            raise ValueError(f"k must be at most 32 latent dimensions, got {k}")
        self.dim_x = self.dim_y = check_int(dim, "dim", minimum=1)
        if self.dim_x < self.k:
            raise ValueError(f"dim must be at least k = {self.k} (an injective lift), got {dim}")
        self.noise = check_float(noise, "noise", minimum=0.0)
        self.scale = check_float(scale, "scale", minimum=0.0, exclusive_min=True)
        self.seed = check_seed(seed)
        self.rho = rho_from_mi(self.latent_mi, self.k)
        rng = np.random.default_rng(self.seed)
        self.lifts = [rng.normal(0.0, self.scale / math.sqrt(self.k), size=(self.dim_x, self.k)) for _ in range(2)]
        self.rotations = []
        for _ in range(2):
            q, r = np.linalg.qr(rng.normal(size=(self.dim_x, self.dim_x)))
            self.rotations.append(q * np.sign(np.diag(r)))  # Haar-distributed orthogonal matrix
        self.maps = [increasing_maps(self.dim_x, int(rng.integers(2**31))) for _ in range(2)]

    def latent_cov(self) -> np.ndarray:
        """The ``2k x 2k`` covariance of the sufficient statistics ``(u + n, v + n')`` (float64)."""
        k = self.k
        cov = np.block([[np.eye(k), self.rho * np.eye(k)], [self.rho * np.eye(k), np.eye(k)]])
        if self.noise > 0:
            for i, a in enumerate(self.lifts):
                sl = slice(i * k, (i + 1) * k)
                cov[sl, sl] += self.noise**2 * np.linalg.inv(a.T @ a)
        return cov

    def mutual_information(self) -> float:
        """Exact ``I(x; y)`` in nats (the latent's MI without noise; see the module notes with noise)."""
        if self.noise == 0:
            return mi_from_rho(self.rho, self.k)
        return gaussian_mi(self.latent_cov(), self.k)

    def _sample_torch(self, n, generator, dtype):
        k = self.k
        z = torch.randn(n, 2 * k, generator=generator, dtype=torch.float64)
        u = z[:, :k]
        v = self.rho * u + math.sqrt(1 - self.rho**2) * z[:, k:]
        out = []
        for lat, a, r, (kind, ca, cb) in zip((u, v), self.lifts, self.rotations, self.maps):
            h = lat @ torch.from_numpy(a).T
            if self.noise > 0:
                h = h + self.noise * torch.randn(n, self.dim_x, generator=generator, dtype=torch.float64)
            h = _apply_maps(h, torch.from_numpy(kind), torch.from_numpy(ca), torch.from_numpy(cb))
            out.append((h @ torch.from_numpy(r).T).to(dtype))
        return out[0], out[1]

    def __repr__(self) -> str:
        return (f"WideEmbedding(mi={self.latent_mi:g}, k={self.k}, dim={self.dim_x}, noise={self.noise:g}, "
                f"seed={self.seed}; I(x;y)={self.mutual_information():.4g} nats)")


def label_pair_mi(beta: float, class_probs) -> float:
    """Exact ``I(c; c')`` in nats: ``c ~ pi``; ``c' = c`` with probability ``1 - beta``, else uniform on the others.

    Parameters
    ----------
    beta : float in [0, 1]
    class_probs : array_like, shape (m,), m >= 2

    Returns
    -------
    float
        ``sum P(c, c') log(P(c, c') / (P(c) P(c')))`` in nats (float64).
    """
    beta = check_float(beta, "beta", minimum=0.0, maximum=1.0)
    pi = np.asarray(class_probs, dtype=np.float64)
    if pi.ndim != 1 or pi.size < 2 or np.any(pi < 0) or not np.isclose(pi.sum(), 1.0):
        raise ValueError(f"class_probs must be a probability vector of at least 2 classes, got {class_probs!r}")
    m = pi.size
    cond = np.full((m, m), beta / (m - 1))
    np.fill_diagonal(cond, 1.0 - beta)
    joint = pi[:, None] * cond
    marg = joint.sum(0)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log(joint[nz] / (pi[:, None] * marg[None, :])[nz])))


class DigitLabelPairs(Sampler):
    """scikit-learn's digit images paired through their labels; truth ``I(c; c')`` is an upper bound.

    Parameters
    ----------
    beta : float in [0, 1)
        Probability that ``y`` shows another class than ``x``.
    images : ndarray, shape (m, 8, 8) or (m, 64), optional
        Default: ``sklearn.datasets.load_digits()`` scaled to ``[0, 1]`` (pixel values 0..16 / 16).
    labels : ndarray, shape (m,), optional

    Attributes
    ----------
    truth : str
        ``"upper_bound"``: :meth:`mutual_information` is ``I(c; c') >= I(x; y)``.
    """

    truth = "upper_bound"
    exact = False

    def __init__(self, beta: float, images=None, labels=None):
        self.beta = check_float(beta, "beta", minimum=0.0, maximum=1.0, exclusive_max=True)
        if images is None:
            from sklearn.datasets import load_digits

            d = load_digits()
            images, labels = d.images / 16.0, d.target
        if labels is None:
            raise ValueError("labels are required with images")
        img = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        lab = np.asarray(labels).ravel()
        if len(img) != len(lab):
            raise ValueError(f"images and labels must have the same length, got {len(img)} and {len(lab)}")
        self.classes, lab_idx = np.unique(lab, return_inverse=True)
        if len(self.classes) < 2:
            raise ValueError(f"need at least 2 classes, got {len(self.classes)}")
        self.images, self.labels = img, lab_idx
        self.class_probs = np.bincount(lab_idx) / len(lab_idx)
        self.members = [np.flatnonzero(lab_idx == c) for c in range(len(self.classes))]
        self.dim_x = self.dim_y = img.shape[1]

    def mutual_information(self) -> float:
        """``I(c; c')`` in nats: an **upper bound** on ``I(x; y)`` (equal when the class is readable)."""
        return label_pair_mi(self.beta, self.class_probs)

    def _sample_torch(self, n, generator, dtype):
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))
        m = len(self.classes)
        i = rng.integers(0, len(self.images), size=n)
        c = self.labels[i]
        other = (c + rng.integers(1, m, size=n)) % m  # uniform on the other classes
        c2 = np.where(rng.random(n) < 1.0 - self.beta, c, other)
        j = np.empty(n, dtype=np.int64)
        for cls in range(m):
            sel = np.flatnonzero(c2 == cls)
            pool = self.members[cls]
            pick = pool[rng.integers(0, len(pool), size=len(sel))]
            if len(pool) > 1:  # the same class: another image of it, not the same one
                same = pick == i[sel]
                while same.any():
                    pick[same] = pool[rng.integers(0, len(pool), size=int(same.sum()))]
                    same = pick == i[sel]
            j[sel] = pick
        x = torch.from_numpy(self.images[i]).to(dtype)
        y = torch.from_numpy(self.images[j]).to(dtype)
        return x, y

    def __repr__(self) -> str:
        return f"DigitLabelPairs(beta={self.beta:g}; I(c;c')={self.mutual_information():.4g} nats, an upper bound)"
