"""Generate docs/api.md from the package's docstrings.

    python docs/make_api.py          # rewrite docs/api.md
    python docs/make_api.py --check  # exit 1 if docs/api.md is out of date (run by the tests)
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

#: One-release alias modules (their pages are the modules they stand for).
ALIASES = {"mibound.encoders", "mibound.views", "mibound.colorspaces", "mibound.tasks"}


def _modules() -> list[str]:
    """Every module of the package, layer folders in the order of the data flow, aliases left out."""
    import pkgutil

    import mibound

    names = ["mibound"] + [m.name for m in pkgutil.walk_packages(mibound.__path__, "mibound.")]
    return [n for n in names if n not in ALIASES and n != "mibound.__main__"]


OUT = Path(__file__).with_name("api.md")


def _first_paragraph(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _signature(obj) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""


def render() -> str:
    lines = ["# API reference", "",
             "Generated from the docstrings by `python docs/make_api.py`; a test checks that it is current.",
             "All values are in nats.", ""]
    for name in _modules():
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        public = getattr(mod, "__all__", None)
        if not public:
            continue
        lines += [f"## `{name}`", "", _first_paragraph(mod), ""]
        for attr in public:
            obj = getattr(mod, attr)
            if name != "mibound" and getattr(obj, "__module__", name) not in (name, None) and \
                    not name.endswith(("data", "experiments")):
                continue  # documented where it is defined
            if inspect.isclass(obj) or inspect.isfunction(obj):
                kind = "class" if inspect.isclass(obj) else "function"
                lines.append(f"- **`{attr}{_signature(obj)}`** ({kind}) — {_first_paragraph(obj)}")
            elif not inspect.ismodule(obj) and not attr.startswith("__"):
                lines.append(f"- **`{attr}`** — {type(obj).__name__}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print("docs/api.md is out of date: run python docs/make_api.py", file=sys.stderr)
            sys.exit(1)
    else:
        OUT.write_text(text)
