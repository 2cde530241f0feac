"""Reading paired samples from files (no pickle, ever) and writing results atomically."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["load_pair", "atomic_open", "atomic_write_text", "atomic_write_json"]


def _load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise ValueError(f"{path}: holds an object array; refusing to unpickle it "
                             "(save plain numeric arrays)") from None
        raise ValueError(f"{path}: not a readable .npy file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable .npy file ({exc})") from None


def _is_number(text: str) -> bool:
    try:
        return float(text) is not None
    except ValueError:
        return False


def _read_csv_columns(path: Path, x_cols: list[str], y_cols: list[str]):
    """The ``x_cols`` and ``y_cols`` of a CSV file as frames named by the header (see :func:`load_pair`)."""
    import pandas as pd

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if r]
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file (byte {exc.object[exc.start]:#04x} at position "
                         f"{exc.start}); save the CSV as UTF-8") from None
    if not rows:
        raise ValueError(f"{path}: empty CSV file")
    has_header = not all(_is_number(v) for v in rows[0])  # a first row of numbers only is data
    header = [h.strip() for h in rows.pop(0)] if has_header else [str(j) for j in range(len(rows[0]))]
    if not rows:
        raise ValueError(f"{path}: CSV has a header but no rows")
    views = []
    for which, cols in (("--x-cols", x_cols), ("--y-cols", y_cols)):
        for c in cols:
            if c not in header:
                why = ("a header row, so columns are chosen by name (0-based positions only in a file without one)"
                       if has_header else "no header row (its first row is all numbers), so columns are chosen by "
                       "0-based position")
                raise ValueError(f"{path}: {which} column {c!r} not found; columns are {header}: the file has {why}")
            if cols.count(c) > 1:
                raise ValueError(f"{path}: column {c!r} is given twice in {which}; give each column once")
            if views and c in views[0]:
                raise ValueError(f"{path}: column {c!r} is in both --x-cols and --y-cols: a view that holds part of "
                                 "the other has infinite MI (for a continuous column), which no estimate can report; "
                                 "give each column to one view")
        views.append(list(cols))
    first = 2 if has_header else 1  # the line number of the first data row
    out = np.empty((len(rows), len(header)))
    idx = sorted({header.index(c) for c in views[0] + views[1]})
    for r, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"{path}: row {r + first} has {len(row)} fields, "
                             f"{'header' if has_header else 'first row'} has {len(header)}")
        for j in idx:
            try:
                out[r, j] = float(row[j])
            except ValueError:
                raise ValueError(f"{path}: row {r + first}, column {header[j]!r}: {row[j]!r} is not a number") \
                    from None
    return tuple(pd.DataFrame(out[:, [header.index(c) for c in v]], columns=v) for v in views)


def load_pair(path, path_y=None, *, x_cols: list[str] | None = None, y_cols: list[str] | None = None,
              mmap: bool = False) -> tuple:
    """Read a paired sample ``(x, y)`` and its ``true_mi`` if the file has one.

    Formats
    -------
    ``.npz``
        arrays ``x`` and ``y`` (other keys ignored, except a scalar ``true_mi`` in nats); 2-D, or
        images ``(n, H, W)`` / ``(n, C, H, W)``, returned as stored.
    two ``.npy`` files
        ``path`` holds ``x``, ``path_y`` holds ``y`` (images too; with ``mmap`` the estimators read
        memory-mapped images as rows of pixels without loading them).
    ``.csv``
        ``x_cols`` / ``y_cols`` choose the columns of each view, by name when the first row is a
        header (it has a field that is not a number), by 0-based position ``"0", "1", ...`` when
        it is not (a first row of numbers only is data: a file without a header loses no row).
        Never both: in a file with a header, a position is not a name and is refused. A column
        given to both views is refused (a view that holds part of the other has infinite MI).
        ``x`` and ``y`` are then pandas frames whose column names are the header's (or positions).

    Returns
    -------
    x, y : ndarray, or DataFrame for a CSV
    true_mi : float or None
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, expected a .npz, .npy or .csv file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file")
    suffix = path.suffix.lower()
    if path_y is not None and suffix != ".npy":
        raise ValueError(f"a second file is only accepted with two .npy files, got {path.name} and {Path(path_y).name}")
    if suffix == ".npz":
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path}: not a readable .npz file (not a zip archive)")
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [k for k in ("x", "y") if k not in data.files]
                if missing:
                    raise ValueError(f"{path}: missing array(s) {missing}; the file has {sorted(data.files)}")
                x, y = data["x"], data["y"]
                true_mi = None
                if "true_mi" in data.files:
                    t = data["true_mi"]
                    if t.size != 1 or t.dtype.kind not in "fiu" or not np.isfinite(t).all():
                        raise ValueError(f"{path}: true_mi must be a finite scalar, got shape {t.shape} "
                                         f"dtype {t.dtype}")
                    true_mi = float(t.reshape(()))
        except ValueError as exc:
            msg = str(exc)
            if "pickle" in msg.lower():
                raise ValueError(f"{path}: holds an object array; refusing to unpickle it "
                                 "(save plain numeric arrays)") from None
            if msg.startswith(str(path)):
                raise
            raise ValueError(f"{path}: not a readable .npz file ({msg})") from None
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path}: not a readable .npz file ({exc})") from None
        except Exception as exc:  # zipfile.BadZipFile and friends
            raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
        return x, y, true_mi
    if suffix == ".npy":
        if path_y is None:
            raise ValueError(f"{path}: a .npy file holds one view; pass the y file as the second argument")
        return _load_npy(path, mmap), _load_npy(Path(path_y), mmap), None
    if suffix == ".csv":
        if not x_cols or not y_cols:
            raise ValueError(f"{path}: a CSV needs --x-cols and --y-cols (column names, or 0-based positions in a file "
                             "without a header row)")
        x, y = _read_csv_columns(path, x_cols, y_cols)
        return x, y, None
    raise ValueError(f"{path}: unsupported file type {suffix!r}; expected .npz, .npy (pair) or .csv")


@contextlib.contextmanager
def atomic_open(path, mode: str = "w"):
    """Open a temporary file beside ``path`` for writing; on success rename it onto ``path``.

    An interruption (exception, Ctrl-C) leaves ``path`` as it was and removes the temporary file.
    The result gets the usual permissions (``0o666`` less the umask), not ``mkstemp``'s ``0o600``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
