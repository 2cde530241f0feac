"""Jointly Gaussian view pairs: any covariance, per-dimension pairs, sparse and dense interactions.

Every sampler here is a :class:`JointGaussian`: it owns ONE joint covariance ``Sigma`` (float64),
samples ``(x, y) = L eps`` with ``L`` the Cholesky factor of ``Sigma``, and reports
``I(x; y) = 1/2 (log det S_xx + log det S_yy - log det S)`` from that same matrix. The families
only differ in how they build ``Sigma`` and in the closed forms / inverses they offer (which the
tests check against the generic formula).

References
----------
Czyz, Grabowski, Vogt, Beerenwinkel & Marx (2023), "Beyond Normal: On the Evaluation of Mutual
Information Estimators", NeurIPS (the sparse / dense interaction families of the bmi benchmark).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mibound.data.base import Sampler
from mibound.functional.analytic import _as_covariance, _cholesky, gaussian_mi, mi_from_canonical, rho_from_mi
from mibound.inputs.checks import check_float, check_int

__all__ = ["JointGaussian", "CorrelatedPairs", "SparseInteraction", "DenseInteraction"]


class JointGaussian(Sampler):
    """Zero-mean jointly Gaussian ``(x, y)`` with any positive-definite joint covariance.

    Parameters
    ----------
    cov : array_like, shape (dx + dy, dx + dy)
        Joint covariance of ``(x, y)``; symmetric positive definite.
    dim_x : int
        Number of leading coordinates that belong to ``x``.

    Examples
    --------
    >>> s = JointGaussian([[1.0, 0.5], [0.5, 1.0]], dim_x=1)
    >>> round(s.mutual_information(), 6)
    0.143841
    """

    def __init__(self, cov, dim_x: int):
        cov = _as_covariance(cov, dim_x)
        self._chol = _cholesky(cov, "cov")
        self._cov = cov
        self._cov.setflags(write=False)
        self.dim_x = int(dim_x)
        self.dim_y = cov.shape[0] - self.dim_x
        self._mi: float | None = None

    def covariance(self) -> np.ndarray:
        """The joint covariance of ``(x, y)``, shape ``(dx + dy, dx + dy)``, float64 (a copy)."""
        return np.array(self._cov)

    def canonical_correlations(self) -> np.ndarray:
        """Canonical correlations of ``Sigma`` in decreasing order, shape ``(min(dx, dy),)``."""
        from mibound.functional.analytic import canonical_correlations

        return canonical_correlations(self._cov, self.dim_x)

    def mutual_information(self) -> float:
        """Exact ``I(x; y)`` in nats from the joint covariance (Cholesky log-determinants, float64)."""
        if self._mi is None:
            self._mi = gaussian_mi(self._cov, self.dim_x)
        return self._mi

    def _sample_torch(self, n, generator, dtype):
        chol = torch.as_tensor(self._chol, dtype=torch.float64)
        eps = torch.randn(n, chol.shape[0], generator=generator, dtype=torch.float64)
        z = (eps @ chol.T).to(dtype)
        return z[:, :self.dim_x], z[:, self.dim_x:]

    def __repr__(self) -> str:
        return (f"JointGaussian(dim_x={self.dim_x}, dim_y={self.dim_y}, "
                f"mi={self.mutual_information():.4g} nats)")


class CorrelatedPairs(JointGaussian):
    """``d`` independent pairs ``(x_i, y_i)``, unit variances, correlation ``rho_i`` each.

    Exact MI ``-1/2 sum_i log(1 - rho_i^2)`` nats (the canonical correlations are ``|rho_i|``).

    Parameters
    ----------
    rho : array_like of float, shape (d,)
        Per-dimension correlations in ``(-1, 1)``.
    """

    def __init__(self, rho):
        rho = np.atleast_1d(np.asarray(rho, dtype=np.float64))
        if rho.ndim != 1 or rho.size == 0:
            raise ValueError(f"rho must be a non-empty 1-D sequence of correlations, got shape {rho.shape}")
        if not np.all(np.isfinite(rho)) or np.any(np.abs(rho) >= 1):
            raise ValueError(f"every rho must be finite and in (-1, 1), got {rho.tolist()}")
        self.rho = rho
        d = rho.size
        eye = np.eye(d)
        super().__init__(np.block([[eye, np.diag(rho)], [np.diag(rho), eye]]), d)

    @classmethod
    def from_mi(cls, mi: float, dim: int, decay: float = 1.0) -> "CorrelatedPairs":
        """Pairs whose per-pair MI ``I_i`` is proportional to ``decay**i`` and sums to ``mi`` nats.

        ``decay = 1`` spreads ``mi`` evenly (the Poole et al. staircase); ``decay < 1`` puts most
        of it in the first pairs.
        """
        mi = check_float(mi, "mi", minimum=0.0)
        dim = check_int(dim, "dim", minimum=1)
        decay = check_float(decay, "decay", minimum=0.0, exclusive_min=True)
        weights = decay ** np.arange(dim)
        per_pair = mi * weights / weights.sum()
        return cls([rho_from_mi(float(m), 1) for m in per_pair])

    def closed_form_mi(self) -> float:
        """``-1/2 sum log(1 - rho_i^2)`` (equals :meth:`mutual_information`)."""
        return mi_from_canonical(np.abs(self.rho))

    def __repr__(self) -> str:
        return f"CorrelatedPairs(dim={self.rho.size}, mi={self.mutual_information():.4g} nats)"


class SparseInteraction(JointGaussian):
    """Only ``n_interacting`` coordinate pairs ``(x_i, y_i)`` are correlated (by ``rho``); the rest is noise.

    All variances are 1; ``Cov(x_i, y_i) = rho`` for ``i < n_interacting``, every other
    covariance is 0. Exact MI ``-(n_interacting / 2) log(1 - rho^2)`` nats (bmi's "sparse" family).

    Parameters
    ----------
    dim_x, dim_y : int
    n_interacting : int
        ``1 <= n_interacting <= min(dim_x, dim_y)``.
    rho : float
        In ``(-1, 1)``.
    """

    def __init__(self, dim_x: int, dim_y: int, n_interacting: int, rho: float):
        dim_x = check_int(dim_x, "dim_x", minimum=1)
        dim_y = check_int(dim_y, "dim_y", minimum=1)
        self.n_interacting = check_int(n_interacting, "n_interacting", minimum=1, maximum=min(dim_x, dim_y))
        self.rho = check_float(rho, "rho", minimum=-1.0, maximum=1.0, exclusive_min=True, exclusive_max=True)
        cov = np.eye(dim_x + dim_y)
        idx = np.arange(self.n_interacting)
        cov[idx, dim_x + idx] = cov[dim_x + idx, idx] = self.rho
        super().__init__(cov, dim_x)

    @classmethod
    def from_mi(cls, mi: float, dim_x: int, dim_y: int, n_interacting: int) -> "SparseInteraction":
        """The sparse family with ``mi`` nats spread evenly over ``n_interacting`` pairs."""
        n_interacting = check_int(n_interacting, "n_interacting", minimum=1)
        return cls(dim_x, dim_y, n_interacting, rho_from_mi(mi, n_interacting))

    def closed_form_mi(self) -> float:
        return -0.5 * self.n_interacting * math.log1p(-self.rho**2)

    def __repr__(self) -> str:
        return (f"SparseInteraction(dim_x={self.dim_x}, dim_y={self.dim_y}, n_interacting={self.n_interacting}, "
                f"rho={self.rho:.6g}, mi={self.mutual_information():.4g} nats)")


class DenseInteraction(JointGaussian):
    """Every ``x_i`` correlates with every ``y_j`` (dense off-diagonal block; bmi's "dense" family).

    ``Sigma_xx = (1 - a) I + a 11^T``, ``Sigma_yy = (1 - b) I + b 11^T`` and
    ``Sigma_xy = c 11^T`` (unit variances). ``Sigma_xy`` has rank one, so there is one canonical
    correlation ``rho = c sqrt(dx dy / ((1 + (dx - 1) a)(1 + (dy - 1) b)))`` and
    ``I = -1/2 log(1 - rho^2)`` nats.

    Parameters
    ----------
    dim_x, dim_y : int
    correlation : float
        ``c``, the cross correlation of every pair ``(x_i, y_j)``.
    correlation_x, correlation_y : float, default 0
        ``a`` and ``b``, the correlations within each view (``-1/(d - 1) < a < 1``).
    """

    def __init__(self, dim_x: int, dim_y: int, correlation: float, correlation_x: float = 0.0,
                 correlation_y: float = 0.0):
        dim_x = check_int(dim_x, "dim_x", minimum=1)
        dim_y = check_int(dim_y, "dim_y", minimum=1)
        self.correlation = check_float(correlation, "correlation", minimum=-1.0, maximum=1.0)
        self.correlation_x = check_float(correlation_x, "correlation_x", minimum=-1.0, maximum=1.0,
                                         exclusive_max=True)
        self.correlation_y = check_float(correlation_y, "correlation_y", minimum=-1.0, maximum=1.0,
                                         exclusive_max=True)
        lam_x, lam_y = self._top_eigenvalues(dim_x, dim_y, self.correlation_x, self.correlation_y)
        if min(lam_x, lam_y) <= 0 or min(1 - self.correlation_x, 1 - self.correlation_y) <= 0:
            raise ValueError(f"correlation_x={correlation_x} / correlation_y={correlation_y} do not give positive "
                             f"definite blocks; need -1/(d - 1) < correlation_x, correlation_y < 1")
        limit = math.sqrt(lam_x * lam_y / (dim_x * dim_y))
        if abs(self.correlation) >= limit:
            raise ValueError(f"|correlation| must be < {limit:.6g} for dim_x={dim_x}, dim_y={dim_y}, "
                             f"correlation_x={correlation_x}, correlation_y={correlation_y}; got {correlation}")
        sxx = (1 - self.correlation_x) * np.eye(dim_x) + self.correlation_x
        syy = (1 - self.correlation_y) * np.eye(dim_y) + self.correlation_y
        sxy = np.full((dim_x, dim_y), self.correlation)
        super().__init__(np.block([[sxx, sxy], [sxy.T, syy]]), dim_x)

    @staticmethod
    def _top_eigenvalues(dim_x, dim_y, a, b) -> tuple[float, float]:
        return 1 + (dim_x - 1) * a, 1 + (dim_y - 1) * b

    def closed_form_mi(self) -> float:
        """``-1/2 log(1 - rho^2)`` with the single canonical correlation ``rho`` (see class docs)."""
        lam_x, lam_y = self._top_eigenvalues(self.dim_x, self.dim_y, self.correlation_x, self.correlation_y)
        rho2 = self.correlation**2 * self.dim_x * self.dim_y / (lam_x * lam_y)
        return -0.5 * math.log1p(-rho2)

    @classmethod
    def from_mi(cls, mi: float, dim_x: int, dim_y: int, correlation_x: float = 0.0,
                correlation_y: float = 0.0) -> "DenseInteraction":
        """The dense family with ``mi`` nats (exact inverse of :meth:`closed_form_mi`, ``c >= 0``)."""
        dim_x = check_int(dim_x, "dim_x", minimum=1)
        dim_y = check_int(dim_y, "dim_y", minimum=1)
        lam_x, lam_y = cls._top_eigenvalues(dim_x, dim_y, correlation_x, correlation_y)
        rho = rho_from_mi(mi, 1)
        return cls(dim_x, dim_y, rho * math.sqrt(lam_x * lam_y / (dim_x * dim_y)), correlation_x, correlation_y)

    def __repr__(self) -> str:
        return (f"DenseInteraction(dim_x={self.dim_x}, dim_y={self.dim_y}, correlation={self.correlation:.6g}, "
                f"correlation_x={self.correlation_x:.6g}, correlation_y={self.correlation_y:.6g}, "
                f"mi={self.mutual_information():.4g} nats)")
