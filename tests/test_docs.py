"""The docs match the code: every Python block and CLI line of the README and docs/*.md runs as written.

The site itself (docs/conf.py, the gallery in examples/) is built by ``make docs``, which fails on any Sphinx
warning or raising example; these tests need no Sphinx. A block or line that cannot run here (several
processes, a GPU, minutes of work, an install) carries ``# not run by the tests: <reason>`` in the page itself.
The blocks run with training capped at a few steps and permutation tests at a few shuffles: the test checks that
they run as written (names, signatures, files, flags), not their numbers; the gallery checks numbers.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

import mibound
from mibound import EstimateResult
from mibound.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARK = "not run by the tests:"
#: the README's two set-up commands: .ci/run runs both (test_readme_opens_with_the_two_commands)
CI_COMMANDS = ("make demo", "make test")
FAST_STEPS, FAST_PERMUTATIONS, FAST_ROWS, FAST_PAIRS = 30, 9, 2000, 200


def _blocks(path: Path) -> list[tuple[str, str, int]]:
    """(language, code, line number) of every fenced block of a Markdown page."""
    text = path.read_text(encoding="utf-8")
    return [(m.group(1), m.group(2), text[:m.start()].count("\n") + 1)
            for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)]


def _python_blocks(path: Path) -> list[tuple[str, int]]:
    return [(code, line) for lang, code, line in _blocks(path) if lang == "python"]


def _shell_lines(path: Path) -> list[tuple[str, int]]:
    """Every command line of the shell blocks (``bash`` / ``sh`` / unlabelled blocks that hold commands).

    A comment line with the mark applies to the command line after it (for commands continued with ``\\``).
    """
    out = []
    for lang, code, line in _blocks(path):
        if lang not in ("bash", "sh", "console", ""):
            continue
        pending = ""
        for i, raw in enumerate(code.splitlines()):
            cmd = raw.strip()
            if cmd.startswith("#") and MARK in cmd:
                pending = "  " + cmd
            elif re.match(r"(mibound|make|python|pip|torchrun)\s|PYTHONPATH=", cmd):
                out.append((raw + pending, line + 1 + i))
                pending = ""
    return out


def _skipped(text: str) -> str | None:
    """The reason given in the page for not running a block or line, or None."""
    m = re.search(re.escape(MARK) + r"\s*(.*)", text)
    return m.group(1).strip() if m else None


# -- the fast settings the blocks run under ---------------------------------------------------------
@pytest.fixture
def fast(monkeypatch, tmp_path):
    """Training capped at FAST_STEPS steps, permutation tests at FAST_PERMUTATIONS shuffles; the data files the CLI
    lines name, in the working directory."""
    import mibound.api
    import mibound.estimators
    from mibound.registry import DEFAULT_ESTIMATOR, takes

    def capped(kwargs: dict, estimator: str) -> dict:
        if takes(estimator, "steps"):
            kwargs["steps"] = min(kwargs.get("steps") or FAST_STEPS, FAST_STEPS)
        return kwargs

    real_estimate, real_permutation = mibound.api.estimate_mi, mibound.api.permutation_test
    real_neural = mibound.estimators.NeuralEstimator

    def estimate_mi(x, y, estimator=DEFAULT_ESTIMATOR, **kwargs):
        return real_estimate(x, y, estimator=estimator, **capped(kwargs, estimator))

    def permutation_test(x, y, estimator=DEFAULT_ESTIMATOR, n_permutations=100, **kwargs):
        return real_permutation(x, y, estimator=estimator, n_permutations=min(n_permutations, FAST_PERMUTATIONS),
                                **capped(kwargs, estimator))

    class NeuralEstimator(real_neural):
        def __init__(self, *args, **kwargs):
            kwargs["steps"] = min(kwargs.get("steps", FAST_STEPS), FAST_STEPS)
            super().__init__(*args, **kwargs)

    NeuralEstimator.__name__ = NeuralEstimator.__qualname__ = "NeuralEstimator"
    for module in (mibound, mibound.api):
        monkeypatch.setattr(module, "estimate_mi", estimate_mi, raising=False)
        monkeypatch.setattr(module, "permutation_test", permutation_test, raising=False)
    for module in (mibound, mibound.estimators):
        monkeypatch.setattr(module, "NeuralEstimator", NeuralEstimator, raising=False)
    monkeypatch.chdir(tmp_path)
    x, y = mibound.CorrelatedGaussian.from_mi(0.5, dim=2).sample(3000, seed=0)
    np.savez("data.npz", x=x, y=y)
    np.savez("pair.npz", x=x, y=y, true_mi=0.5)
    np.save("x.npy", x)
    np.save("y.npy", y)
    for name in ("table.csv", "data.csv"):
        np.savetxt(name, np.c_[x, y], delimiter=",", header="a,b,c,d", comments="")
    return {"x": x, "y": y}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_blocks_run(page, fast, monkeypatch):
    """Each page's Python blocks, in order, in one namespace (a page's blocks build on each other).

    Besides ``fast``'s caps, samplers draw at most FAST_ROWS rows and the image view makers FAST_PAIRS pairs.

    ``x`` and ``y`` stand for "your data" where a page uses them without making them (3000 Gaussian pairs),
    and ``mibound`` and ``np`` are imported, as in the page's earlier blocks.
    """
    import mibound.images.views
    from mibound.data.base import Sampler

    real_sample = Sampler.sample
    monkeypatch.setattr(Sampler, "sample", lambda self, n, *a, **k: real_sample(self, min(n, FAST_ROWS), *a, **k))
    for name in ("crop_pairs", "augment_pairs"):
        real = getattr(mibound.images.views, name)
        monkeypatch.setattr(mibound.images.views, name, lambda *a, _real=real, n_pairs=None, **k:
                            _real(*a, n_pairs=None if n_pairs is None else min(n_pairs, FAST_PAIRS), **k))
    blocks = _python_blocks(page)
    namespace = {"__name__": "__docs__", "x": fast["x"], "y": fast["y"], "mibound": mibound, "np": np}
    ran = 0
    for code, line in blocks:
        if _skipped(code.splitlines()[0]) is not None:
            continue
        try:
            exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{page.name}, the Python block at line {line} raises {exc!r}") from exc
        ran += 1
    assert ran or not blocks or all(_skipped(c.splitlines()[0]) for c, _ in blocks)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_cli_lines_run(page, fast, capsys):
    """Every ``mibound ...`` line runs through the CLI (exit status 0); the others say why not, or CI runs them."""
    for raw, line in _shell_lines(page):
        cmd = raw.split("#")[0].strip()
        if _skipped(raw) is not None or cmd in CI_COMMANDS:
            continue
        assert cmd.startswith("mibound "), f"{page.name}:{line}: {cmd!r} is neither run here nor marked '{MARK} ...'"
        for part in cmd.split("&&"):
            argv = shlex.split(part)[1:]
            assert main(argv) == 0, f"{page.name}:{line}: {part.strip()!r} failed: {capsys.readouterr().err[-2000:]}"


def test_every_skipped_block_says_why():
    for page in PAGES:
        marks = [c.splitlines()[0] for c, _ in _python_blocks(page)] + [raw for raw, _ in _shell_lines(page)]
        for text in marks:
            if MARK in text:
                assert len(_skipped(text)) >= 5, f"{page.name}: {text!r} gives no reason"


def test_documented_result_fields_exist():
    text = (ROOT / "docs" / "quickstart.md").read_text()
    documented = set(re.findall(r"^\| `(\w+)` \|", text, flags=re.M))
    assert documented and documented <= {f.name for f in fields(EstimateResult)}


def test_documented_cli_flags_exist():
    parser = build_parser()
    known = set()
    todo = list(parser._subparsers._group_actions[0].choices.values())
    while todo:  # subcommands and their own subcommands (``mibound tasks list --suite``)
        action = todo.pop()
        for a in action._actions:
            known.update(a.option_strings)
            if isinstance(a.choices, dict):  # a subparsers action: name -> parser
                todo += [c for c in a.choices.values() if hasattr(c, "_actions")]
    docs = "\n".join(p.read_text() for p in PAGES)
    used = set(re.findall(r"mibound [a-z-]+ [^\n`]*", docs))
    flags = {f for line in used for f in re.findall(r"(--[a-z][a-z-]+)", line)}
    assert flags, "no CLI examples found in the docs"
    assert flags <= known | {"--help", "--debug", "--version"}, flags - known


def test_documented_experiments_exist():
    """Every ``mibound experiment NAME`` in the pages names an experiment of the registry."""
    from mibound.experiments import MODULES

    docs = "\n".join(p.read_text() for p in PAGES)
    named = set(re.findall(r"mibound experiment ([a-z][a-z-]+)", docs)) - {"name"}
    assert named and named <= set(MODULES), named - set(MODULES)


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1)
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == list(CI_COMMANDS)
    ci = (ROOT / ".ci" / "run").read_text()
    assert all(re.search(rf"^{cmd}$", ci, flags=re.M) for cmd in (*CI_COMMANDS, "make docs"))


def test_the_gallery_has_eight_examples_that_end_in_a_figure():
    """sphinx-gallery runs examples/plot_*.py in ``make docs``; each draws at least one figure."""
    examples = sorted((ROOT / "examples").glob("plot_*.py"))
    assert len(examples) >= 8
    for path in examples:
        text = path.read_text()
        assert text.startswith(('"""', 'r"""')) and "plt.subplots" in text, path.name


def test_site_check_finds_broken_links_and_network_loads(tmp_path):
    """docs/check_site.py's link part on a three-page site: a missing page, a missing anchor, a CDN script."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_site", ROOT / "docs" / "check_site.py")
    check_site = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_site)
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text('<a href="sub/page.html#here">ok</a> <a href="https://example.org">out</a>')
    (tmp_path / "sub" / "page.html").write_text('<h1 id="here">x</h1><a href="../index.html">up</a>')
    assert check_site.check_links(tmp_path) == []
    (tmp_path / "bad.html").write_text('<a href="sub/page.html#gone">a</a><a href="nothing.html">b</a>'
                                       '<script src="https://cdn.example.org/lib.js"></script>')
    problems = check_site.check_links(tmp_path)
    assert len(problems) == 3
    assert any("no id 'gone'" in p for p in problems) and any("nothing.html -> missing file" in p for p in problems)
    assert any("from the network" in p for p in problems)
