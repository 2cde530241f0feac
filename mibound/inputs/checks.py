"""Input validation shared by the API, the estimators and the CLI.

Every check raises ``TypeError``/``ValueError`` naming what was got and what was expected.
"""

from __future__ import annotations

import difflib
import importlib
import math
import numbers
import sys
from typing import Iterable

import numpy as np

__all__ = ["as_2d_array", "column_names", "constant_columns", "check_pair", "check_choice", "check_int", "check_float",
           "check_seed", "IMAGE_LAYOUTS", "image_shape", "flatten_views", "EXTRAS", "MissingDependency", "require"]

#: Values beyond this magnitude overflow float32 arithmetic inside the critics (1e30 squared is inf).
MAX_ABS_VALUE = 1e15


def as_2d_array(data, name: str = "x", dtype=np.float64) -> np.ndarray:
    """Convert numpy arrays, torch tensors, pandas frames/series or nested lists to a 2-D float array.

    1-D input is one column. Raises on non-numeric or object data, NaN/inf, rank > 2, empty data
    and absurd magnitudes.
    """
    if data is None:
        raise TypeError(f"{name} is None; expected an array of shape (n_samples, n_features)")
    original_type = type(data).__name__
    # torch tensors
    if hasattr(data, "detach") and hasattr(data, "cpu") and hasattr(data, "numpy"):
        data = _tensor_on_cpu(data, name)
        if data.is_complex():
            raise TypeError(f"{name} is a complex tensor; expected real numbers")
        data = data.double().numpy()
    # pandas frames/series
    elif hasattr(data, "to_numpy") and not isinstance(data, np.ndarray):
        data = _pandas_to_numpy(data, name, original_type)
    try:
        arr = np.asarray(data)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} is ragged or not array-like: {exc}") from None
    if arr.dtype == object:
        raise TypeError(
            f"{name} is an object array ({original_type}); expected a numeric array of shape (n, d)"
        )
    if arr.dtype.kind in "cSUVMm":
        kind = {"c": "complex", "S": "bytes", "U": "string", "V": "void/structured", "M": "datetime",
                "m": "timedelta"}[arr.dtype.kind]
        raise TypeError(f"{name} has {kind} dtype {arr.dtype}; expected real numbers")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected real numbers")
    if arr.ndim == 0:
        raise ValueError(f"{name} is a scalar; expected an array of shape (n_samples, n_features)")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(
            f"{name} has {arr.ndim} dimensions (shape {arr.shape}); expected 1-D or 2-D "
            "(n_samples, n_features): flatten images with x.reshape(len(x), -1)"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); expected at least one sample and feature")
    arr = arr.astype(dtype, copy=False)
    if not arr.flags.writeable:  # pandas 3 and memory maps hand out read-only views; torch warns on them
        arr = arr.copy()
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        n_nan = int(np.isnan(arr).sum())
        n_inf = int((~finite).sum()) - n_nan
        raise ValueError(
            f"{name} contains {n_nan} NaN and {n_inf} inf values (first at row {bad[0]}, column {bad[1]}); "
            "remove or impute them"
        )
    big = float(np.abs(arr).max())
    if big > MAX_ABS_VALUE:
        raise ValueError(
            f"{name} has values up to {big:.3g} in magnitude (limit {MAX_ABS_VALUE:.0e}); "
            "rescale the data (MI is invariant to per-column scaling)"
        )
    return arr


def _tensor_on_cpu(t, name: str):
    """A torch tensor detached and on the CPU; a clear error for a tensor without values (``meta`` device)."""
    device = getattr(t, "device", None)
    if getattr(device, "type", None) == "meta":
        raise ValueError(f"{name} is a torch tensor on the 'meta' device, which has a shape but no values; expected "
                         "a tensor holding data: create or load it on 'cpu' or 'cuda' instead")
    return t.detach().cpu()


def _pandas_to_numpy(data, name: str, original_type: str) -> np.ndarray:
    """A pandas frame or series as float64, with errors that name the offending columns.

    Nullable dtypes (``Int64``, ``Float64``, ``boolean``) convert when they hold no ``pd.NA``;
    missing values and non-numeric columns raise naming the columns.
    """
    import pandas as pd

    frame = data.to_frame() if isinstance(data, pd.Series) else data
    if not isinstance(frame, pd.DataFrame):
        try:
            return np.asarray(data.to_numpy(dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} ({original_type}) has non-numeric values; expected numbers only ({exc})") from None
    names = column_names(data, name)
    isna = frame.isna().to_numpy()
    missing = isna.any(axis=0)
    if missing.any():
        cols = [names[j] for j in np.flatnonzero(missing)]
        first = int(np.flatnonzero(isna.any(axis=1))[0])
        raise ValueError(f"{name} has missing values (NaN or pd.NA) in column(s) {', '.join(map(repr, cols[:6]))}"
                         f"{' and more' if len(cols) > 6 else ''} (first in row {first}); remove or impute them")
    dates = [label for label, (_, column) in zip(names, frame.items()) if column.dtype.kind in "Mm"]
    if dates:  # pandas would convert them to nanoseconds since 1970, numbers of 1e18 that mean nothing here
        raise TypeError(f"{name} ({original_type}) has date or time column(s) {', '.join(map(repr, dates[:6]))}; "
                        "convert them to numbers in a unit you choose, e.g. (t - t.min()) / pd.Timedelta('1h')")
    try:
        return frame.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):  # name the columns that do not convert (strings, categories, dates, ...)
        bad = []
        for label, (_, column) in zip(names, frame.items()):
            try:
                column.to_numpy(dtype=np.float64)
            except (TypeError, ValueError):
                bad.append(label)
        raise TypeError(f"{name} ({original_type}) has non-numeric column(s) {', '.join(map(repr, bad[:6]))}"
                        f"{' and more' if len(bad) > 6 else ''}; expected numbers only") from None


def column_names(data, name: str = "x", n_columns: int | None = None) -> tuple[str, ...]:
    """The column names of ``data``: a frame's column labels, a named series' name, else ``"x[j]"``.

    Parameters
    ----------
    data : array_like
        Anything :func:`as_2d_array` takes.
    name : str
        The view's name (``"x"`` or ``"y"``), the prefix of positional names.
    n_columns : int, optional
        Columns of the converted array (needed for input without labels that is not an array).
    """
    columns = getattr(data, "columns", None)
    if columns is not None and not isinstance(data, np.ndarray):
        return tuple(str(c) for c in columns)
    series_name = getattr(data, "name", None)
    if hasattr(data, "to_numpy") and not isinstance(data, np.ndarray) and series_name is not None:
        return (str(series_name),)
    if n_columns is None:
        shape = np.shape(data)
        n_columns = 1 if len(shape) < 2 else int(np.prod(shape[1:]))
    return tuple(f"{name}[{j}]" for j in range(n_columns))


def constant_columns(a: np.ndarray) -> np.ndarray:
    """0-based indices of the columns of a 2-D array that take one value only (none for a single row).

    The one test of constancy in mibound: :func:`check_pair` refuses these columns,
    :func:`mibound.inputs.pair.read_pair` drops them.
    """
    if a.shape[0] < 2:
        return np.zeros(0, dtype=np.intp)
    return np.flatnonzero(np.ptp(a, axis=0) == 0)


#: ``image_layout`` values: ``auto`` refuses arrays that look channel-last, ``channels_first`` trusts the input.
IMAGE_LAYOUTS = ("auto", "channels_first")

#: A trailing axis of at most this many entries after two larger ones reads as channel-last (``(n, H, W, C)``).
MAX_CHANNELS_LAST = 4


def image_shape(a, name: str = "x", layout: str = "auto", *, sample: bool = False,
                need: str | None = None) -> tuple[int, int, int] | None:
    """The per-sample image shape ``(C, H, W)`` of image data, or ``None`` for flat data: the one image check.

    ``(n, H, W)`` (a sample ``(H, W)``) is one channel, ``(n, C, H, W)`` (a sample ``(C, H, W)``)
    is channel-first. Only the shape is read (memory maps are not read).

    The channel-last rule: with ``layout="auto"``, a 4-D array ``(n, A, B, C)`` whose last axis is
    small and whose two middle axes are not, ``C <= 4 < min(A, B)``, is taken for channel-last
    ``(n, H, W, C)`` (RGB, RGBA, two-channel or one-channel images stored the numpy/PIL way) and
    refused with the fix. Channel-first input with few channels ``(n, C <= 4, H, W)`` and feature
    maps with small spatial sides ``(n, 16, 4, 4)`` pass. ``layout="channels_first"`` skips the
    rule (for a true ``(n, C, H, W)`` with ``C > 4`` and ``W <= 4``). Every estimator applies it.

    ``sample=True``: ``a`` is the shape of one sample (an int for a flat one), as critics and
    encoders get it. ``need`` (who needs images, e.g. ``"the conv critic"``): flat data raise.

    Raises
    ------
    ValueError
        More than 3 axes per sample, an empty image axis, flat data with ``need``, or
        (``layout="auto"``) channel-last input.
    """
    layout = check_choice(layout, IMAGE_LAYOUTS, "image_layout")
    if sample:
        s = () if a is None else (int(a),) if isinstance(a, numbers.Integral) else tuple(int(v) for v in a)
        what = f"per-sample shape {s}"
    else:
        shape = tuple(int(v) for v in getattr(a, "shape", np.shape(a)))
        s, what = shape[1:], f"shape {shape}"
    if len(s) <= 1:
        if need:
            raise ValueError(f"{need} needs image views: {name} has {what}; expected images (n, H, W) or (n, C, H, W) "
                             "(a sample (H, W) or (C, H, W)); give flat data to an estimator or critic for vectors")
        return None
    if len(s) > 3:
        raise ValueError(f"{name} has {len(s) + (not sample)} dimensions ({what}); expected (n, d), images (n, H, W) "
                         "or channel-first images (n, C, H, W)")
    if min(s) < 1:
        raise ValueError(f"{name} is empty ({what}); expected images with at least one pixel")
    if len(s) == 2:
        return (1, *s)
    a1, a2, a3 = s
    if layout == "auto" and a3 <= MAX_CHANNELS_LAST < min(a1, a2):
        raise ValueError(
            f"{name} has {what}, which looks channel-last (n, H, W, C) with C = {a3}; images must be "
            f"channel-first (n, C, H, W): pass {name}.transpose(0, 3, 1, 2) (numpy), np.moveaxis({name}, -1, 1) "
            f"or {name}.permute(0, 3, 1, 2) (torch). If {s} really is (C, H, W), pass image_layout='channels_first' "
            f"(neural estimators and auto) or flat rows {name}.reshape(len({name}), -1)")
    return s


def flatten_views(x, y, layout: str = "auto"):
    """Flatten image views to rows and keep their shapes: ``(x2, y2, (shape_x, shape_y))``.

    Images ``(n, H, W)`` / ``(n, C, H, W)`` (see :func:`image_shape` for the layout rule)
    become ``(n, C*H*W)`` rows in channel-first order, a view where the array allows it
    (memory maps stay memory maps); the shape of a flat view is ``None``. Torch tensors and
    nested lists of images are converted to numpy first; 1-D / 2-D data pass through unchanged
    (checked later by :func:`check_pair`).

    Returns
    -------
    x2, y2 : array_like
        ``(n, d)`` for image views, the input itself otherwise.
    shapes : (tuple or None, tuple or None)
        ``(C, H, W)`` per image view.
    """
    out, shapes = [], []
    for name, a in (("x", x), ("y", y)):
        if hasattr(a, "detach") and hasattr(a, "cpu") and getattr(a, "ndim", 0) > 2:
            a = _tensor_on_cpu(a, name).numpy()
        elif isinstance(a, (list, tuple)):
            try:
                a = np.asarray(a)
            except ValueError as exc:
                raise ValueError(f"{name} is ragged or not array-like: {exc}") from None
        shape = image_shape(a, name, layout) if hasattr(a, "shape") else None
        shapes.append(shape)
        out.append(a if shape is None else a.reshape(a.shape[0], -1))
    return out[0], out[1], (shapes[0], shapes[1])


def check_pair(x, y, *, dtype=np.float64, allow_constant: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate a paired sample ``(x, y)``: both 2-D, numeric, finite, with the same number of rows.

    Two pandas objects are paired by index: the same labels in another order are aligned on
    ``x``'s order, different labels are refused. A named column that is in both views (same name,
    same values) is refused: a view that holds part of the other has infinite MI. Constant
    columns are refused unless ``allow_constant`` (the estimator classes drop them instead,
    through :func:`mibound.inputs.pair.read_pair`, and say so in a diagnostic).
    """
    raw = (x, _aligned(x, y))
    x = as_2d_array(raw[0], "x", dtype)
    y = as_2d_array(raw[1], "y", dtype)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must have the same number of samples (rows), got {x.shape[0]} and {y.shape[0]}"
        )
    labelled = [hasattr(a, "to_numpy") and not isinstance(a, np.ndarray) for a in raw]  # pandas: named columns
    where_y = {c: j for j, c in enumerate(column_names(raw[1], "y", y.shape[1]))} if all(labelled) else {}
    for j, name in enumerate(column_names(raw[0], "x", x.shape[1]) if where_y else ()):
        if name in where_y and np.array_equal(x[:, j], y[:, where_y[name]]):
            raise ValueError(f"column {name!r} is in both x and y: a view that holds part of the other has infinite MI "
                             "(for a continuous column), which no estimate can report; give each column to one view")
    if not allow_constant:
        for name, a in (("x", x), ("y", y)):
            const = constant_columns(a)
            if const.size:
                raise ValueError(
                    f"{name} has {const.size} constant (zero-variance) column(s), e.g. column {const[0]}; "
                    f"they carry no information: drop them, e.g. {name}[:, {name}.std(0) > 0], or use an "
                    "estimator class (mibound.estimate_mi), which drops them and says so"
                )
    return x, y


def _aligned(x, y):
    """``y`` in the row order of ``x`` when both are pandas objects with the same index labels; else raises."""
    pd = sys.modules.get("pandas")
    kinds = () if pd is None else (pd.DataFrame, pd.Series)
    if not (isinstance(x, kinds) and isinstance(y, kinds)) or len(x) != len(y) or x.index.equals(y.index):
        return y
    unique = x.index.is_unique and y.index.is_unique
    if unique and y.index.isin(x.index).all():
        return y.loc[x.index]
    detail = f"label {x.index.difference(y.index).tolist()[0]!r} is in x's index only" if unique else \
        "an index has repeated labels"
    raise ValueError(f"x and y are pandas objects with different indexes ({detail}); rows are paired by index label: "
                     "pass x.reset_index(drop=True) and y.reset_index(drop=True) to pair them by position, or align "
                     "them first, e.g. x, y = x.align(y, join='inner', axis=0)")


#: ``pip install 'mibound[EXTRA]'`` -> (the module it installs, what it is)
EXTRAS = {"flow": ("zuko", "the normalizing-flow library zuko"), "images": ("skimage.data", "scikit-image"),
          "lightning": ("lightning.pytorch", "PyTorch Lightning (the lightning package)")}


class MissingDependency(ImportError):
    """An optional dependency is not installed; the message names the extra that installs it (CLI: exit 2)."""


def require(extra: str, what: str):
    """The top module of the optional ``extra`` (:data:`EXTRAS`), or :class:`MissingDependency` saying what needs it."""
    module, package = EXTRAS[extra]
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(f"{package} is not installed (needed by {what}): pip install 'mibound[{extra}]'") \
            from exc
    return importlib.import_module(module.split(".")[0])


def check_choice(value, choices: Iterable[str], what: str) -> str:
    """Check a name against valid choices, suggesting the closest one."""
    choices = sorted(choices)
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, one of {choices}; got {type(value).__name__}")
    key = value.strip().lower()
    if key in choices:
        return key
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown {what} {value!r}{hint} Valid: {', '.join(choices)}")


def check_int(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_float(value, name: str, *, minimum: float | None = None, maximum: float | None = None,
                exclusive_min: bool = False, exclusive_max: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and (value <= minimum if exclusive_min else value < minimum):
        raise ValueError(f"{name} must be {'>' if exclusive_min else '>='} {minimum}, got {value}")
    if maximum is not None and (value >= maximum if exclusive_max else value > maximum):
        raise ValueError(f"{name} must be {'<' if exclusive_max else '<='} {maximum}, got {value}")
    return value


def check_rates(value, name: str = "learning_rate") -> float | list[float]:
    """A positive rate (returned as a float) or a non-empty sequence of distinct ones (a list)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return check_float(value, name, minimum=0.0, exclusive_min=True)
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, np.ndarray)):
        raise TypeError(f"{name} must be a positive number or a sequence of them, got {value!r} "
                        f"({type(value).__name__})")
    rates = [check_float(v, name, minimum=0.0, exclusive_min=True) for v in value]
    if not rates:
        raise ValueError(f"{name} must hold at least one rate, got an empty sequence")
    if len(set(rates)) != len(rates):
        raise ValueError(f"{name} must not repeat a rate, got {rates}")
    return rates


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be a non-negative int, got {seed!r} ({type(seed).__name__})")
    if seed < 0 or seed >= 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    return int(seed)
