"""The report in a real browser (headless Chromium): screenshot, no console errors, no broken images."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import check_page

pytestmark = pytest.mark.slow
PIXEL = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def test_check_finds_console_errors_and_broken_images(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(f'<html><body><img src="data:image/png;base64,{PIXEL}">'
                    '<img src="data:image/png;base64,iVBORw0KGgo=">'
                    "<script>console.error('deliberate'); missing_function();</script></body></html>")
    result = check_page(page, tmp_path / "bad.png", height=600)
    assert (result.images, result.broken) == (2, 1)
    assert any("deliberate" in line for line in result.console)
    assert any("missing_function is not defined" in line for line in result.console)
    assert not result.ok


def test_clean_page_passes(tmp_path):
    page = tmp_path / "good.html"
    page.write_text(f'<html><body><p>ok</p><img src="data:image/png;base64,{PIXEL}"></body></html>')
    result = check_page(page, tmp_path / "good.png", height=600)
    assert result.ok and (result.images, result.broken, result.console) == (1, 0, [])
    assert Path(result.screenshot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
