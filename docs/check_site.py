"""Check the built site (docs/_build/html): every internal link resolves, and a real browser renders it.

    python docs/check_site.py [BUILD_DIR]

1. Links: every ``href`` and ``src`` of every page that points inside the site names a file that
   exists and, with a ``#fragment``, an ``id`` on that page. External links are only counted (the
   check is offline); a page that *loads* anything from the network (script, style, image) fails.
2. Browser (headless Chromium from the system's packages, driven by Playwright): opens the landing
   page, the API index and one gallery page from a server on 127.0.0.1; every image has loaded, every
   math element was rendered by MathJax, no console error, no request left the machine. A screenshot
   of each page goes to ``BUILD_DIR/../screenshots/``. Skipped, saying why, where Chromium or
   Playwright is absent (``apt-get install chromium``; ``pip install 'mibound[docs]'``).

Exit status 1 on any failure; 0 when all passed (or the browser part was skipped).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

PAGES = {"landing": "index.html", "api-index": "api/index.html", "gallery-dpi": "gallery/plot_04_dpi_lesson.html"}


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()
        self.fetched: list[str] = []  # what the page loads by itself (scripts, styles, images, frames)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        loads = {"script": "src", "img": "src", "iframe": "src", "source": "src"}.get(tag)
        if tag == "link" and set((a.get("rel") or "").split()) & {"stylesheet", "preload", "icon", "modulepreload"}:
            loads = "href"
        if loads and a.get(loads):
            self.fetched.append(a[loads])
        for key in ("href", "src"):
            if a.get(key) and not (tag == "link" and key == "href" and a.get("rel") == "preconnect"):
                self.refs.append(a[key])
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> _Refs:
    p = _Refs()
    p.feed(path.read_text(encoding="utf-8", errors="replace"))
    return p


def check_links(root: Path) -> list[str]:
    """Every internal link of every page, checked; returns the problems."""
    problems, external, checked = [], 0, 0
    for page in sorted(root.rglob("*.html")):
        if page.relative_to(root).parts[0] == "_static":  # the theme's template fragments, not pages
            continue
        problems += [f"{page.relative_to(root)}: loads {ref} from the network (the site must work offline)"
                     for ref in _parse(page).fetched if urlsplit(ref).scheme in ("http", "https") or ref.startswith("//")]
        for ref in _parse(page).refs:
            parts = urlsplit(ref)
            if parts.scheme in ("http", "https", "mailto", "data", "javascript") or ref.startswith("//"):
                external += parts.scheme in ("http", "https")
                continue
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            checked += 1
            if not target.exists():
                problems.append(f"{page.relative_to(root)}: {ref} -> missing file")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in _parse(target).ids:
                problems.append(f"{page.relative_to(root)}: {ref} -> no id {parts.fragment!r}")
    print(f"links: {checked} internal links checked, {len(problems)} broken; {external} external links not followed")
    return problems


def _chromium() -> str | None:
    for name in (os.environ.get("MIBOUND_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def check_browser(root: Path, shots: Path) -> list[str] | None:
    """The three pages in headless Chromium; returns the problems, or None when skipped."""
    exe = _chromium()
    if exe is None:
        print("browser check SKIPPED: no Chromium on this machine (Debian: apt-get install chromium)")
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("browser check SKIPPED: Playwright is not installed (pip install 'mibound[docs]')")
        return None
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # one line per request would bury the report
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=flags)
            for name, rel in PAGES.items():
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                errors: list[str] = []
                page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
                page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))

                def offline(route, request):  # nothing leaves the machine
                    if request.url.startswith(base):
                        return route.continue_()
                    errors.append(f"request outside the site: {request.url}")
                    return route.abort()

                page.route("**/*", offline)
                page.goto(base + rel, wait_until="load")
                page.wait_for_load_state("networkidle")
                math = page.evaluate("""async () => {
                    const nodes = document.querySelectorAll('.math');
                    if (nodes.length && window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
                    const done = [...nodes].filter(n => n.querySelector('mjx-container') ||
                                                        n.tagName.toLowerCase() === 'mjx-container').length;
                    return [nodes.length, done];
                }""")
                images = page.evaluate("""() => [...document.images].map(i => [i.currentSrc || i.src,
                                           i.complete && i.naturalWidth > 0])""")
                bad = [src for src, ok in images if not ok]
                page.screenshot(path=str(shots / f"{name}.png"), full_page=False)
                print(f"browser: {rel}: {len(images)} images ({len(bad)} not loaded), "
                      f"{math[1]}/{math[0]} math elements rendered, {len(errors)} console errors "
                      f"-> {shots / (name + '.png')}")
                problems += [f"{rel}: image not loaded: {src}" for src in bad]
                if math[0] != math[1]:
                    problems.append(f"{rel}: {math[0] - math[1]} of {math[0]} math elements not rendered")
                problems += [f"{rel}: {e}" for e in errors]
                context.close()
            browser.close()
    finally:
        server.shutdown()
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else Path(__file__).parent / "_build" / "html").resolve()
    if not (root / "index.html").exists():
        print(f"no built site at {root}: run make docs first", file=sys.stderr)
        return 1
    problems = check_links(root)
    for rel in PAGES.values():
        if not (root / rel).exists():
            problems.append(f"missing page {rel}")
    browser = check_browser(root, root.parent / "screenshots")
    problems += browser or []
    for p in problems:
        print("FAIL", p)
    print("site check: " + ("FAILED" if problems else "passed") + ("" if browser is not None else
                                                                   " (links only; browser check skipped)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
