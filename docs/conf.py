"""Sphinx configuration of mibound's documentation site (``make docs`` -> docs/_build/html).

Offline by design: no intersphinx fetches, math from the MathJax that ``sphinx-mathjax-offline``
ships (copied into ``_static/mathjax``), the gallery's examples executed on the CPU at build time.
The API pages are written here from the package's modules (``api/*.rst``, one per module, each
function and class on its own page through autosummary and numpydoc).
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # the checkout's package, whatever is installed
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import mibound  # noqa: E402

project = "mibound"
author = "the mibound authors"
copyright = "the mibound authors, MIT licence"
release = version = mibound.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 from the wheel, served from _static: no network at view time
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_templates", "bench", "real-data", "infomin_learn", "photographs",
                    "gallery/*.ipynb", "gallery/*.py", "gallery/*.md5", "gallery/*.json", "gallery/*.zip"]
templates_path = ["_templates"]

# -- references: every reference to the public API must resolve (-W makes an unresolved one fail) ----
nitpicky = True
default_role = "py:obj"  # `name` in a docstring is a reference
# outside libraries: no intersphinx (no network), so their names are text, not links
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|torch|pandas|pd|scipy|sklearn|matplotlib|seaborn|zuko|collections|typing|pathlib|os|"
               r"argparse|dataclasses|concurrent|abc|tqdm|lightning)(\..*)?"),
    (r"py:.*", r"(optional|callable|array-like|array_like|array|ndarray|Tensor|tensor|module|Module|Path|"
               r"DataFrame|Figure|Generator|ArrayLike|default .*|shape .*|\(.*\).*|.* of .*)"),
    (r"py:.*", r"(mibound(\..*)?\.|\w+\.)?_\w+(\..*)?"),  # private helpers (base classes shown by show-inheritance)
    (r"py:class", r"(int|float|str|bool|dict|list|tuple|None|object|Any|type|bytes|Callable|Iterator|Iterable|"
                  r"Mapping|Sequence|Literal|Self|NoneType|slice|range|complex)"),
]

# -- autodoc, autosummary, numpydoc ----------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc Parameters sections give types, shapes and units
autodoc_inherit_docstrings = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# -- MyST: the Markdown pages as they read on the repository --------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # the pages open with their own level-1 title and skip to level 3 in places

# -- the gallery: every examples/plot_*.py is run at build time; a raising example fails the build --
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "gallery",
    "filename_pattern": r"/plot_",
    "only_warn_on_example_error": False,
    "abort_on_example_error": False,  # run them all, then fail naming each that raised
    "download_all_examples": True,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "reset_modules": ("matplotlib",),
    "image_scrapers": ("matplotlib",),
    "show_memory": False,
    "plot_gallery": "True",
    "matplotlib_animations": False,
    "min_reported_time": 0,
    # the summary page of computation times loads DataTables from a CDN: left out (offline site); each
    # example's page still says how long it ran
    "write_computation_times": False,
}

# -- HTML ------------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"mibound {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "search_bar_text": "Search the docs",
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
    "use_edit_page_button": False,
}
html_context = {"default_mode": "light"}  # an explicit mode: the theme logs an error for an unset one
html_sidebars = {"index": [], "**": ["sidebar-nav-bs"]}
html_show_sourcelink = False

# -- the API pages, written from the package ------------------------------------------------------
#: One-release alias modules: their pages are the modules they stand for.
ALIASES = {"mibound.encoders", "mibound.views", "mibound.colorspaces", "mibound.tasks", "mibound.__main__"}


def _layers() -> list[str]:
    """The layers of pyproject.toml's import-linter contract, top to bottom ("mibound.bench | mibound.experiments")."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(config["tool"]["importlinter"]["contracts"][0]["layers"])


def public_modules() -> list[str]:
    """Every module with an ``__all__``, the layers in the order of pyproject's contract, private ones left out."""
    names = ["mibound"] + [m.name for m in pkgutil.walk_packages(mibound.__path__, "mibound.")]
    keep = []
    for name in names:
        if name in ALIASES or any(part.startswith("_") for part in name.split(".")[1:]):
            continue
        mod = importlib.import_module(name)
        if getattr(mod, "__all__", None) or hasattr(mod, "__path__"):  # packages: their docstring at least
            keep.append(name)
    return keep


def _members(name: str) -> tuple[list[str], list[str]]:
    """(names defined in module ``name`` and exported by it, names it re-exports from elsewhere)."""
    mod = importlib.import_module(name)
    own, other = [], []
    for attr in getattr(mod, "__all__", []):
        if attr.startswith("__"):
            continue
        obj = getattr(mod, attr)
        if inspect.ismodule(obj):
            continue
        where = getattr(obj, "__module__", None) if (inspect.isclass(obj) or inspect.isfunction(obj)) else name
        (own if where == name else other).append(attr)
    return own, other


def write_api_pages(app=None) -> None:
    out = HERE / "api"
    out.mkdir(exist_ok=True)
    pages = []
    for name in public_modules():
        own, other = _members(name)
        mod = importlib.import_module(name)
        lines = [f"``{name}``", "=" * (len(name) + 4), "", f".. automodule:: {name}", "   :no-members:", "",
                 f".. currentmodule:: {name}", ""]
        funcs = [a for a in own if inspect.isfunction(getattr(mod, a)) or inspect.isclass(getattr(mod, a))]
        data = [a for a in own if a not in funcs]
        if funcs:
            lines += [".. autosummary::", "   :toctree: generated", "   :nosignatures:", ""]
            lines += [f"   {a}" for a in funcs] + [""]
        if data:
            lines += ["Module data", "-----------", ""]
            lines += [f".. autodata:: {a}\n   :no-value:\n" for a in data]
        if other:
            lines += ["Re-exported here", "----------------", "",
                      "Defined in the modules named; documented on their pages.", ""]
            for a in other:
                obj = getattr(mod, a)
                if inspect.isclass(obj) or inspect.isfunction(obj):
                    first = (inspect.getdoc(obj) or "").split("\n\n")[0].replace("\n", " ")
                    lines.append(f"- :py:obj:`{a} <{obj.__module__}.{obj.__qualname__}>` — {first}")
                else:
                    lines.append(f"- ``{a}``")
            lines.append("")
        text = "\n".join(lines)
        path = out / f"{name}.rst"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        pages.append(name)
    order = ["mibound"] + [m for group in _layers() for m in group.split(" | ")]
    pages.sort(key=lambda n: (order.index(".".join(n.split(".")[:2])) if n != "mibound" else -1, n))
    index = ["API reference", "=============", "",
             "Every public module, function and class, generated from the docstrings (numpydoc). All values "
             "are in nats. The modules are grouped by the layers of the package, top to bottom (the import-linter "
             "contract of ``pyproject.toml``): a module imports only from its own layer and those below it. A "
             "newcomer reads :mod:`mibound.api` (the entry points), then :mod:`mibound.registry`, then the "
             "estimator they use.", "", ".. toctree::", "   :hidden:", ""] + [f"   {n}" for n in pages] + [""]
    for title, layer in [("The package", "mibound")] + [(", ".join(f"``{p}``" for p in group.split(" | ")), group)
                                                         for group in _layers()]:
        members = [n for n in pages if (n == "mibound" if layer == "mibound" else
                                        n != "mibound" and ".".join(n.split(".")[:2]) in layer.split(" | "))]
        if not members:
            continue
        index += [title, "-" * len(title), "", ".. list-table::", "   :widths: 35 65", ""]
        for n in members:
            doc = (importlib.import_module(n).__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
            # references are relative to their module: here they become literals (the module page links them)
            doc = re.sub(r":\w+:`~?(?:[^`<]*<)?([^`>]+)>?`", lambda m: f"``{m.group(1).split('.')[-1]}``", doc)
            index += [f"   * - :doc:`{n} <{n}>`", f"     - {doc}"]
        index.append("")
    text = "\n".join(index) + "\n"
    path = out / "index.rst"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


write_api_pages()


# -- references to re-exported names resolve to the page of the object ------------------------------
def _canonical(target: str, module: str | None, klass: str | None) -> list[str]:
    """Candidate full names of ``target``: as written, in the current module or class, and where the object
    is defined (``mibound.estimate_mi`` -> ``mibound.api.estimate_mi``)."""
    target = target.lstrip("~.")
    tries = [target]
    if module:
        tries += [f"{module}.{klass}.{target}" if klass else None, f"{module}.{target}"]
    out = []
    for full in filter(None, tries):
        parts = full.split(".")
        for cut in range(len(parts), 0, -1):  # the longest importable module prefix, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            try:
                for attr in parts[cut:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                break
            rest = parts[cut:]
            if inspect.ismodule(obj):
                out.append(obj.__name__)
            elif inspect.isclass(obj) or inspect.isfunction(obj):
                out.append(f"{obj.__module__}.{obj.__qualname__}")
            elif rest and len(rest) >= 2:  # a method or attribute of a class: its class's canonical name
                owner = importlib.import_module(".".join(parts[:cut]))
                for attr in rest[:-1]:
                    owner = getattr(owner, attr)
                if inspect.isclass(owner):
                    out.append(f"{owner.__module__}.{owner.__qualname__}.{rest[-1]}")
            break
    return out


def _resolve_reexport(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    for full in _canonical(node["reftarget"], node.get("py:module"), node.get("py:class")):
        if full in domain.objects or full in domain.modules:
            found = domain.objects.get(full)
            objtype = found.objtype if found else "module"
            builder = app.builder
            return domain.resolve_xref(env, node["refdoc"], builder, "obj" if objtype != "module" else "mod",
                                       full, node, contnode)
    return None


def _skip_foreign(app, what, name, obj, skip, options):
    """Leave out members that scikit-learn adds (``set_fit_request`` ...) and private ones."""
    module = getattr(obj, "__module__", None) or ""
    if what == "class" and callable(obj) and module and not module.startswith("mibound"):
        return True
    return None


def _custom_sections(app, what, name, obj, options, lines):
    """numpydoc knows no "Shapes" or "Formats" section: they join the Notes (created if absent).

    Also keeps autosummary's one-line summaries whole: a ". " inside a literal (``0 .. R - 1``) would end
    its first sentence there; a zero-width space after the period, invisible, keeps it whole.
    """
    import re

    for i, line in enumerate(lines):
        if not line.strip():
            break
        lines[i] = re.sub(r"``.*?``", lambda m: m.group(0).replace(". ", ".\u200b "), line)
    for i in range(len(lines) - 1):
        if lines[i].strip() in ("Shapes", "Formats") and set(lines[i + 1].strip()) == {"-"}:
            title = lines[i].strip()
            if any(line.strip() == "Notes" for line in lines):
                lines[i], lines[i + 1] = f"**{title}**", ""
            else:
                lines[i], lines[i + 1] = "Notes", "-----"
                lines.insert(i + 2, f"**{title}**")
                lines.insert(i + 3, "")
            return


def setup(app):  # noqa: F811
    app.connect("missing-reference", _resolve_reexport)
    app.connect("autodoc-skip-member", _skip_foreign)
    app.connect("autodoc-process-docstring", _custom_sections, priority=100)
