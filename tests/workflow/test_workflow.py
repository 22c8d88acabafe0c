"""The whole Snakemake workflow on the default (small) cohort: outputs, a run killed mid-way and restarted,
the manifest and a byte-identical re-run (`make reproduce`), notebooks, reports. Two whole runs: the default
run, killed once and restarted (conftest.py), and the re-run of `make reproduce`, which shows it equal to an
uninterrupted run."""

from __future__ import annotations

import copy
import hashlib
import hmac
import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import yaml
from browser import check_page
from citations import citations, reference_list
from figure_checks import layout_problems
from pypdf import PdfReader
from scipy import stats
from threadpoolctl import threadpool_limits
from workflow_runs import (
    DEFAULT_RUN,
    SMALL,
    TABLES,
    assert_recovers_truth,
    digest,
    digests,
    run_workflow,
)

from alliance.configuration import check_config
from alliance.i18n import use_language
from alliance.ingest.readers import read_table
from alliance.instruments import load_configured
from alliance.io import read_tables, write_csv, write_json
from alliance.models import FAMILIES
from alliance.outputs import EARLY_WARNING_TABLES, FIGURES, PSYCHOMETRIC_TABLES
from alliance.report.figures import make_figures
from alliance.report.methods import named_works
from alliance.report.references import REFERENCES, cited_references, cited_text, reference_html
from alliance.simulation.study import analyse_cohort
from alliance.simulation.synthetic import synthesize

pytestmark = pytest.mark.slow


def test_run_writes_effects_report_and_figures(default_run):
    effects = pd.read_csv(default_run / "results/effects.csv")
    truth = yaml.safe_load((default_run / "data/synthetic/truth.json").read_text())
    assert_recovers_truth(effects, truth)
    report = (default_run / "results/report.html").read_text()
    assert "<html" in report and "data:image/png;base64" in report
    assert report.count("<th>&alpha;</th>") == 1  # H5's table has its column of the dimensions' alphas
    assert "what the three explain together and its reliability" in report
    for name in ("alliance_trajectories", "subscale_distributions", "forest_plot"):
        for ext in ("png", "svg"):
            assert (default_run / f"results/figures/{name}.{ext}").stat().st_size > 1000
    for step in ("synthesize", "synthesize_truth", "validate", "features", "psychometrics", "fit_models",
                 "report"):
        assert (default_run / f"results/logs/{step}.log").exists()
    reliability = pd.read_csv(default_run / "results/psychometrics/reliability.csv")
    totals = reliability[reliability["scale"] == "total"].set_index("instrument")
    assert totals.loc["wai_sr", "alpha"] > 0.8 and totals.loc["csq8", "alpha"] > 0.7
    fit = pd.read_csv(default_run / "results/psychometrics/cfa_fit.csv").set_index("model")
    assert fit.loc["correlated_factors", "cfi"] > fit.loc["one_factor", "cfi"]
    invariance = pd.read_csv(default_run / "results/psychometrics/invariance.csv")
    assert invariance["level"].tolist() == ["configural", "metric", "scalar"]
    assert (invariance["status"] == "fitted").all() and invariance["n_groups"].iloc[0] >= 2
    dynamics = pd.read_csv(default_run / "results/models/dynamics/riclpm.csv").set_index("effect")
    assert (dynamics["status"] == "fitted").all() and dynamics.loc["alliance_to_symptoms", "ci_high"] < 0
    # the alliance and symptoms are recorded from session 1, at every session
    assert (dynamics["first_session"] == 1).all() and (dynamics["session_step"] == 1).all()
    assert 'id="dynamics"' in report and "the RI-CLPM and H4a agree" in report
    warning = json.loads((default_run / "results/early_warning/result.json").read_text())
    assert warning["verdict"]["assessed"] and warning["primary_session"] == 3
    measures = pd.read_csv(default_run / "results/early_warning/measures.csv")
    assert set(measures["session"]) == {2, 3, 4, 5, 6} and (measures["ci_low"] <= measures["ci_high"]).all()
    assert not (default_run / "results/early_warning/patient_list.csv").exists()  # only when asked
    assert 'id="early-warning"' in report and "P00001" not in report
    shares = pd.read_csv(default_run / "results/features/rupture_shares.csv")
    assert shares["n"].sum() == 600
    # every JSON output is strict JSON, as jq, R's jsonlite and browsers read it: an undefined number (the
    # dropout benchmark's unpublished CI) is null, never Python's NaN
    written = sorted((default_run / "results").rglob("*.json"))
    assert len(written) >= 10
    for path in written:
        json.loads(path.read_text(), parse_constant=lambda word, path=path: pytest.fail(f"{word} in {path}"))
    dropout = json.loads((default_run / "results/models/dropout/result.json").read_text())
    benchmark = dropout["extra"]["benchmark"]
    assert benchmark["benchmark_value"] == 0.55 and benchmark["benchmark_ci_low"] is None
    patients = pd.read_parquet(default_run / "results/features/patients.parquet")
    assert set(patients["rupture_pattern"]) <= set(shares["pattern"])


# Each family's patient-level model: its outcome and alliance predictor in effects.csv.
FAMILY_SAMPLES = {"adherence": ("attendance", "alliance_early"), "dropout": ("dropout", "alliance_early"),
                  "satisfaction": ("satisfaction", "alliance_mean"),
                  "symptoms": ("symptom_improvement", "alliance_early")}


def test_the_counts_agree_across_the_tables(default_run):
    """Each family's flow adds up (the cohort less its exclusions is what it analysed); the rows of
    effects.csv fitted to that sample (the model, its therapist/patient split and its sensitivity refits)
    give the same number of patients; and the per-discipline rows share those patients out."""
    effects = pd.read_csv(default_run / "results/effects.csv")
    cohort = len(pd.read_parquet(default_run / "results/validated/patients.parquet"))
    checked = 0
    for family, (outcome, predictor) in FAMILY_SAMPLES.items():
        flow = json.loads((default_run / f"results/models/{family}/result.json").read_text())["flow"]
        steps = [step["step"] for step in flow]
        end = steps.index("analysed")
        assert steps[0] == "patients in the cohort" and flow[0]["n"] == cohort
        assert all(step.startswith("excluded: ") for step in steps[1:end])
        analysed = flow[end]["n"]
        assert flow[0]["n"] - sum(step["n"] for step in flow[1:end]) == analysed, family
        of_outcome = effects[effects["outcome"] == outcome]
        rows = of_outcome[of_outcome["predictor"].isin(
            [predictor, f"{predictor}_patient", f"{predictor}_therapist"])]
        assert (rows["n_patients"] == analysed).all(), (family, rows["n_patients"].tolist())
        disciplines = of_outcome[of_outcome["predictor"].str.startswith(f"{predictor} [")]
        if len(disciplines):
            assert disciplines["n_patients"].sum() == analysed, family
        checked += len(rows) + len(disciplines)
    assert checked >= 20  # the three primary models' splits and disciplines among them


def test_the_report_lists_every_work_it_cites_and_no_other(default_config, default_run):
    """The reference list holds the full reference of each work the rest of the report cites, in
    alphabetical order (APA), and of no other; every citation in the text is one of them."""
    html = (default_run / "results/report.html").read_text()
    listed, rest = reference_list(html)
    text = cited_text(rest)
    instruments = load_configured(default_config["instruments"])  # the run's: SMALL keeps the default's
    works = named_works(instruments, default_config)
    assert listed == [reference_html(reference) for reference in cited_references(text, works)]
    assert len(listed) >= 20 and 'href="#references"' in html
    cited = citations(text)
    assert cited and sorted(cited - set(REFERENCES)) == []
    assert {reference_html(REFERENCES[key]) for key in cited} <= set(listed)
    assert "(client; Hatcher & Gillaspy, 2006). Responses range" in text  # the instrument, cited once


def test_make_share_bundle_holds_aggregates_only_and_pools_to_itself(root, default_run, tmp_path, capsys):
    """`make share` on the default run (issue 19): the bundle has the same bytes when built twice, no patient
    or therapist code anywhere, no table with a row per patient, session or therapist, and every count at
    least the minimum cell size or suppressed; an empty site label is refused naming the key; the bundle
    pooled alone gives its own primary effects."""
    from alliance.network.bundle import ENTRIES, read_bundle
    from alliance.network.pool import pool
    from alliance.network.pooling import interval_ratio
    from alliance.network.share import main as share

    results, plan = default_run / "results", root / "ANALYSIS_PLAN.md"
    assert share(["--results", str(results), "--plan", str(plan), "--out", str(tmp_path)]) == 1
    assert "network.site is empty" in capsys.readouterr().err
    # a plan changed since the run: the bundle would claim a plan its results did not follow
    edited = tmp_path / "ANALYSIS_PLAN.md"
    edited.write_text(plan.read_text() + "\nVersion 99: an edit after the run.\n")
    assert share(["--results", str(results), "--plan", str(edited), "--site", "clinic_a",
                  "--out", str(tmp_path / "edited")]) == 1
    assert "followed another version of the analysis plan" in capsys.readouterr().err
    assert not (tmp_path / "edited").exists()
    for out in ("a", "b"):
        assert share(["--results", str(results), "--plan", str(plan), "--site", "clinic_a",
                      "--out", str(tmp_path / out), "--one-stage"]) == 0
    bundle = tmp_path / "a/clinic_a.zip"
    assert bundle.read_bytes() == (tmp_path / "b/clinic_a.zip").read_bytes()
    # the site keeps the patients of the sums it sent (results/.one_stage_sent.json, never in a bundle):
    # sums over almost the same patients are withheld next time (their difference would describe them)
    ledger = results / ".one_stage_sent.json"
    kept = json.loads(ledger.read_text())
    assert set(kept) == {"attendance", "dropout", "satisfaction"}  # the same sample twice: kept once
    assert all(len(samples) == 1 and len(samples[0]) >= 100 for samples in kept.values())
    try:  # sent before, as well: the satisfaction sample without its first patient
        fewer = dict(list(kept["satisfaction"][0].items())[1:])
        ledger.write_text(json.dumps(kept | {"satisfaction": [*kept["satisfaction"], fewer]}))
        assert share(["--results", str(results), "--plan", str(plan), "--site", "clinic_a",
                      "--out", str(tmp_path / "c"), "--one-stage"]) == 0
        with zipfile.ZipFile(tmp_path / "c/clinic_a.zip") as archive:
            again = json.loads(archive.read("aggregates.json"))
        assert again["satisfaction"] == {"status": "withheld", "reason": "small_change"}
        assert again["dropout"]["status"] == "sent"
    finally:
        ledger.write_text(json.dumps(kept))
    summary = (tmp_path / "a/clinic_a_WHAT_LEAVES_THE_SITE.md").read_text()
    # it tells the data-protection officer what suppression one count at a time does not prevent
    assert "written \"<10\"" in summary and "a hidden count can still be worked out from others" in summary
    with zipfile.ZipFile(bundle) as archive:
        files = {name: archive.read(name).decode() for name in archive.namelist()}
    assert sorted(files) == sorted(ENTRIES)
    run_plan = json.loads((results / "manifest.json").read_text())["inputs"]["plan"]["sha256"]
    info = json.loads(files["provenance.json"])
    assert info["plan_sha256"] == run_plan == hashlib.sha256(plan.read_bytes()).hexdigest()
    # the fingerprints of the outputs of aggregates, none of a row-level table or of an output that writes
    # the data files' own SHA-256 (either confirms a guess at any cell of the data)
    manifest = json.loads((results / "manifest.json").read_text())
    outputs = manifest["outputs"]
    fingerprints = info["outputs_hmac_sha256"]
    assert {"effects.csv", "methods.md", "models/status.csv", "features/rupture_shares.csv"} <= set(
        fingerprints)
    withheld = {path for path in outputs if path not in fingerprints}
    assert {"validated/patients.parquet", "scores/session_scores.parquet", "features/patients.parquet",
            "validated/validation_summary.json", "report.html"} <= withheld
    data_hashes = [entry["sha256"] for name, entry in manifest["inputs"].items() if name != "plan"]
    assert len(data_hashes) >= 3
    for path in fingerprints:
        text = (results / path).read_bytes()
        assert not any(digest.encode() in text for digest in data_hashes), path
    # keyed by the site's secret, which stays at the site: no plain SHA-256 of an output leaves (a reviewer
    # recovered a small table's hidden counts from its SHA-256 by trying every split of the cohort)
    key = bytes.fromhex((results / ".site_key").read_text().strip())
    assert (results / ".site_key").stat().st_mode & 0o077 == 0  # readable by its owner only
    assert fingerprints["features/rupture_shares.csv"] == hmac.new(
        key, (results / "features/rupture_shares.csv").read_bytes(), hashlib.sha256).hexdigest()
    plain = {entry["sha256"] for entry in outputs.values()}
    assert not any(digest in text for digest in plain for text in files.values())
    assert key.hex() not in "".join(files.values()) and ".site_key" not in outputs
    patients = pd.read_csv(default_run / "data/synthetic/patients.csv")
    codes = set(patients["patient_id"]) | set(patients["therapist_id"])
    leaked = {code for code in codes for text in files.values() if code in text}
    assert not leaked, sorted(leaked)[:5]
    k = 10  # privacy.min_cell_size of the run
    counts = {"effects.csv": ["n_patients", "n_therapists"], "flows.csv": ["n"], "reliability.csv": ["n"],
              "benchmarks.csv": ["n"]}
    for name in ENTRIES:
        if not name.endswith(".csv"):
            continue
        table = pd.read_csv(io.StringIO(files[name]), dtype=str, keep_default_na=False)
        assert len(table) < 100 and not {"patient_id", "therapist_id", "session"} & set(table.columns), name
        for column in counts.get(name, []):
            for value in table[column]:
                assert value in (f"<{k}", "suppressed", "0", "") or int(value) >= k, (name, column, value)
    effects = read_bundle(bundle).effects
    assert (effects["status"] == "estimated").all() and effects["estimate_per_point"].notna().sum() == 3
    # a discipline's counts are withheld (two models' rows and totals together gave a hidden one's away),
    # and its therapists (5 to 9 in this run, on t(G - 1)) are not in its CI over its SE either
    few = effects[effects["predictor"].str.contains(" [", regex=False)]
    assert len(few) >= 3 and (few[["n_patients", "n_therapists"]] == "suppressed").all().all()
    assert ((few["ci_high"] - few["ci_low"]) / (2 * few["std_error"])).to_numpy() == pytest.approx(
        stats.norm.ppf(0.975), rel=1e-9)  # z, not t(G - 1) (2.31 to 2.78 here)
    pool([bundle], tmp_path / "pooled")
    pooled = pd.read_csv(tmp_path / "pooled/effects.csv").query("analysis == 'primary'").set_index("outcome")
    own = effects[effects["analysis"] == "primary"].set_index("outcome")
    assert pooled["estimate"].to_dict() == pytest.approx(own["estimate_per_point"].to_dict(), rel=1e-9)
    # its SE as wide as its own CI (t(G - 1)): the pooled CI is the site's own, on the per-point scale
    ratio = pd.Series(interval_ratio(own["estimate"], own["std_error"], own["ci_low"], own["ci_high"]),
                      index=own.index)
    assert (ratio > 1).any() and (ratio >= 1).all()
    assert pooled["std_error"].to_dict() == pytest.approx((own["std_error_per_point"] * ratio).to_dict(),
                                                          rel=1e-9)
    report = (tmp_path / "pooled/report.html").read_text()
    assert (pooled["k_sites"] == 1).all() and "<svg" in report
    # the one-stage analysis from the site's sums (aggregates.json: sums over at least k patients and
    # therapists, no row) is the site's own analysis: its primary logistic effects per point, and its
    # satisfaction effect within 0.05 of its SE (the site's therapists taken at their mean caseload)
    aggregates = json.loads(files["aggregates.json"])
    assert {entry["status"] for entry in aggregates.values()} == {"sent"}
    # off by default (network.one_stage): the sums tell more about small groups than the effects
    assert share(["--results", str(results), "--plan", str(plan), "--site", "clinic_a",
                  "--out", str(tmp_path / "off")]) == 0
    with zipfile.ZipFile(tmp_path / "off/clinic_a.zip") as archive:
        off = json.loads(archive.read("aggregates.json"))
    assert {entry["reason"] for entry in off.values()} == {"not_enabled"}
    assert all(min(entry["n_patients"], entry["n_therapists"]) >= k for entry in aggregates.values())
    together = pd.read_csv(tmp_path / "pooled/one_stage.csv").set_index("outcome")
    logistic = ["attendance", "dropout"]
    assert together.loc[logistic, "estimate"].to_dict() == pytest.approx(
        own.loc[logistic, "estimate_per_point"].to_dict(), rel=1e-7)
    gap = together.loc["satisfaction", "estimate"] - own.loc["satisfaction", "estimate_per_point"]
    assert abs(gap) < 0.05 * own.loc["satisfaction", "std_error_per_point"]
    assert "therapists taken at their mean number of patients" in report
    assert together["few_clusters"].all()
    assert report.count("in one model, computed from the sums it sent") == 3
    # its per-SD columns are its own (CR1, t(G - 1)), not the site's small-sample corrected ones
    sd, v = own["predictor_sd"], own["predictor_sd_relative_variance"]
    assert together["std_error_per_combined_sd"].to_dict() == pytest.approx(
        (sd * (together["std_error"] ** 2 + together["estimate"] ** 2 * v) ** 0.5).to_dict(), rel=1e-9)
    # the pooled report lists the works it cites (the pooling methods, the benchmarks' sources), no other
    listed, rest = reference_list(report)
    text = cited_text(rest)
    cited = citations(text)
    assert {"Paule & Mandel (1982)", "Hartung & Knapp (2001)", "Sharf, Primavera & Diener (2010)"} <= cited
    assert listed == [reference_html(reference) for reference in cited_references(text)]
    assert {reference_html(REFERENCES[key]) for key in cited} == set(listed)
    # `make bench`'s pooling step: one run stands in for three sites, each bundle with its own data hashes
    from alliance.runtime.bench import run_pooling

    row = run_pooling(results, tmp_path / "bench", 3)
    assert row["sites"] == 3 and row["effects"] == len(pd.read_csv(tmp_path / "bench/pooled/effects.csv")) > 3
    sites = pd.read_csv(tmp_path / "bench/pooled/sites.csv")
    assert set(sites["site"]) == {"site01", "site02", "site03"}


def test_the_cohort_and_its_truth_are_those_of_synthesize(root, default_config, default_run, tmp_path):
    """The `synthesize` job draws the cohort alone and `synthesize_truth` its truth, beside the analysis:
    together they write, byte for byte, what `alliance.simulation.synthetic.synthesize` returns."""
    config = copy.deepcopy(default_config)  # the run's config, in its key order (the manifest's is sorted)
    config["synthetic"] |= SMALL["synthetic"]
    check_config(config, root / "workflow/schemas/config.schema.yaml")
    with threadpool_limits(1):  # one BLAS thread, as Snakemake gives a job: the truth's last digits vary
        *tables, truth = synthesize(config["synthetic"], config["features"]["early_window"],
                                    config["models"]["covariates"])
    for name, table in zip(TABLES, tables, strict=True):
        write_csv(table, tmp_path / f"{name}.csv")
        assert digest(tmp_path / f"{name}.csv") == digest(default_run / f"data/synthetic/{name}.csv"), name
    write_json(truth, tmp_path / "truth.json")
    assert digest(tmp_path / "truth.json") == digest(default_run / "data/synthetic/truth.json")


def test_a_simulation_replication_is_analysed_as_the_workflow_analyses_a_cohort(default_config,
                                                                                  default_run):
    """The simulation study analyses each replication (`alliance.simulation.study.analyse_cohort`) exactly
    as the workflow's models job analyses a cohort: on the default run's cohort, every effect row of the
    workflow (the level refits, therapist/patient split and moderation, included) is the simulation's: every
    planned model of the four families is fitted in both, with the same estimates."""
    workflow = pd.read_csv(default_run / "results/effects.csv")
    tables = [read_table(default_run / f"data/synthetic/{name}.csv") for name in TABLES]
    ours = analyse_cohort(*tables, early_window=default_config["features"]["early_window"],
                          covariates=default_config["models"]["covariates"],
                          ruptures=default_config["ruptures"])
    assert (ours["status"] == "ok").all(), ours.loc[ours["status"] != "ok", ["predictor", "error"]]
    keys = ["outcome", "model", "predictor"]
    merged = workflow.merge(ours, on=keys, suffixes=("", "_simulation"), validate="one_to_one")
    assert len(merged) == len(ours) == len(workflow)
    for column in ("estimate", "std_error", "ci_low", "ci_high"):
        pd.testing.assert_series_equal(merged[column], merged[f"{column}_simulation"], check_names=False,
                                       rtol=1e-8, atol=1e-12)


@pytest.fixture(scope="module")
def reproduced(root, default_run) -> SimpleNamespace:
    """`make reproduce` on the default run (a re-run from a clean results/, uninterrupted), once: its
    outcome, the manifest before it, and the digests of every compared output before and after it."""
    results = default_run / "results"
    before, manifest = digests(results), json.loads((results / "manifest.json").read_text())
    done = subprocess.run(
        [sys.executable, "-m", "alliance.runtime.reproduce", "--directory", str(default_run), "--snakefile",
         str(root / "Snakefile"), "--cores", "2", "--configfile", str(default_run / "test_config.yaml")],
        capture_output=True, text=True, timeout=900)
    return SimpleNamespace(done=done, manifest=manifest, before=before, after=digests(results))


def test_a_run_killed_mid_way_and_restarted_gives_identical_results(interrupted, reproduced):
    """The default run was started in an empty folder and its whole process group killed once the first
    scores were written; after `--unlock` and `--rerun-incomplete` (the `interrupted` fixture) every table,
    figure and the report equal those of an uninterrupted run from a clean results/ (`make reproduce`)."""
    assert interrupted.killed_while_running, "the run ended before it could be killed"
    assert not interrupted.report_after_kill
    assert interrupted.unreadable == []  # what was there was whole (atomic writes)
    assert reproduced.after == reproduced.before


def test_manifest_and_make_reproduce_rerun_byte_identical(default_run, reproduced):
    """The manifest lists every output with its hash, and `make reproduce` (a re-run from a clean results/)
    gives every one of them byte-identical: the determinism check of the whole workflow."""
    manifest = reproduced.manifest
    outputs = manifest["outputs"]
    expected = {"effects.csv", "report.html", "figures/forest_plot.png", "models/multiplicity.csv",
                "models/status.csv"}
    assert expected <= set(outputs)
    assert not any(path.startswith(("logs/", "benchmarks/")) for path in outputs)
    assert outputs["effects.csv"]["sha256"] == reproduced.before["effects.csv"]
    assert set(manifest["inputs"]) == {"patients", "sessions", "outcomes", "truth", "plan"}
    assert manifest["config"]["synthetic"]["seed"] == 5
    assert manifest["environment"]["packages"]["statsmodels"]
    done = reproduced.done
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    (line,) = done.stdout.splitlines()
    assert line.startswith(f"Reproduced: all {len(outputs)} outputs byte-identical (")
    assert not (default_run / "results.previous").exists()


# Runs each notebook given as a script, as `python notebook.py` would, each in a fresh namespace but in one
# process (the imports, 2-3 s a notebook, shared); prints {notebook: its output} as JSON, and names the
# notebook on stderr before running it, so that a failure's traceback follows its name.
NOTEBOOKS = """
import contextlib, io, json, runpy, sys
printed = {}
for path in sys.argv[1:]:
    print(path, file=sys.stderr, flush=True)
    with contextlib.redirect_stdout(io.StringIO()) as output:
        runpy.run_path(path, run_name="__main__")
    printed[path] = output.getvalue()
print(json.dumps(printed))
"""


def test_notebooks_run_on_the_results(root, default_run):
    notebooks = [str(path) for path in sorted((root / "notebooks").glob("*.py"))]
    assert notebooks
    done = subprocess.run([sys.executable, "-c", NOTEBOOKS, *notebooks], cwd=default_run,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = json.loads(done.stdout)
    assert list(printed) == notebooks
    for notebook, output in printed.items():
        assert "patients" in output, notebook
    # each benchmark beside its own metric only (it had printed r = .278 above every adjusted r)
    explored = next(output for notebook, output in printed.items() if notebook.endswith("explore_cohort.py"))
    assert "d, early alliance of completers minus dropouts (pooled SD): " in explored
    assert "compatible with 0.278" in explored or "than 0.278" in explored or "opposite to 0.278" in explored
    assert "Benchmark r = 0.278" not in explored


def test_notebooks_say_why_where_the_data_cannot_support_a_model(root, default_run, tmp_path):
    """A site with no dropout and 7 therapists (a reviewer's network probe): the diagnostics, the RI-CLPM
    refit and the early-warning notebooks had stopped on a NotEstimable traceback or printed empty
    tables; they say why, in the run's words, and go on."""
    shutil.copytree(default_run / "results", tmp_path / "results",
                    ignore=shutil.ignore_patterns("figures", "report.*", "feedback"))
    features = pd.read_parquet(tmp_path / "results/features/patients.parquet")
    codes = {code: f"T{i % 7}" for i, code in enumerate(sorted(features["therapist_id"].unique()))}
    features.assign(dropout=pd.array([False] * len(features), dtype="boolean"),
                    therapist_id=features["therapist_id"].map(codes)).to_parquet(
        tmp_path / "results/features/patients.parquet")
    status = pd.read_csv(tmp_path / "results/models/status.csv", keep_default_na=False)
    status.loc[status["key"] == "H2", ["status", "reason"]] = ["not_estimable", "no patient dropped out"]
    status.to_csv(tmp_path / "results/models/status.csv", index=False)
    notebooks = [str(root / "notebooks" / f"{name}.py")
                 for name in ("model_diagnostics", "reciprocal_dynamics", "early_warning")]
    done = subprocess.run([sys.executable, "-c", NOTEBOOKS, *notebooks], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    diagnostics, dynamics, warning = json.loads(done.stdout).values()
    assert "H2 not_estimable: no patient dropped out; no influence diagnostics" in diagnostics
    assert "alliance x log(session): not estimable: dropout takes a single value (0)" in diagnostics
    assert "7 therapists (fewer than 10): too few clusters" in dynamics
    assert "no patient in treatment at session 3 dropped out" in warning


def test_snakemake_report_has_every_figure_and_table(root, default_run):
    target = default_run / "results/snakemake-report.zip"
    done = run_workflow(root, default_run, DEFAULT_RUN, "--report", str(target))
    assert done.returncode == 0, done.stderr[-3000:]
    with zipfile.ZipFile(target) as archive:
        names = "\n".join(archive.namelist())
    for name in ("effects.csv", "report.html", "alliance_trajectories.png", "forest_plot.png",
                 "subscale_distributions.png"):
        assert name in names


def test_report_renders_in_chromium(default_run, tmp_path):
    result = check_page(default_run / "results/report.html", tmp_path / "report.png")
    assert result.console == [] and result.broken == 0
    assert result.overflow == []  # nothing wider than 1280 px or scrolling sideways
    assert result.wrapped == []  # no table cell wraps more than twice
    pdf, screen = default_run / "results/report.pdf", default_run / "results/report.png"
    assert pdf.read_bytes().startswith(b"%PDF-") and pdf.stat().st_size > 100_000
    assert screen.read_bytes().startswith(b"\x89PNG") and (default_run / "results/methods.md").exists()
    assert result.images == len(FIGURES)  # every figure, the synthetic-only example trajectories included
    assert (tmp_path / "report.png").stat().st_size > 50_000
    # the printed pages are numbered "page / pages" in the footer (the first, a middle and the last page read;
    # reading all 40 takes about 7 s)
    pages = PdfReader(pdf).pages
    count = len(pages)
    for number in sorted({1, count // 2, count}):
        footer = re.search(rf"(?<!\d){number} / {count}(?!\d)", pages[number - 1].extract_text())
        assert footer, f"page {number} of {count} has no page number"


@pytest.mark.parametrize("code", ["es", "ca"])
def test_the_report_in_spanish_and_catalan_fits_1280_px(root, default_run, tmp_path, code):
    """The default run's report rebuilt in Spanish and Catalan (a copy of the run; only the report job, as
    the tables are what the longer words widen) passes the English report's layout checks at 1280 px: no
    overflow and no table cell wrapping more than twice (the predictor labels once did, in both); and its
    figures, drawn in that language, the layout check of the figures."""
    work = tmp_path / "run"
    shutil.copytree(default_run, work, ignore=shutil.ignore_patterns(".snakemake"))
    done = run_workflow(root, work, DEFAULT_RUN | {"report": {"language": code, "pdf": False}},
                        "results/report.html", "--forcerun", "report", "--rerun-triggers", "mtime")
    assert done.returncode == 0, done.stderr[-3000:]
    translated = (work / "results/report.html").read_text()
    assert f'<html lang="{code}">' in translated
    # the same works cited, so the same reference list (references stay as published)
    english = (default_run / "results/report.html").read_text()
    listed, rest = reference_list(translated)
    assert listed == reference_list(english)[0]
    # the text cites as APA's Spanish and Catalan do: the last two authors joined by "y" ("e" before an i
    # sound) or "i", not "&" (the references stay as published, the configuration as given)
    text = cited_text(rest)
    assert not re.search(r"\w (?:&|&amp;) [A-Z]", text), re.findall(r".{30}\w & [A-Z].{20}", text)[:3]
    assert f"Hatcher {'y' if code == 'es' else 'i'} Gillaspy, 2006" in text
    result = check_page(work / "results/report.html", tmp_path / "report.png")
    assert result.console == [] and result.broken == 0
    assert result.overflow == [] and result.wrapped == []
    # and every figure, drawn in that language from the run's results: no title or label cut off, no
    # legend over data (three Spanish and one Catalan figure once were)
    with use_language(code):
        figures = run_figures(work / "results")
        problems = {name: found for name, figure in figures.items() if (found := layout_problems(figure))}
    plt.close("all")
    assert len(figures) == len(FIGURES) and problems == {}


def run_figures(results: Path) -> dict:
    """Every figure of the report, built from a finished run's results (as its two jobs build them)."""
    def read(name: str) -> dict:
        return json.loads((results / name).read_text())

    config = read("manifest.json")["config"]  # the run's whole configuration
    instruments = load_configured(config["instruments"])
    warning = {"result": read("early_warning/result.json"),
               **{name: pd.read_csv(results / f"early_warning/{name}.csv")
                  for name in EARLY_WARNING_TABLES}}
    return make_figures(
        pd.read_parquet(results / "scores/session_scores.parquet"),
        pd.read_parquet(results / "features/patients.parquet"), pd.read_csv(results / "effects.csv"),
        instrument=instruments["alliance"], satisfaction=instruments["satisfaction"],
        min_cell_size=config["privacy"]["min_cell_size"],
        psychometrics=read_tables(results / f"psychometrics/{name}.csv" for name in PSYCHOMETRIC_TABLES),
        ruptures=pd.read_parquet(results / "features/ruptures.parquet"), synthetic=True,
        models={family: read(f"models/{family}/result.json") for family in FAMILIES},
        dimensions=read("models/dimensions/result.json"), early_warning=warning,
        dynamics=read("models/dynamics/result.json"))
