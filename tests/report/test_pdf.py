"""The PDF of the report: printed by headless Chromium, with the print time replaced so that the same
HTML gives the same bytes."""

from __future__ import annotations

import datetime as dt
import re

from alliance.report.pdf import FIXED_DATE, find_browser, fixed_dates, print_and_screenshot


def test_dates_are_fixed_without_moving_any_byte():
    raw = (b"%PDF-1.4\n1 0 obj\n<</Producer (Skia/PDF m156)\n/CreationDate (D:20261202010537+00'00')\n"
           b"/ModDate (D:20261202010537+00'00')>>\nendobj\nxref 0 1\n")
    fixed = fixed_dates(raw)
    assert len(fixed) == len(raw)
    assert b"/CreationDate (D:19800101000000+00'00')" in fixed
    assert b"/ModDate (D:19800101000000+00'00')" in fixed
    assert b"2026" not in fixed and fixed.startswith(b"%PDF-1.4\n1 0 obj\n<</Producer (Skia/PDF m156)\n")
    assert fixed_dates(fixed) == fixed


def test_the_same_html_prints_the_same_pdf_and_a_screenshot_of_the_asked_size(tmp_path):
    html = tmp_path / "page.html"
    html.write_text("<!doctype html><html><head><meta charset='utf-8'><style>@media print {h2 {break-before: "
                    "page}}</style></head><body><h1>Report</h1><h2>Methods</h2><p>Text.</p></body></html>")
    browser = find_browser()
    assert browser, "Chromium is needed to print the PDF (make browser)"
    first, second = tmp_path / "a.pdf", tmp_path / "b.pdf"
    print_and_screenshot(html, first, tmp_path / "a.png", browser, size=(400, 300))
    print_and_screenshot(html, second, tmp_path / "b.png", browser, size=(400, 300))
    content = first.read_bytes()
    shot = (tmp_path / "a.png").read_bytes()
    assert shot.startswith(b"\x89PNG") and shot[16:24] == (400).to_bytes(4, "big") + (300).to_bytes(4, "big")
    assert content.startswith(b"%PDF-") and content == second.read_bytes()
    assert FIXED_DATE in content and dt.date.today().strftime("%Y%m%d").encode() not in content
    assert len(re.findall(rb"/Type\s*/Page\b", content)) == 2  # the print stylesheet's break before h2
