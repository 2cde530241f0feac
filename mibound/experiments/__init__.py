"""Named experiments: each writes a tidy CSV, ``metadata.json`` and a figure (PNG and SVG).

``EXPERIMENTS[name](out=..., quick=..., seed=..., progress=..., resume=...)``. The registry is
:data:`MODULES`: the name ``mibound experiment NAME`` takes and the module of this folder whose ``run``
it calls; ``mibound experiment --help`` lists every entry with the first line of its module's
docstring (:func:`describe`, read from the source without importing torch).
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

#: Every experiment: its command-line name -> the module (in this folder) whose ``run`` it calls.
MODULES: dict[str, str] = {
    "staircase": "staircase",
    "vary-k": "vary_k",
    "dpi": "dpi",
    "infomin": "infomin",
    "infomin-learn": "infomin_learn",
    "self-consistency": "self_consistency",
    "patch-distance": "patch_distance",
    "color-split": "color_split",
    "real-pairs": "real_pairs",
    "contrastive": "contrastive",
}


class _Experiments(Mapping):
    """``name -> run`` for every entry of :data:`MODULES`; a module is imported when its ``run`` is asked for."""

    def __getitem__(self, name: str) -> Callable:
        return importlib.import_module(f"{__name__}.{MODULES[name]}").run

    def __iter__(self) -> Iterator[str]:
        return iter(MODULES)

    def __len__(self) -> int:
        return len(MODULES)

    def __repr__(self) -> str:
        return f"EXPERIMENTS({', '.join(MODULES)})"


#: ``EXPERIMENTS[name](out=..., quick=..., seed=..., progress=..., resume=...)``: every experiment's ``run``.
EXPERIMENTS: Mapping[str, Callable] = _Experiments()


def describe(name: str) -> str:
    """The first line of the docstring of experiment ``name``'s module, read from its source (no import).

    Parameters
    ----------
    name : str
        A key of :data:`MODULES`, e.g. ``"staircase"``.

    Returns
    -------
    str
        One line, reStructuredText double backquotes removed.
    """
    source = (Path(__file__).parent / f"{MODULES[name]}.py").read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(source)) or ""
    return doc.strip().splitlines()[0].replace("``", "") if doc.strip() else ""


def __getattr__(name: str):
    # the submodules (mibound.experiments.dpi, ...) load on first use: listing the experiments imports no torch
    if name in MODULES.values() or name in ("plotting", "_common", "_photos"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EXPERIMENTS", "MODULES", "describe"]
