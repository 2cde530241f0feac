"""The suite runner: run estimators over a task folder and write one CSV row per (task, estimator).

A task folder is a directory of ``.npz`` files with arrays ``x``, ``y`` (2-D, or images
``(n, H, W)`` / ``(n, C, H, W)``; same ``n``) and a scalar ``true_mi`` in nats (see :mod:`mibound.data.tasks`); other keys and other files are ignored.
Folders produced by anyone in this format work: every file is validated, and a file that cannot
be used (corrupt, object arrays, missing keys, wrong shapes, NaN) or an estimator that fails on
it is recorded with ``status = "failed: <error>"`` while the run goes on.

The CSV has exactly the columns :data:`COLUMNS` and is rewritten atomically after every task, so
an interrupted run leaves a complete file with the finished tasks (``resume=True`` skips them).
"""

from __future__ import annotations

import io
import math
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from mibound.inputs.checks import check_choice, check_pair, flatten_views
from mibound.inputs.files import atomic_write_text, load_pair
from mibound.registry import ESTIMATORS, make_estimator, takes

__all__ = ["COLUMNS", "load_task_file", "task_files", "run_bench", "summarize"]

#: The CSV columns, in order.
COLUMNS = ("task", "estimator", "n", "dim_x", "dim_y", "true_mi", "estimate", "ci_low", "ci_high", "abs_error",
           "rel_error", "seconds", "status", "diagnostics")


def task_files(directory) -> list[Path]:
    """The ``.npz`` files of a task folder, sorted by name (``ValueError`` if there are none)."""
    directory = Path(directory)
    if not directory.exists():
        raise ValueError(f"{directory}: no such directory")
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a directory; expected a folder of .npz task files")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() == ".npz" and not p.name.startswith("."))
    if not files:
        raise ValueError(f"{directory}: no .npz task files (write some with `mibound tasks export {directory}`)")
    return files


def load_task_file(path) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Read and validate one task file: ``x``, ``y`` float64 and ``true_mi`` (or ``None``).

    ``x`` and ``y`` come back as stored: ``(n, d)``, or images ``(n, H, W)`` / ``(n, C, H, W)``
    (channel-first; the layout rule of :func:`mibound.inputs.checks.image_shape`), which the
    estimators take as images (the conv critic for neural ones, flattened pixels otherwise).

    Raises ``ValueError``/``TypeError`` naming the file and the problem: unreadable or corrupt
    file, object (pickled) arrays, missing ``x``/``y``, arrays of rank 0 or above 4, channel-last
    images, different ``n``, non-numeric, NaN/inf values, or a ``true_mi`` that is not a finite scalar.
    """
    path = Path(path)
    x, y, true_mi = load_pair(path)  # checks the zip archive, refuses object arrays
    try:
        for name, a in (("x", x), ("y", y)):
            if a.ndim < 2:
                raise ValueError(f"{name} has shape {a.shape}; the task format needs 2-D arrays (n, d) or images "
                                 "(n, H, W) / (n, C, H, W)")
        flat_x, flat_y, shapes = flatten_views(x, y)
        # the estimators drop constant columns and say so
        flat_x, flat_y = check_pair(flat_x, flat_y, allow_constant=True)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{path.name}: {exc}") from None
    return tuple(a if s is None else a.reshape(len(a), *s) for a, s in zip((flat_x, flat_y), shapes)) + (true_mi,)


def _status(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return f"failed: {type(exc).__name__}: {msg}"


def _row(task: str, estimator: str, **values: Any) -> dict[str, Any]:
    row = {c: np.nan for c in COLUMNS}
    row.update(task=task, estimator=estimator, status="ok", diagnostics="")
    row.update(values)
    return row


def _errors(estimate: float, true_mi: float | None) -> tuple[float, float]:
    if true_mi is None or not math.isfinite(estimate):
        return np.nan, np.nan
    abs_error = abs(estimate - true_mi)
    rel_error = abs_error / abs(true_mi) if true_mi != 0 else np.nan
    return abs_error, rel_error


def _make(name: str, options: Mapping[str, Mapping[str, Any]], seed: int):
    opts = dict(options.get(name, {}))
    if takes(name, "progress"):
        opts.setdefault("progress", False)
    if takes(name, "seed"):
        opts.setdefault("seed", seed)
    return make_estimator(name, **opts)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for c in ("n", "dim_x", "dim_y"):  # integers, empty where a file could not be read
        frame[c] = pd.to_numeric(frame[c]).astype("Int64")
    frame["diagnostics"] = frame["diagnostics"].fillna("").astype(str)
    return frame


def _write(frame: pd.DataFrame, out: Path) -> None:
    buf = io.StringIO()
    frame.to_csv(buf, index=False, columns=list(COLUMNS))
    atomic_write_text(out, buf.getvalue())


def run_bench(directory, estimators: Iterable[str], out=None, *, options: Mapping[str, Mapping[str, Any]] | None = None,
              seed: int = 0, resume: bool = False, progress: bool = False) -> pd.DataFrame:
    """Run every estimator on every task file of a folder.

    Parameters
    ----------
    directory : path
        Task folder (``.npz`` files with ``x``, ``y``, ``true_mi``).
    estimators : iterable of str
        Names accepted by :func:`mibound.registry.make_estimator` (``ksg``, ``gaussian``,
        ``infonce``, ...); duplicates are dropped.
    out : path, optional
        CSV to write (atomically, after every task). ``None``: only return the frame.
    options : mapping, optional
        Per-estimator keyword arguments, e.g. ``{"infonce": {"steps": 500, "batch_size": 64}}``.
        Neural estimators default to ``progress=False``; every estimator that takes a seed gets ``seed``.
    seed : int, default 0
    resume : bool, default False
        Keep the ``ok`` rows already in ``out`` and skip those (task, estimator) pairs.
    progress : bool, default False
        A progress bar over tasks.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`; one row per (task, estimator). ``status`` is ``"ok"`` or
        ``"failed: <ErrorType>: <message>"``; ``abs_error = |estimate - true_mi|`` and
        ``rel_error = abs_error / |true_mi|`` (NaN without a true MI or when it is 0); ``seconds``
        is the wall time of the estimator's ``fit``; ``diagnostics`` the result's diagnostic codes,
        joined by ``;`` (empty when there are none).
    """
    names = []
    for e in estimators:
        key = check_choice(e, ESTIMATORS, "estimator")
        if key not in names:
            names.append(key)
    if not names:
        raise ValueError("give at least one estimator")
    options = dict(options or {})
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ValueError(f"options given for estimator(s) {unknown} that are not being run ({names})")
    for name in names:  # bad options fail before any work is done
        _make(name, options, seed)
    files = task_files(directory)
    out = None if out is None else Path(out)

    rows: list[dict[str, Any]] = []
    done: set[tuple[str, str]] = set()
    if resume and out is not None and out.exists() and out.stat().st_size:
        old = pd.read_csv(out)
        missing = [c for c in COLUMNS if c not in old.columns]
        if missing:
            raise ValueError(f"{out}: cannot resume, the CSV lacks columns {missing}")
        old = old[old["status"] == "ok"]
        rows = old[list(COLUMNS)].to_dict("records")
        done = {(str(r["task"]), str(r["estimator"])) for r in rows}

    it = files
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(files, desc="bench", unit="task")
    for path in it:
        task = path.stem
        todo = [e for e in names if (task, e) not in done]
        if not todo:
            continue
        try:
            x, y, true_mi = load_task_file(path)
        except Exception as exc:  # noqa: BLE001  (any unreadable file is recorded, the run goes on)
            rows += [_row(task, e, status=_status(exc)) for e in todo]
        else:
            base = dict(n=x.shape[0], dim_x=int(np.prod(x.shape[1:])), dim_y=int(np.prod(y.shape[1:])),
                        true_mi=np.nan if true_mi is None else true_mi)
            for name in todo:
                t0 = time.perf_counter()
                try:
                    res = _make(name, options, seed).fit(x, y, true_mi=true_mi).result_
                except Exception as exc:  # noqa: BLE001  (a failing estimator is recorded, the run goes on)
                    rows.append(_row(task, name, **base, seconds=time.perf_counter() - t0, status=_status(exc)))
                    continue
                seconds = time.perf_counter() - t0
                abs_error, rel_error = _errors(res.estimate, true_mi)
                rows.append(_row(task, name, **base, estimate=res.estimate, ci_low=res.ci[0], ci_high=res.ci[1],
                                 abs_error=abs_error, rel_error=rel_error, seconds=seconds,
                                 diagnostics=";".join(d["code"] for d in res.diagnostics)))
        if out is not None:
            _write(_frame(rows), out)
    frame = _frame(rows)
    if out is not None:
        _write(frame, out)
    return frame


def summarize(frame: pd.DataFrame, thresholds: Iterable[float] = (0.10, 0.25)) -> pd.DataFrame:
    """Per estimator: tasks, failures, share of tasks within each relative error, median seconds.

    The shares count every task with a non-zero true MI; a failed run counts as a miss.
    """
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"not a bench frame: missing columns {missing}")
    out = []
    for name, g in frame.groupby("estimator", sort=False):
        known = g[g["true_mi"].notna() & (g["true_mi"] != 0)]
        ok = g["status"] == "ok"
        row = {"estimator": name, "tasks": len(g), "failed": int((~ok).sum())}
        for t in thresholds:
            hit = (known["status"] == "ok") & (known["rel_error"] <= t)
            row[f"within_{round(100 * t)}pct"] = float(hit.mean()) if len(known) else np.nan
        row["median_seconds"] = float(g.loc[ok, "seconds"].median()) if ok.any() else np.nan
        out.append(row)
    return pd.DataFrame(out)
