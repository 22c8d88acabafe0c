"""The run manifest and the comparison behind `make reproduce`."""

from __future__ import annotations

import copy
import hashlib

from alliance.runtime.manifest import build_manifest, compare_manifests, output_files, verdict


def make_results(tmp_path):
    results = tmp_path / "results"
    for relative, text in {"effects.csv": "a,b\n1,2\n", "figures/plot.png": "png", "report.html": "<html>",
                           "logs/x.log": "time", "benchmarks/x.tsv": "s", "simulation/p.csv": "x",
                           "share/site.zip": "zip", "pooled/effects.csv": "x",
                           "README.md": "readme", "manifest.json": "{}"}.items():
        (results / relative).parent.mkdir(parents=True, exist_ok=True)
        (results / relative).write_text(text)
    data = tmp_path / "patients.csv"
    data.write_text("patient_id\nP1\n")
    return results, {"patients": str(data)}


def test_manifest_lists_outputs_with_hashes(tmp_path):
    results, inputs = make_results(tmp_path)
    assert [p.relative_to(results).as_posix() for p in output_files(results)] == [
        "effects.csv", "figures/plot.png", "report.html"]
    manifest = build_manifest(results, inputs, {"seed": 1})
    assert manifest["outputs"]["effects.csv"] == {
        "sha256": hashlib.sha256(b"a,b\n1,2\n").hexdigest(), "bytes": 8, "kind": "table"}
    assert manifest["outputs"]["figures/plot.png"]["kind"] == "figure"
    assert manifest["inputs"]["patients"]["sha256"] == hashlib.sha256(b"patient_id\nP1\n").hexdigest()
    assert manifest["config"] == {"seed": 1}
    assert "pandas" in manifest["environment"]["packages"]


def test_comparison_and_verdict(tmp_path):
    results, inputs = make_results(tmp_path)
    old = build_manifest(results, inputs, {"seed": 1})
    ok, line = verdict(compare_manifests(old, copy.deepcopy(old)), old)
    assert ok and line == ("Reproduced: all 3 outputs byte-identical (1 table, 1 figure, 1 report); "
                           "same inputs and configuration.")
    new = copy.deepcopy(old)
    new["outputs"]["effects.csv"]["sha256"] = "0" * 64
    del new["outputs"]["report.html"]
    new["config"] = {"seed": 2}
    comparison = compare_manifests(old, new)
    assert comparison["changed"] == ["effects.csv"] and comparison["missing"] == ["report.html"]
    ok, line = verdict(comparison, new)
    assert not ok
    assert line == ("NOT reproduced (3 outputs): 1 changed, 1 missing, configuration differs. "
                    "effects.csv, report.html")


def test_a_reproduction_keeps_what_it_does_not_rebuild(tmp_path):
    """`make reproduce` moves results/ aside and re-runs the workflow; what the workflow does not rebuild
    (the simulation study, the checks, a bundle, a folder's extra files) goes back into results/ (it had
    been deleted with results.previous/); what the re-run wrote is kept as it wrote it."""
    from alliance.runtime.reproduce import restore_unbuilt

    previous, results = tmp_path / "results.previous", tmp_path / "results"
    for path, text in (("effects.csv", "old"), ("simulation/performance.csv", "sim"),
                       ("share/clinic_a.zip", "zip"), ("logs/simulation/batch.log", "log"),
                       ("logs/validate.log", "old log")):
        (previous / path).parent.mkdir(parents=True, exist_ok=True)
        (previous / path).write_text(text)
    for path in ("effects.csv", "logs/validate.log"):
        (results / path).parent.mkdir(parents=True, exist_ok=True)
        (results / path).write_text("new")
    moved = restore_unbuilt(previous, results)
    assert sorted(map(str, moved)) == ["logs/simulation", "share", "simulation"]
    assert (results / "simulation/performance.csv").read_text() == "sim"
    assert (results / "logs/simulation/batch.log").read_text() == "log"
    assert (results / "effects.csv").read_text() == "new"
    assert (results / "logs/validate.log").read_text() == "new"
