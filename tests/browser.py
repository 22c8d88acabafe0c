"""Open the report in headless Chromium: screenshot, console messages and broken images.

The report has no script of its own. To count broken images, a copy gets a small checking script that
writes the counts into the page title after loading; Chromium prints the DOM (`--dump-dom`) and its
console messages (`--enable-logging=stderr`). Any console message fails the check: a page without
scripts should print none. Chromium comes from the distribution's packages (`make browser`).
"""

from __future__ import annotations

import html as html_module
import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from alliance.report.pdf import find_browser

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")
CHECK = """<script>
window.addEventListener("load", () => {
  const broken = Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length;
  const width = document.documentElement.clientWidth;
  const name = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (e.closest("section[id]") ? "@" + e.closest("section[id]").id : "");
  const overflow = Array.from(document.querySelectorAll("body *")).filter(e => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && (box.right > width + 1 || e.scrollWidth > e.clientWidth + 1 &&
      getComputedStyle(e).overflowX !== "visible");
  }).map(name);
  const wrapped = Array.from(document.querySelectorAll("td, th")).filter(cell => {
    const range = document.createRange();
    range.selectNodeContents(cell);  // the text's own line boxes, not the row's height
    const lines = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.bottom)));
    return lines.size > 3;  // more than three lines: the text wraps more than twice
  }).map(cell => name(cell) + ":" + cell.textContent.trim().slice(0, 40));
  const style = getComputedStyle(document.body);  // the text column: the body's box inside its padding
  const column = document.body.getBoundingClientRect().right - parseFloat(style.paddingRight);
  const pastText = Array.from(document.querySelectorAll("table")).filter(
    t => t.getBoundingClientRect().right > column + 1).map(name);
  document.title = "images:" + document.images.length + ";broken:" + broken + ";layout:" +
    JSON.stringify({overflow: overflow.slice(0, 20), wrapped: wrapped.slice(0, 40), pastText: pastText});
});
</script>"""
COUNTS = re.compile(r"<title>images:(\d+);broken:(\d+);layout:(.*?)</title>", re.S)
CONSOLE = re.compile(r":CONSOLE[:(]\d+\)?\] (.*)")


@dataclass
class BrowserCheck:
    """What Chromium saw: images, broken ones, console messages, and the screenshot's path."""

    images: int
    broken: int
    console: list[str]
    screenshot: Path
    overflow: list[str]  # elements wider than the window or scrolling sideways (tag#id@section)
    wrapped: list[str]  # table cells whose text wraps more than twice (tag@section:text)
    past_text: list[str]  # tables reaching past the page's text column (the body inside its padding)

    @property
    def ok(self) -> bool:
        return self.images > 0 and self.broken == 0 and not self.console


def chromium() -> str:
    """The Chromium executable; a clear error when it is not installed."""
    path = find_browser()
    if path is None:
        raise FileNotFoundError("Chromium is not installed; run `make browser` (Debian/Ubuntu: apt-get "
                                "install chromium)")
    return path


def _run(args: list[str], profile: Path, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def check_page(html: Path, screenshot: Path, width: int = 1280, height: int = 12000,
               timeout: int = 120) -> BrowserCheck:
    """Render `html` (a self-contained page), save a full-height screenshot and count what went wrong."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        page = html.read_text(encoding="utf-8")
        probe = tmp_path / "probe.html"
        probe.write_text(page.replace("</body>", f"{CHECK}\n</body>", 1), encoding="utf-8")
        dumped = _run(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom",
                       f"--window-size={width},{height}", probe.as_uri()], tmp_path / "profile-dom", timeout)
        counts = COUNTS.search(dumped.stdout)
        if counts is None:
            raise RuntimeError(f"Chromium did not render {html}: {dumped.stderr[-1000:]}")
        console = [m.group(1) for m in CONSOLE.finditer(dumped.stderr)]
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        shot = _run([f"--window-size={width},{height}", f"--screenshot={screenshot.resolve()}",
                     html.resolve().as_uri()], tmp_path / "profile-shot", timeout)
        if not screenshot.exists():
            raise RuntimeError(f"Chromium wrote no screenshot of {html}: {shot.stderr[-1000:]}")
    layout = json.loads(html_module.unescape(counts.group(3)))
    return BrowserCheck(int(counts.group(1)), int(counts.group(2)), console, screenshot, layout["overflow"],
                        layout["wrapped"], layout["pastText"])
