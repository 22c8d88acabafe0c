"""The report as PDF, printed from the same HTML by headless Chromium (its print stylesheet breaks pages
before sections and keeps table rows whole), and a screenshot of its first screen at 1280 px for the
reviewer.

Chromium stamps the print time into the PDF's information dictionary; it is replaced by a fixed date of
the same length (so that no byte offset moves), which makes the PDF byte-identical for the same HTML on
the same machine. Another browser version or other fonts give other bytes, so the manifest leaves the
PDF and the screenshot out (`alliance.runtime.manifest`): the HTML they render is compared.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from alliance.io import write_atomic

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-pdf-header-footer")
STAMP = re.compile(rb"/(CreationDate|ModDate) \(D:\d{14}[+\-Z][^)]*\)")
FIXED_DATE = b"D:19800101000000"  # the ZIP epoch, as reproducible builds use
PRINT_TIMEOUT = 300  # seconds; a 400-patient report prints in a few
NO_BROWSER = ("results/report.pdf is not printed: no Chromium is installed; `make browser` installs it, and "
              "the next run prints it.")
SCREEN = (1280, 2000)  # the screenshot: the report's first screen at 1280 px (the summary at a glance)


def find_browser() -> str | None:
    """The path of the first Chromium found on PATH, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def fixed_dates(pdf: bytes) -> bytes:
    """`pdf` with its creation and modification dates replaced by `FIXED_DATE`, each padded to its
    original length (the cross-reference offsets stay valid)."""
    def fix(match: re.Match) -> bytes:
        stamp = match.group(0)
        key = b"/" + match.group(1) + b" ("
        value = FIXED_DATE + b"+00'00'"
        return key + value.ljust(len(stamp) - len(key) - 1) + b")"
    return STAMP.sub(fix, pdf)


def print_and_screenshot(html: str | Path, pdf: str | Path, png: str | Path, browser: str,
                         size: tuple[int, int] = SCREEN) -> None:
    """Print `html` to `pdf` (with fixed dates) and save its first `size` pixels (width, height) to `png`,
    both in one run of `browser` (headless Chromium: one page load, about half the time of two runs).
    Raises RuntimeError with Chromium's message when it writes either file empty or not at all; nothing is
    written then."""
    with tempfile.TemporaryDirectory(prefix="alliance-pdf-") as tmp:
        printed, shot = Path(tmp) / "report.pdf", Path(tmp) / "report.png"
        done = subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}", "--hide-scrollbars",
             f"--window-size={size[0]},{size[1]}", f"--print-to-pdf={printed}", f"--screenshot={shot}",
             Path(html).resolve().as_uri()],
            capture_output=True, text=True, timeout=PRINT_TIMEOUT, check=False)
        for made, what in ((printed, "no PDF"), (shot, "no screenshot")):
            if not made.exists() or made.stat().st_size == 0:
                raise RuntimeError(f"Chromium made {what} of {html} (exit status {done.returncode}): "
                                   f"{done.stderr.strip()[-500:]}")
        content, picture = fixed_dates(printed.read_bytes()), shot.read_bytes()
    write_atomic(pdf, lambda path: path.write_bytes(content))
    write_atomic(png, lambda path: path.write_bytes(picture))
