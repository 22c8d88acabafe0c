"""The lock file and environment.yml pin the same versions; the lock pins everything exactly."""

from __future__ import annotations

import re

import yaml

CONDA_ONLY = {"python", "pip"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(root) -> dict[str, str]:
    pins = {}
    for line in (root / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version, f"requirements.lock: '{line}' is not pinned with =="
        pins[normalise(name.split("[")[0])] = version
    return pins


def test_environment_yml_matches_the_lock(root):
    pins = lock_pins(root)
    env = yaml.safe_load((root / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    checked = 0
    for dep in conda:
        name, _, version = dep.partition("=")
        if name in CONDA_ONLY:
            continue
        assert normalise(name) in pins, f"environment.yml lists {name}, the lock does not"
        locked = pins[normalise(name)]
        assert version == locked, f"{name}: environment.yml {version}, lock {locked}"
        checked += 1
    assert checked >= 15


def test_every_direct_dependency_is_in_both(root):
    pyproject = (root / "pyproject.toml").read_text()
    block = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    direct = {normalise(n.split("[")[0]) for n in re.findall(r'"([^"]+)"', block)}
    env = yaml.safe_load((root / "environment.yml").read_text())
    conda = {normalise(d.partition("=")[0]) for d in env["dependencies"] if isinstance(d, str)}
    pins = lock_pins(root)
    assert direct <= set(pins), direct - set(pins)
    assert direct <= conda, direct - conda
