"""``latent``: MI of wide views (64 to 1024+ dimensions) through learned low-dimensional representations.

Protocol
--------
The rows are split once by a :class:`~mibound.neural.plan.FitPlan` (seeded; by default 40% train,
20% validation, 40% test, as in ``auto``, so the two see the same rows in each part).

1. **Representation, on the training rows.** Each view's columns are standardised and projected on
   their top ``pca_dim`` principal components (so a 1024-dimensional view costs a ``pca_dim``-
   dimensional one from here on). ``encoder="cca"``: the top ``m`` canonical variates of
   the two projections (a linear map per view, fitted on the training rows); ``encoder="critic"``:
   the ``m``-dimensional embeddings ``g(x)``, ``h(y)`` of a separable InfoNCE critic trained on the
   projections of the training rows by the one fit driver (:class:`~mibound.estimators.NeuralEstimator`,
   which picks its checkpoint on its own validation share of the training rows).
2. **Latent dimension.** ``latent_dim="auto"``: the linear rank of the views where their principal
   spectrum has a clear gap (an eigenvalue ratio above ``GAP_RATIO``), the smaller of the two views'
   ranks; without a gap, the views' intrinsic dimension (TwoNN at neighbours 10 and 20, Facco et
   al. 2017, on the training projections), capped at ``max_latent_dim``. Measured on the wide
   family (:mod:`mibound.data.wide`): canonical variates beyond the latent's dimension carry
   nonlinear harmonics of it, which a Gaussian-copula readout over-reads (+40-75% at ``m = 8`` for a
   ``k = 2`` latent), while at ``m = k`` it reads within 4%.
   ``encoder="auto"`` (default): ``cca`` where the views are low-rank (a gap), else both, the larger
   validation readout wins (measured: CCA wins on noisy views without a gap, the critic on digit images).
3. **Readout, on held-out rows.** ``readout`` (by default gcmi for CCA, KSG for the critic; or
   ``flow``) on the validation rows' representations (``settings["validation_value"]``, what ``auto``
   compares, and the choice of encoder) and on the test rows' (the reported estimate and its
   interval — rows no choice has seen).

Memory maps
-----------
Views given as ``numpy.memmap`` (``np.load(path, mmap_mode="r")``, ``mibound estimate --mmap x.npy y.npy
--estimator latent``) are never read whole: the principal axes come from two passes over the
training rows ``CHUNK_ROWS`` at a time (mean and scale, then the ``d x d`` covariance) and one pass
projects every row, with a progress bar; memory is ``O(d^2 + n * pca_dim)``, not ``O(n d)``. Values
are checked (finite) chunk by chunk; constant columns are kept (they add nothing to the covariance).

What the number is
------------------
An estimate of ``I(f(x); g(y))`` for maps ``f, g`` learned on other rows. By the data-processing
inequality ``I(f(x); g(y)) <= I(x; y)``, so it is a **floor** on the MI up to the readout's own error
(gcmi can overshoot on non-Gaussian representations; KSG usually under-reads). ``is_bound=False``
(the readout is not a bound); the ``floor`` diagnostic says so on every result. The interval is
the readout's (half-samples of the test rows): it covers resampling of those rows, not the loss of
the compression nor the readout's bias.

References
----------
Gowri, Lun, Klein & Yin (2024), "Approximating mutual information of high-dimensional variables
using learned representations" (LMI). Facco, d'Errico, Rodriguez & Laio (2017), "Estimating the
intrinsic dimension of datasets by a minimal neighborhood information", Sci. Rep. 7, 12140.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mibound.estimators.base import _Base
from mibound.inputs.checks import check_choice, check_float, check_int, check_seed
from mibound.neural.plan import FitPlan
from mibound.registry import LATENT_DEFAULTS as _L  # the signature's defaults (one source)
from mibound.results import EstimateResult, _versions, diagnostic

__all__ = ["LatentEstimator", "ENCODERS", "READOUTS", "GAP_RATIO", "principal_rank", "intrinsic_dimension"]

#: The learned representations (``"auto"``: ``cca`` where the views' spectrum has a gap, else ``cca`` and
#: ``critic``, the larger validation value wins).
ENCODERS = ("auto", "cca", "critic")
#: The low-dimensional estimators read on the representations (``"auto"``: ``DEFAULT_READOUT``).
READOUTS = ("auto", "gcmi", "ksg", "flow")
#: The readout of each encoder under ``readout="auto"``: gcmi on canonical variates (near Gaussian on the
#: wide family: within 4% where KSG under-reads by up to 22% at 4 nats), KSG on critic embeddings
#: (digit label pairs, beta = 0.05 / 0.3: 1.65 / 0.88 nats where gcmi reads 1.42 / 0.57).
DEFAULT_READOUT = {"cca": "gcmi", "critic": "ksg"}
#: A principal spectrum ``lambda_1 >= lambda_2 >= ...`` has a gap at ``r`` when ``lambda_r / lambda_{r+1}``
#: exceeds this (the wide family's signal/harmonic gap is 25-40 at 2000 training rows and 5.4-13 at 800
#: for k = 2, D = 64, six map seeds; digit images have none above 1.6).
GAP_RATIO = 4.0
#: Where the latent dimension ``m`` comes from a spectral gap, the CCA encoder reads the top
#: ``CCA_COMPONENTS * m`` principal components of each view.
CCA_COMPONENTS = 2
#: Training rows per projected column below which the ``few_samples`` diagnostic is given.
ROWS_PER_DIM = 10


def principal_rank(eigenvalues: np.ndarray, max_rank: int) -> int | None:
    """The rank ``r <= max_rank`` at the largest spectral gap ``lambda_r / lambda_{r+1} > GAP_RATIO``, or ``None``.

    Parameters
    ----------
    eigenvalues : ndarray, shape (p,)
        Principal variances, decreasing.
    max_rank : int
    """
    ev = np.asarray(eigenvalues, dtype=np.float64)
    ev = ev[: max_rank + 1]
    if ev.size < 2:
        return None
    ratios = ev[:-1] / np.maximum(ev[1:], 1e-300)
    r = int(np.argmax(ratios))
    return r + 1 if ratios[r] > GAP_RATIO else None


def intrinsic_dimension(z: np.ndarray, k1: int = 10, k2: int = 20) -> float:
    """TwoNN-type intrinsic dimension from the ratio of the ``k2``-th to the ``k1``-th neighbour distance.

    ``d = log(k2 / k1) / mean(log(r_k2 / r_k1))`` (the maximum-likelihood form of Facco et al. 2017
    at neighbours ``k1 < k2``; larger neighbours than TwoNN's 1 and 2 keep small noise from reading
    as dimensions). Rows with ``r_k1 = 0`` (duplicates) are left out.

    Parameters
    ----------
    z : ndarray, shape (n, p)
    """
    from scipy.spatial import cKDTree

    n = len(z)
    k2 = min(k2, n - 1)
    k1 = min(k1, k2 - 1)
    if k1 < 1:
        raise ValueError(f"intrinsic_dimension needs at least 3 rows, got {n}")
    d, _ = cKDTree(z).query(z, k=k2 + 1)
    r1, r2 = d[:, k1], d[:, k2]
    ok = (r1 > 0) & (r2 > r1)
    if not ok.any():
        return float("nan")
    return float(np.log(k2 / k1) / np.mean(np.log(r2[ok] / r1[ok])))


def _principal(a: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, scale, the top-``p`` principal axes (``(d, p)``) and all principal variances of ``a`` (training rows)."""
    mean = a.mean(0)
    scale = a.std(0)
    scale[scale == 0] = 1.0
    z = (a - mean) / scale
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    return mean, scale, vt[:p].T, s**2 / max(len(a) - 1, 1)


#: Rows per chunk of a memory-mapped view (``1024`` float32 columns: 32 MiB).
CHUNK_ROWS = 8192


def _checked_maps(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Memory-mapped views as they are (2-D, numeric, the same rows); values are checked chunk by chunk."""
    out = []
    for a, name in ((x, "x"), (y, "y")):
        a = np.asarray(a) if not isinstance(a, np.memmap) else a
        if a.ndim == 1:
            a = a.reshape(-1, 1)
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n, d) when memory-mapped, got shape {a.shape}")
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
        out.append(a)
    if len(out[0]) != len(out[1]):
        raise ValueError(f"x and y must have the same number of samples (rows), got {len(out[0])} and {len(out[1])}")
    return out[0], out[1]


def _chunks(rows: np.ndarray):
    for i in range(0, len(rows), CHUNK_ROWS):
        yield rows[i:i + CHUNK_ROWS]


def _read(a, rows: np.ndarray, view: str) -> np.ndarray:
    block = np.asarray(a[rows], dtype=np.float64)
    if not np.isfinite(block).all():
        bad = rows[np.flatnonzero(~np.isfinite(block).all(1))[0]]
        raise ValueError(f"{view} has a NaN or infinite value in row {int(bad)}; clean the data first")
    return block


def _project_stream(a, train: np.ndarray, q: int, progress: bool, view: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_principal` and the projection of every row, reading a memory map ``CHUNK_ROWS`` rows at a time.

    Two passes over the training rows (mean and scale, then the ``d x d`` covariance of the standardised
    rows, eigen-decomposed) and one over all rows (the projection); memory ``O(d^2 + n q)``.

    Returns
    -------
    z : ndarray, shape (n, q)
    eigenvalues : ndarray, shape (d,)
    """
    from tqdm.auto import tqdm

    n, d = a.shape
    train = np.sort(train)
    total = 2 * len(train) + n
    with tqdm(total=total, desc=f"latent: {view} principal axes", unit="row", disable=not progress) as bar:
        s1, s2 = np.zeros(d), np.zeros(d)
        for rows in _chunks(train):
            b = _read(a, rows, view)
            s1 += b.sum(0)
            s2 += (b * b).sum(0)
            bar.update(len(rows))
        mean = s1 / len(train)
        scale = np.sqrt(np.maximum(s2 / len(train) - mean**2, 0.0))
        scale[scale == 0] = 1.0
        cov = np.zeros((d, d))
        for rows in _chunks(train):
            b = (_read(a, rows, view) - mean) / scale
            cov += b.T @ b
            bar.update(len(rows))
        ev, vec = np.linalg.eigh(cov / max(len(train) - 1, 1))
        ev, vec = ev[::-1], vec[:, ::-1]
        axes = vec[:, :q]
        bar.set_description(f"latent: {view} projection")
        z = np.empty((n, q))
        for rows in _chunks(np.arange(n)):
            z[rows] = ((_read(a, rows, view) - mean) / scale) @ axes
            bar.update(len(rows))
    return z, np.maximum(ev, 0.0)


def _whitener(z: np.ndarray, ridge: float = 1e-6) -> np.ndarray:
    c = np.cov(z, rowvar=False).reshape(z.shape[1], z.shape[1])
    c += ridge * np.trace(c) / len(c) * np.eye(len(c))
    w, v = np.linalg.eigh(c)
    return (v / np.sqrt(w)) @ v.T


#: Options of a readout estimator on the representations: KSG on per-column normal scores (the
#: representations' margins are whatever the encoder made them).
READOUT_OPTIONS: dict[str, dict[str, Any]] = {"ksg": {"transform": "normal"}}


class LatentEstimator(_Base):
    """MI between learned low-dimensional representations of the two views: a floor on ``I(x; y)``.

    See the module docstring for the protocol and what the number is.

    Parameters
    ----------
    latent_dim : int or "auto", default "auto"
        ``m``, dimensions of each view's representation (``"auto"``: the spectral gap, else the
        intrinsic dimension; see the module docstring).
    max_latent_dim : int, default 8
        Cap of ``latent_dim="auto"``.
    pca_dim : int, default 32
        Principal components kept per view before the encoder (fewer when a view has fewer columns
        or the training rows are fewer).
    encoder : {"auto", "cca", "critic"}, default "auto"
        ``"auto"``: ``cca`` alone where both views' principal spectra have a gap (low-rank views); otherwise
        ``cca`` (at the intrinsic dimension) and ``critic`` (at ``max_latent_dim``), and the one whose
        readout is larger on the validation rows is read on the test rows (both are floors by the DPI).
    readout : {"auto", "gcmi", "ksg", "flow"}, default "auto"
        ``"auto"``: gcmi for ``cca``, KSG (normal scores) for ``critic`` (``DEFAULT_READOUT``).
    test_fraction, validation_fraction : float, default 0.4 and 0.2
    seed : int, default 0
    n_subsamples : int, default 100
        Half-samples of the readout's interval (0: none).
    progress : bool, default True
        Progress bars of the critic encoder and of the passes over memory-mapped views.
    num_threads : int or None, default 1
        torch threads of the critic encoder.

    Attributes
    ----------
    result_ : EstimateResult
        ``settings["latent_dim"]``, ``settings["validation_value"]``, ``settings["intrinsic_dimension"]``
        (per view), ``settings["principal_rank"]`` (per view, ``None`` without a gap),
        ``settings["readout_settings"]``.
    """

    name = "latent"
    #: Learns encoders on its training rows (a permutation test refits it whole; :mod:`mibound.estimators.permutation`).
    learns_representation = True

    def __init__(self, latent_dim: int | str = _L["latent_dim"], max_latent_dim: int = _L["max_latent_dim"],
                 pca_dim: int = _L["pca_dim"], encoder: str = _L["encoder"], readout: str = _L["readout"],
                 test_fraction: float = _L["test_fraction"], validation_fraction: float = _L["validation_fraction"],
                 seed: int = _L["seed"], n_subsamples: int = _L["n_subsamples"], progress: bool = _L["progress"],
                 num_threads: int | None = _L["num_threads"]):
        self.latent_dim = latent_dim
        self.max_latent_dim = max_latent_dim
        self.pca_dim = pca_dim
        self.encoder = encoder
        self.readout = readout
        self.test_fraction = test_fraction
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.n_subsamples = n_subsamples
        self.progress = progress
        self.num_threads = num_threads

    def _checked(self) -> dict[str, Any]:
        p = dict(
            max_latent_dim=check_int(self.max_latent_dim, "max_latent_dim", minimum=1),
            pca_dim=check_int(self.pca_dim, "pca_dim", minimum=1),
            encoder=check_choice(self.encoder, ENCODERS, "encoder"),
            readout=check_choice(self.readout, READOUTS, "readout"),
            test_fraction=check_float(self.test_fraction, "test_fraction", minimum=0.0, maximum=1.0,
                                      exclusive_min=True, exclusive_max=True),
            validation_fraction=check_float(self.validation_fraction, "validation_fraction", minimum=0.0,
                                            maximum=1.0, exclusive_min=True, exclusive_max=True),
            seed=check_seed(self.seed),
            n_subsamples=check_int(self.n_subsamples, "n_subsamples", minimum=0),
        )
        if isinstance(self.latent_dim, str):
            if self.latent_dim != "auto":
                raise ValueError(f"latent_dim must be a positive int or 'auto', got {self.latent_dim!r}")
        else:
            check_int(self.latent_dim, "latent_dim", minimum=1)
        if p["test_fraction"] + p["validation_fraction"] >= 1:
            raise ValueError(f"test_fraction + validation_fraction must be below 1, got "
                             f"{p['test_fraction']} + {p['validation_fraction']}")
        return p

    def _encode(self, enc: str, m: int, px: np.ndarray, py: np.ndarray, tr: np.ndarray, how: str,
                p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """The ``m``-dimensional representations ``(n, m)`` of every row by encoder ``enc`` fitted on rows ``tr``."""
        settings: dict[str, Any] = {}
        if enc == "cca":
            # where the spectrum has a gap, CCA on the top 2m components only: on all pca_dim of them 800 training
            # rows overfit it (training canonical correlations 0.90 for 0.80; the test estimate half the truth at
            # D = 512); without a gap (digit images) all pca_dim read more (1.49 vs 1.05 nats at beta = 0.05)
            if how == "principal spectrum gap":
                px, py = px[:, :CCA_COMPONENTS * m], py[:, :CCA_COMPONENTS * m]
            wx, wy = _whitener(px[tr]), _whitener(py[tr])
            zx, zy = (px - px[tr].mean(0)) @ wx, (py - py[tr].mean(0)) @ wy
            u, s, vt = np.linalg.svd(zx[tr].T @ zy[tr] / (len(tr) - 1))
            m = min(m, len(s))
            settings["canonical_correlations"] = [float(v) for v in s[:max(m, min(8, len(s)))]]
            return zx @ u[:, :m], zy @ vt.T[:, :m], settings
        import torch

        from mibound.registry import make_estimator

        critic = make_estimator("infonce", critic="separable", critic_options={"embed_dim": m}, seed=p["seed"],
                                progress=bool(self.progress), num_threads=self.num_threads,
                                test_fraction=0.2, validation_fraction=0.2)
        critic.fit(px[tr].astype(np.float32), py[tr].astype(np.float32))  # the one fit driver, on training rows
        with torch.no_grad():
            gx, hy = critic.critic_.embed(torch.as_tensor(px, dtype=torch.float32),
                                          torch.as_tensor(py, dtype=torch.float32))
        settings["critic_estimate"] = critic.result_.estimate
        settings["critic_selection"] = critic.result_.settings.get("selection")
        return gx.double().numpy(), hy.double().numpy(), settings

    @staticmethod
    def _read(readout: str, fx: np.ndarray, fy: np.ndarray, p: dict[str, Any], n_subsamples: int) -> EstimateResult:
        """The low-dimensional estimator ``readout`` on held-out representations."""
        from mibound.registry import make_estimator, takes

        opts: dict[str, Any] = dict(READOUT_OPTIONS.get(readout, {}))
        if takes(readout, "seed"):
            opts["seed"] = p["seed"]
        if takes(readout, "n_subsamples"):
            opts["n_subsamples"] = n_subsamples
        return make_estimator(readout, **opts).fit(fx, fy).result_

    def fit(self, x, y, true_mi: float | None = None) -> "LatentEstimator":
        """Learn the representations on the training rows, read them on held-out rows; returns ``self``.

        Parameters
        ----------
        x : array_like, shape (n, dx), or images (n, H, W) / (n, C, H, W) (flattened)
        y : array_like, shape (n, dy), or images
        true_mi : float, optional
            Known MI (nats), stored in the result.
        """
        t0 = time.perf_counter()
        p = self._checked()
        if isinstance(x, np.memmap) or isinstance(y, np.memmap):  # streamed: never read whole (see _project_stream)
            pair = None
            x, y = _checked_maps(x, y)
        else:
            pair, _ = self._read_flat(x, y, p["seed"], true_mi, t0)
            if pair is None:
                return self
            x, y = pair.x, pair.y
        n = x.shape[0]
        plan = FitPlan(n, 2, p["seed"], p["test_fraction"], p["validation_fraction"])
        tr, va, te = (plan.part_rows(s) for s in ("train", "validation", "test"))
        if min(len(tr), len(va), len(te)) < 20:
            raise ValueError(f"too few samples for latent: n={n} gives {len(tr)} training, {len(va)} validation and "
                             f"{len(te)} test rows; it needs at least 20 in each (pass more rows)")
        # 1. per-view standardisation and principal axes, on the training rows
        proj, spectra = [], []
        for a, view in ((x, "x"), (y, "y")):
            q = min(p["pca_dim"], a.shape[1], len(tr) - 1)
            if pair is not None:
                mean, scale, axes, ev = _principal(a[tr], q)
                proj.append(((a - mean) / scale) @ axes)
            else:
                z, ev = _project_stream(a, tr, q, bool(self.progress), view)
                proj.append(z)
            spectra.append(ev)
        px, py = proj
        # 2. the latent dimension, from the training rows only
        ranks = [principal_rank(ev, p["max_latent_dim"]) for ev in spectra]
        ids = [intrinsic_dimension(z[tr]) for z in proj]
        cap = min(p["max_latent_dim"], px.shape[1], py.shape[1])
        if self.latent_dim != "auto":
            m, how = min(int(self.latent_dim), px.shape[1], py.shape[1]), "given"
        elif all(r is not None for r in ranks):
            m, how = min(*ranks, cap), "principal spectrum gap"
        else:
            finite = [d for d in ids if np.isfinite(d)]
            m = int(np.clip(round(min(finite)) if finite else cap, 1, cap))
            how = "intrinsic dimension (no spectral gap)"
        # 3. the encoders, fitted on the training rows; 4. their readouts on validation rows: the largest wins
        if p["encoder"] == "auto":  # a linear start; the critic too where the views are not low-rank
            candidates = [("cca", m)] if how == "principal spectrum gap" else [("cca", m), ("critic", cap)]
        else:
            candidates = [(p["encoder"], m)]
        tried, skipped = {}, {}
        for enc, dim in candidates:
            readout = p["readout"] if p["readout"] != "auto" else DEFAULT_READOUT[enc]
            try:
                fx, fy, enc_settings = self._encode(enc, dim, px, py, tr, how, p)
            except ValueError as exc:  # the critic needs some batches of training rows: the others run
                if len(candidates) == 1:
                    raise
                skipped[enc] = " ".join(str(exc).split())
                continue
            val = self._read(readout, fx[va], fy[va], p, n_subsamples=0).estimate
            tried[enc] = dict(latent_dim=dim, readout=readout, validation_value=float(val), f=(fx, fy),
                              encoder_settings=enc_settings)
        enc = max(tried, key=lambda k: tried[k]["validation_value"])
        best = tried[enc]
        m, readout, val, (fx, fy) = best["latent_dim"], best["readout"], best["validation_value"], best["f"]
        enc_settings = best["encoder_settings"]
        res = self._read(readout, fx[te], fy[te], p, n_subsamples=p["n_subsamples"])
        self.codes_, self.rows_ = (fx, fy), {"train": tr, "validation": va, "test": te}  # for auto's own check
        p = {**p, "readout": readout}
        diagnostics = [diagnostic("floor", f"an estimate of I(f(x); g(y)) for {m}-dimensional representations "
                                  f"({enc}) learned on {len(tr)} training rows, read by {p['readout']} on "
                                  f"{len(te)} held-out rows: a floor on I(x; y) by the data-processing inequality, "
                                  f"up to {p['readout']}'s own error; the interval covers resampling of the test "
                                  "rows, not what the compression lost")]
        low = [f"{v} {r}" for v, r in zip(("x", "y"), ranks) if r is not None]
        dims = (x.shape[1], y.shape[1])
        if low:
            diagnostics.append(diagnostic("low_rank", "the views look low-rank: principal spectrum gap at rank "
                                          f"{', '.join(low)} of {dims[0]} and {dims[1]} columns (intrinsic "
                                          f"dimension x {ids[0]:.1f}, y {ids[1]:.1f}); the MI lives in few "
                                          "directions"))
        if len(tr) < ROWS_PER_DIM * (px.shape[1] + py.shape[1]) or len(te) < 50 * m:
            diagnostics.append(diagnostic("few_samples", f"{len(tr)} training rows for {px.shape[1]} + "
                                          f"{py.shape[1]} projected columns and {len(te)} test rows for a "
                                          f"{m}-dimensional representation: too few rows for this latent dimension "
                                          "(the encoder overfits or the readout is noisy); pass more rows or a "
                                          "smaller latent_dim / pca_dim"))
        diagnostics += [d for d in res.diagnostics if d["code"] in ("high_dimension", "negative_estimate")]
        self.result_ = EstimateResult(
            estimator="latent", estimate=res.estimate, ci=res.ci, std=res.std,
            true_mi=None if true_mi is None else float(true_mi), is_bound=False, n_train=len(tr) + len(va),
            n_test=len(te), seed=p["seed"], seconds=time.perf_counter() - t0, diagnostics=diagnostics,
            settings={**self.get_params(), "latent_dim": m, "latent_dim_rule": how, "validation_value": float(val),
                      "encoder_used": enc, "readout_used": readout,
                      "candidates": {k: {"latent_dim": v["latent_dim"], "readout": v["readout"],
                                         "validation_value": v["validation_value"]} for k, v in tried.items()}
                      | {k: {"error": why} for k, why in skipped.items()},
                      "principal_rank": ranks, "intrinsic_dimension": [float(d) for d in ids],
                      "projected_dims": [px.shape[1], py.shape[1]], "rows": {"train": len(tr), "validation": len(va),
                                                                              "test": len(te)},
                      "encoder_settings": enc_settings, "readout_settings": res.settings, "versions": _versions(),
                      "interval": f"{res.estimator}'s on the test rows' representations ({res.settings.get('interval')}); "
                                  "not what the compression lost"})
        if pair is not None:
            pair.annotate(self.result_)
        else:
            self.result_.settings["data"] = "stream"
        return self
