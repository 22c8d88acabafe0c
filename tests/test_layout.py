"""The package's layout is its data flow: `i18n` imports nothing of the project and `errors` nothing but
`i18n`, no module imports a module of a later stage, and the modules import one another without a cycle."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workflow" / "alliance"
# Foundations first, then the stages in the order of the flow; simulation and runtime use the stages.
ORDER = ("i18n", "errors", "io", "configuration", "outputs", "instruments", "stats", "ingest", "scoring",
         "measurement", "features", "models", "prediction", "report", "network", "simulation", "runtime")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> set[str]:
    """The `alliance` modules a file imports, anywhere in it (a deferred import counts too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "alliance":
            found |= {f"{node.module}.{alias.name}" if node.module == "alliance" else node.module
                      for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "alliance"}
    return found


MODULES = {module_name(path): project_imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def stage(module: str) -> str:
    return module.split(".")[1]


def test_every_module_belongs_to_a_stage():
    assert {stage(m) for m in MODULES if m != "alliance"} <= set(ORDER)
    assert {path.name for path in PACKAGE.iterdir() if not path.name.startswith(("_", "."))} == {
        f"{name}.py" if (PACKAGE / f"{name}.py").exists() else name for name in ORDER}


def test_the_foundations_import_nothing_of_the_project_but_messages():
    assert MODULES["alliance.i18n"] == set()
    assert MODULES["alliance.errors"] == {"alliance.i18n"}  # a model's reason is a message


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "alliance"))
def test_no_module_imports_a_later_stage(module):
    later = {target for target in MODULES[module] if ORDER.index(stage(target)) > ORDER.index(stage(module))}
    assert not later, f"{module} imports {sorted(later)}, of a later stage"


def test_no_import_cycle():
    known = set(MODULES)

    def resolve(target: str) -> str:  # `from alliance.models import adherence` names a module too
        return target if target in known else target.rsplit(".", 1)[0]

    graph = {m: {resolve(t) for t in targets} - {m} for m, targets in MODULES.items()}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for target in graph.get(module, ()):
            if target.startswith("alliance.") and target.rsplit(".", 1)[0] != module:
                visit(target, (*path, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())


# Libraries a job's imports must not load: each costs one to two seconds of every run (imports only where
# used; issue 15). The validate job checks tables; the report job reads the fits, it does not fit (nor
# validate: the disciplines' names it shows sit in `alliance.ingest`, not in pandera's contract); the
# early-warning job fits with scikit-learn where it fits, not the models' statsmodels; the PDF's job runs
# Chromium on the report and reads no table; the cohort's job draws it, with no model (its truth does).
NOT_LOADED = {
    "synthesize": ("statsmodels", "scipy.stats", "semopy", "pingouin", "matplotlib", "sklearn"),
    "validate": ("statsmodels", "scipy.stats", "semopy", "pingouin", "matplotlib"),
    "report": ("semopy", "pingouin", "sklearn", "lifelines", "pandera"),
    "early_warning": ("statsmodels", "semopy", "pingouin", "matplotlib", "lifelines"),
    "report_pdf": ("pandas", "numpy", "matplotlib"),
}


@pytest.mark.parametrize("script", sorted(NOT_LOADED))
def test_a_job_imports_only_what_it_uses(script):
    source = ast.parse((PACKAGE.parents[0] / "scripts" / f"{script}.py").read_text())
    modules = sorted({node.module for node in ast.walk(source)
                      if isinstance(node, ast.ImportFrom) and node.module.startswith("alliance")})
    probe = f"import sys, {', '.join(modules)}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)})
    loaded = set(done.stdout.split()) & set(NOT_LOADED[script])
    assert not loaded, f"the {script} job loads {sorted(loaded)}"


def test_the_tests_run_one_blas_thread_per_worker():
    """tests/conftest.py limits OpenBLAS to one thread before numpy loads it (one worker per core)."""
    import numpy as np
    from threadpoolctl import threadpool_info

    np.ones((2, 2)) @ np.ones((2, 2))
    blas = [info for info in threadpool_info() if info["user_api"] == "blas"]
    assert blas and all(info["num_threads"] == 1 for info in blas)
