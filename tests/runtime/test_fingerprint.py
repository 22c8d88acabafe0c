"""The code fingerprint that re-runs the main run's jobs after a change of the package's code."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from alliance.runtime.fingerprint import PACKAGE, code_fingerprint


def test_fingerprint_follows_code_templates_and_catalogues_not_caches_or_docs(tmp_path):
    package = tmp_path / "alliance"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    base = code_fingerprint(package)
    assert base == code_fingerprint(package) and re.fullmatch(r"[0-9a-f]{64}", base)
    (package / "__pycache__").mkdir(exist_ok=True)
    (package / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"compiled")
    (package / "instruments" / "README.md").write_text("a documentation edit")
    assert code_fingerprint(package) == base
    for edited in ("models/dynamics.py", "i18n/es.po", "instruments/wai_sr.yaml"):
        path = package / edited
        original = path.read_bytes()
        path.write_bytes(original + b"\n")
        assert code_fingerprint(package) != base, edited
        path.write_bytes(original)
    assert code_fingerprint(package) == base
    template = next(package.rglob("*.html"))
    template.rename(template.with_name("renamed.html"))  # a moved file is a change too
    assert code_fingerprint(package) != base


def test_every_job_of_the_main_run_takes_the_fingerprint(root: Path):
    """Each rule of the main run (not the simulation study's) has `code=CODE` among its params."""
    main_run = {"data.smk", "scores.smk", "models.smk", "prediction.smk", "report.smk"}
    for path in sorted((root / "workflow/rules").glob("*.smk")):
        for rule, body in re.findall(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", path.read_text(), re.M | re.S):
            has = re.search(r"^    params:\n        code=CODE,", body, re.M) is not None
            assert has == (path.name in main_run), (path.name, rule)
