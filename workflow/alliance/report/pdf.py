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
from concurrent.futures import ThreadPoolExecutor
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


def print_pdf(html: str | Path, pdf: str | Path, browser: str) -> None:
    """Print `html` to `pdf` with `browser` (headless Chromium), with fixed dates; raises RuntimeError
    with Chromium's message when it prints nothing."""
    with tempfile.TemporaryDirectory(prefix="alliance-pdf-") as tmp:
        printed = Path(tmp) / "report.pdf"
        done = subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}", f"--print-to-pdf={printed}",
             Path(html).resolve().as_uri()],
            capture_output=True, text=True, timeout=PRINT_TIMEOUT, check=False)
        if not printed.exists() or printed.stat().st_size == 0:
            raise RuntimeError(f"Chromium printed no PDF of {html} (exit status {done.returncode}): "
                               f"{done.stderr.strip()[-500:]}")
        content = fixed_dates(printed.read_bytes())
    write_atomic(pdf, lambda path: path.write_bytes(content))


def screenshot(html: str | Path, png: str | Path, browser: str, size: tuple[int, int] = SCREEN) -> None:
    """Save the first `size` pixels (width, height) of `html` as rendered by `browser` to `png`."""
    with tempfile.TemporaryDirectory(prefix="alliance-shot-") as tmp:
        shot = Path(tmp) / "report.png"
        done = subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}", "--hide-scrollbars",
             f"--window-size={size[0]},{size[1]}", f"--screenshot={shot}", Path(html).resolve().as_uri()],
            capture_output=True, text=True, timeout=PRINT_TIMEOUT, check=False)
        if not shot.exists() or shot.stat().st_size == 0:
            raise RuntimeError(f"Chromium took no screenshot of {html} (exit status {done.returncode}): "
                               f"{done.stderr.strip()[-500:]}")
        content = shot.read_bytes()
    write_atomic(png, lambda path: path.write_bytes(content))


def print_and_screenshot(html: str | Path, pdf: str | Path, png: str | Path, browser: str) -> None:
    """`print_pdf` and `screenshot` of the same page, in two browser processes at the same time (each is
    mostly Chromium starting: on 2 cores the pair takes the time of one)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [pool.submit(print_pdf, html, pdf, browser), pool.submit(screenshot, html, png, browser)]
        for job in jobs:
            job.result()
