"""The chain over training steps in one figure: ``I(v1;v2)``, ``I(z1;z2)``, the held-out bound, ``log K - L``, ``log K``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_chain", "save"]


def _mpl():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Trailing mean over ``width`` finite values (NaN where none)."""
    v = np.where(np.isfinite(values), values, 0.0)
    ok = np.isfinite(values).astype(float)
    c, n = np.cumsum(np.r_[0.0, v]), np.cumsum(np.r_[0.0, ok])
    lo = np.maximum(np.arange(1, v.size + 1) - width, 0)
    cnt = n[1:] - n[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (c[1:] - c[lo]) / cnt, np.nan)


def plot_chain(frame, ax=None, title: str | None = None):
    """Draw a monitor's tidy table (:meth:`mibound.monitor.core.ContrastiveMonitor.frame`) as the chain over steps.

    Lines: ``I(v1;v2)`` (exact, or an estimate with its band), ``I(z1;z2)`` (estimate with its
    interval), the held-out InfoNCE bound at ``K_probe`` (with its interval), ``log K - L`` per
    step (faint) and smoothed, ``log K`` (dashed) and ``log K_probe`` (dotted). Nats.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _mpl()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 4.5))
    else:
        fig = ax.figure
    q = {name: g.sort_values("step") for name, g in frame.groupby("quantity")}
    styles = [("mi_views", "I(v1;v2)", "black"), ("mi_codes", "I(z1;z2)", "tab:blue"),
              ("heldout_bound", "held-out InfoNCE", "tab:green")]
    for name, label, color in styles:
        g = q.get(name)
        if g is None or g["value"].isna().all():
            continue
        kind = str(g["kind"].iloc[-1])
        est = str(g["estimator"].iloc[-1]) if "estimator" in g and isinstance(g["estimator"].iloc[-1], str) else ""
        extra = f" ({kind}{', ' + est if est and est != 'nan' else ''})" if kind else ""
        if name == "heldout_bound":
            extra = f" (K={int(float(g['K'].iloc[-1]))})"
        if name == "mi_views":  # one value, read once
            ax.axhline(float(g["value"].iloc[-1]), color=color, lw=1.6, label=label + extra)
            lo, hi = float(g["ci_low"].iloc[-1]), float(g["ci_high"].iloc[-1])
            if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
                ax.axhspan(lo, hi, color=color, alpha=0.06, lw=0)
            continue
        ax.plot(g["step"], g["value"], "o-", ms=3, color=color, lw=1.5, label=label + extra)
        ax.fill_between(g["step"], g["ci_low"], g["ci_high"], color=color, alpha=0.15, lw=0)
    tb = q.get("train_bound")
    if tb is not None and len(tb):
        steps, vals = tb["step"].to_numpy(), tb["value"].to_numpy(dtype=float)
        ax.plot(steps, vals, color="tab:orange", alpha=0.2, lw=0.6)
        ax.plot(steps, _smooth(vals, max(1, len(vals) // 50)), color="tab:orange", lw=1.5,
                label="log K - L (training batches)")
    lk = q.get("log_k")
    if lk is not None and len(lk):
        ax.plot(lk["step"], lk["value"], "--", color="tab:red", lw=1.1, label="log K")
    hc = q.get("heldout_ceiling")
    if hc is not None and len(hc):
        ax.plot(hc["step"], hc["value"], ":", color="tab:green", lw=1.1, label="log K_probe")
    values = frame.loc[frame["quantity"].isin(["mi_views", "mi_codes", "heldout_bound", "train_bound", "log_k"]),
                       "value"].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if values.size:  # room above the highest line (I(v1;v2) can sit far above the rest)
        ax.set_ylim(top=1.2 * float(values.max()) + 0.1)
    ax.set_xlabel("training step")
    ax.set_ylabel("nats")
    ax.set_title(title or "I(v1;v2) >= I(z1;z2) >= held-out InfoNCE, log K - L <= log K")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def save(fig, out: Path, stem: str) -> list[Path]:
    """Save ``fig`` as ``out/stem.png`` and ``.svg`` (each written to a temporary name, then renamed); close it."""
    plt = _mpl()
    out = Path(out)
    paths = []
    for ext in ("png", "svg"):
        tmp, final = out / f".{stem}.tmp.{ext}", out / f"{stem}.{ext}"
        fig.savefig(tmp, dpi=130, bbox_inches="tight")
        tmp.replace(final)
        paths.append(final)
    plt.close(fig)
    return paths
