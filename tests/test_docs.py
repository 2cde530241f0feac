"""The docs match the code: the API reference is current, documented flags and fields exist."""

import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from mibound import EstimateResult
from mibound.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_is_current():
    r = subprocess.run([sys.executable, str(ROOT / "docs" / "make_api.py"), "--check"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


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
    docs = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    used = set(re.findall(r"mibound [a-z-]+ [^\n`]*", docs))
    flags = {f for line in used for f in re.findall(r"(--[a-z][a-z-]+)", line)}
    assert flags, "no CLI examples found in the docs"
    assert flags <= known | {"--help", "--debug", "--version"}, flags - known


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1)
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
