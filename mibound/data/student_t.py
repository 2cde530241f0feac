"""Multivariate Student-t view pairs: heavy tails with a closed-form MI.

``(x, y) = z / sqrt(w / nu)`` with ``z ~ N(0, Sigma)`` and ``w ~ chi^2_nu`` shared by both views.
Marginals of a multivariate t are t with the same ``nu`` and the sub-blocks of ``Sigma``, and the
differential entropy of a ``d``-dimensional t with scale ``Sigma`` is::

    h = 1/2 log det Sigma + d/2 log(nu pi) + log Gamma(nu/2) - log Gamma((nu + d)/2)
        + (nu + d)/2 [psi((nu + d)/2) - psi(nu/2)].

``I = h(x) + h(y) - h(x, y)`` therefore splits into the Gaussian MI of the scale matrix plus a
correction that depends only on ``nu``, ``dx`` and ``dy`` (the ``log(nu pi)`` terms cancel)::

    I = I_gauss(Sigma) + c(nu, dx, dy)
    c = log G(nu/2) + log G((nu + dx + dy)/2) - log G((nu + dx)/2) - log G((nu + dy)/2)
        + (nu + dx)/2 psi((nu + dx)/2) + (nu + dy)/2 psi((nu + dy)/2)
        - (nu + dx + dy)/2 psi((nu + dx + dy)/2) - nu/2 psi(nu/2)

``c > 0``: even with ``Sigma_xy = 0`` the shared scale ``w`` makes the views dependent; ``c -> 0``
as ``nu -> inf`` (the Gaussian limit). The tests check this against a Monte-Carlo average of
``log p(x, y) - log p(x) - log p(y)`` with :class:`scipy.stats.multivariate_t` densities.

References
----------
Kotz & Nadarajah (2004), *Multivariate t Distributions and Their Applications*, Cambridge
(entropy, eq. 1.19). Czyz et al. (2023), "Beyond Normal", NeurIPS (the Student-t tasks of bmi).
"""

from __future__ import annotations

import numpy as np
import torch

from mibound.data.base import Sampler
from mibound.functional.analytic import _as_covariance, _cholesky, gaussian_mi, student_t_correction
from mibound.inputs.checks import check_float, check_int

__all__ = ["MultivariateStudentT", "student_t_correction", "student_t_mi"]


def student_t_mi(scale, dim_x: int, df: float) -> float:
    """Exact ``I(x; y)`` (nats) of a multivariate t with scale matrix ``scale`` and ``df`` degrees of freedom."""
    scale = _as_covariance(scale, dim_x)
    return gaussian_mi(scale, dim_x) + student_t_correction(df, dim_x, scale.shape[0] - dim_x)


class MultivariateStudentT(Sampler):
    """Heavy-tailed pair: a multivariate Student-t with scale ``Sigma`` and ``df`` degrees of freedom.

    ``(x, y) = z * sqrt(df / w)`` with ``z ~ N(0, Sigma)``, ``w ~ chi^2_df``. Exact MI
    ``I_gauss(Sigma) + c(df, dx, dy)`` (see :func:`student_t_correction`).

    Parameters
    ----------
    scale : array_like, shape (dx + dy, dx + dy)
        Joint scale matrix (the covariance is ``df / (df - 2) * scale`` for ``df > 2``).
    dim_x : int
    df : float
        Degrees of freedom ``> 0``; small values give heavy tails.
    """

    def __init__(self, scale, dim_x: int, df: float):
        scale = _as_covariance(scale, dim_x)
        self._chol = _cholesky(scale, "scale")
        self._scale = scale
        self._scale.setflags(write=False)
        self.df = check_float(df, "df", minimum=0.0, exclusive_min=True)
        self.dim_x = int(dim_x)
        self.dim_y = scale.shape[0] - self.dim_x
        self._mi = student_t_mi(scale, self.dim_x, self.df)

    @classmethod
    def correlated(cls, rho: float, dim: int, df: float) -> "MultivariateStudentT":
        """``dim`` pairs with scale correlation ``rho`` each (``rho = 0``: dependent only through the tails)."""
        rho = check_float(rho, "rho", minimum=-1.0, maximum=1.0, exclusive_min=True, exclusive_max=True)
        dim = check_int(dim, "dim", minimum=1)
        eye = np.eye(dim)
        return cls(np.block([[eye, rho * eye], [rho * eye, eye]]), dim, df)

    def scale_matrix(self) -> np.ndarray:
        """The joint scale matrix ``Sigma`` (float64, a copy)."""
        return np.array(self._scale)

    def gaussian_part(self) -> float:
        """``I_gauss(Sigma)``, the MI the same scale matrix would carry without the shared tails."""
        return gaussian_mi(self._scale, self.dim_x) + 0.0  # no "-0"

    def tail_correction(self) -> float:
        """``c(df, dx, dy)``: the MI the shared chi-square scale adds."""
        return student_t_correction(self.df, self.dim_x, self.dim_y)

    def mutual_information(self) -> float:
        return self._mi

    def _sample_torch(self, n, generator, dtype):
        chol = torch.as_tensor(self._chol, dtype=torch.float64)
        z = torch.randn(n, chol.shape[0], generator=generator, dtype=torch.float64) @ chol.T
        # torch's gamma sampler takes no generator: seed numpy's from the torch stream (reproducible).
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        w = np.random.default_rng(seed).chisquare(self.df, size=n)
        scale = torch.as_tensor(np.sqrt(self.df / w), dtype=torch.float64)[:, None]
        xy = (z * scale).to(dtype)
        return xy[:, :self.dim_x], xy[:, self.dim_x:]

    def __repr__(self) -> str:
        return (f"MultivariateStudentT(dim_x={self.dim_x}, dim_y={self.dim_y}, df={self.df:g}, "
                f"mi={self._mi:.4g} nats = gaussian {self.gaussian_part():.4g} + tails {self.tail_correction():.4g})")
