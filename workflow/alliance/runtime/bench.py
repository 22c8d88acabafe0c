"""Benchmark: the whole workflow on synthetic cohorts of growing size, timed per rule and end to end.

Run with `make bench` (sizes with `make bench SIZES="1000 50000"`). For each size the workflow runs from
scratch in a scratch folder (`results/bench/n<size>/`, removed afterwards unless `--keep`) with one
therapist per 12 patients. Writes `results/bench/bench.csv` (one row per rule and size: wall seconds
from Snakemake's `benchmark:` files and the peak resident memory each job logs, plus an `end_to_end` row) and
`bench.md` (the machine, the tables and the targets of the scale issue: the largest cohort end to end
in 10 minutes, no rule above 4 GB, and time growing at most 12-fold from n to 10 n patients).

It also times the simulation study's acceptance run (`--replications`, default 500; 0 skips it): the
`simulation` target for the default-size condition (400 patients, 32 therapists, effect scale 1) from
scratch in `results/bench/simulation/`, with the config's batch size and truth multiplier. Writes
`bench_simulation.csv` (wall seconds, seconds per replication, target) and a section of `bench.md`; the
target is R = 500 in 10 minutes (for another R, projected from its seconds per replication).

And it times H4c's RI-CLPM alone (`--riclpm`, default 4000 patients; 0 skips it): the model over sessions
1..8 with therapist clusters on a synthetic cohort of that size (one therapist per 12 patients), as the
fit_models job fits it (`alliance.models.dynamics.dynamics_analysis`). Writes `bench_riclpm.csv` and a
section of `bench.md`; issue 17's target is 4,000 patients x 8 sessions in 2 minutes.

And it times pooling across sites (`--pool-sites`, default 10; 0 skips it; needs a workflow size): from
the smallest size's run, that many site bundles (`make share`; each site's estimates drawn about the run's
own, one SE apart, so that the sites differ), then `make pool`'s command on them, imports included. Writes
`bench_pooling.csv` and a section of `bench.md`; issue 19's target is ten bundles in 20 s.

And it times the early-warning analysis alone (`--early-warning`, default 10,000 patients; 0 skips it):
the decision rows and the analysis with the config's `early_warning` settings, as the early_warning job
runs them, on a synthetic cohort of that size (one therapist per 12 patients). Writes
`bench_early_warning.csv` and a section of `bench.md`; issue 18's target is 10,000 patients in 30 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from alliance.io import write_csv, write_text
from alliance.runtime.runlog import PEAK_MEMORY

COLUMNS = ["n_patients", "n_therapists", "n_sessions", "rule", "seconds", "max_rss_mb"]
PATIENTS_PER_THERAPIST = 12
TARGET_SECONDS = 600  # the largest cohort, end to end
TARGET_RSS_MB = 4096  # every rule
TARGET_GROWTH = 12  # end-to-end time at 10 n over time at n
# The simulation study's acceptance run (issue 15): R replications of the default-size condition
SIMULATION_CONDITION = {"patients": 400, "therapists": 32, "effect_scale": 1.0}
SIMULATION_REPLICATIONS = 500
SIMULATION_TARGET_SECONDS = 600  # R = 500 replications, truth included, on the machine's cores
RICLPM_WAVES = 8
RICLPM_TARGET_SECONDS = 120  # issue 17: 4,000 patients x 8 sessions
RICLPM_COLUMNS = ["n_patients", "n_therapists", "waves", "patients_fitted", "status", "seconds", "met"]
POOLING_TARGET_SECONDS = 20  # issue 19: ten site bundles pooled
POOLING_COLUMNS = ["sites", "effects", "seconds", "met"]
EARLY_WARNING_TARGET_SECONDS = 30  # issue 18: the whole early-warning rule at 10,000 patients
EARLY_WARNING_COLUMNS = ["n_patients", "n_therapists", "rows", "decision_points", "bootstrap", "seconds",
                         "met"]
SIMULATION_COLUMNS = ["patients", "therapists", "effect_scale", "replications", "batch_size",
                      "truth_multiplier", "cores", "seconds", "seconds_per_replication",
                      "replication_job_seconds", "truth_seconds", "projected_500_seconds", "met"]


def collect(results: Path) -> pd.DataFrame:
    """Per-rule wall time (s) from Snakemake's benchmark files (`results/benchmarks/`, one per job) and
    peak resident memory (MB): the kernel's peak that each job logs at exit (`results/logs/`), or where a
    job logged none, Snakemake's sampled `max_rss` (sampling can miss a short peak; its `cpu_time` is left
    out for the same reason)."""
    rows = []
    for path in sorted((results / "benchmarks").glob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        log = results / "logs" / f"{path.stem}.log"
        peaks = [float(line.split(PEAK_MEMORY)[1]) for line in
                 (log.read_text().splitlines() if log.exists() else []) if PEAK_MEMORY in line]
        rows.append({"rule": path.stem, "seconds": float(table["s"].iloc[0]),
                     "max_rss_mb": max(peaks, default=float(table["max_rss"].iloc[0]))})
    return pd.DataFrame(rows, columns=["rule", "seconds", "max_rss_mb"])


def timed_run(root: Path, work: Path, target: str, config: dict, *, cores: int) -> float:
    """Run the workflow's `target` from scratch in `work` with `config` over the project's config; the wall
    seconds. The target comes before `--quiet`, which would take it as one of its optional values."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake = Path(sys.executable).parent / "snakemake"
    start = time.perf_counter()
    subprocess.run([str(snakemake), target, "--quiet", "--snakefile", str(root / "Snakefile"),
                    "--directory", str(work), "--cores", str(cores),
                    "--configfile", str(work / "config.yaml")], check=True)
    return time.perf_counter() - start


def run_size(root: Path, work: Path, n_patients: int, *, cores: int) -> pd.DataFrame:
    """Run the workflow once from scratch on a synthetic cohort of `n_patients`; the rows of one size."""
    n_therapists = max(8, n_patients // PATIENTS_PER_THERAPIST)
    config = {"synthetic": {"n_patients": n_patients, "n_therapists": n_therapists}}
    wall = timed_run(root, work, "all", config, cores=cores)
    sessions = len(pd.read_parquet(work / "results/validated/sessions.parquet", columns=["session"]))
    table = collect(work / "results")
    peak = float(table["max_rss_mb"].max())
    table.loc[len(table)] = {"rule": "end_to_end", "seconds": wall, "max_rss_mb": peak}
    return table.assign(n_patients=n_patients, n_therapists=n_therapists, n_sessions=sessions)[COLUMNS]


def run_simulation(root: Path, work: Path, replications: int, *, cores: int,
                   condition: dict | None = None, truth_multiplier: int | None = None) -> dict:
    """Run the `simulation` target once from scratch for one condition (default `SIMULATION_CONDITION`)
    with `replications`; the row of `bench_simulation.csv` (`simulation_row`). The batch size and (unless
    given) the truth multiplier are the project config's."""
    condition = condition or SIMULATION_CONDITION
    block = {"replications": int(replications), "patients": [condition["patients"]],
             "therapists": [condition["therapists"]], "effect_scale": [condition["effect_scale"]]}
    if truth_multiplier is not None:
        block["truth_multiplier"] = int(truth_multiplier)
    wall = timed_run(root, work, "simulation", {"simulation": block}, cores=cores)
    settings = yaml.safe_load((root / "config.yaml").read_text())["simulation"] | block
    return simulation_row(work, wall, condition, replications=int(replications), cores=cores,
                          batch_size=int(settings["batch_size"]),
                          truth_multiplier=int(settings["truth_multiplier"]))


def simulation_row(work: Path, wall: float, condition: dict, *, replications: int, cores: int,
                   batch_size: int, truth_multiplier: int) -> dict:
    """The row of `bench_simulation.csv` of a run of the `simulation` target in `work` that took `wall`
    seconds: per replication, the wall time and the replication jobs' time (their benchmark files), the
    truth jobs' time, and the wall time projected to `SIMULATION_REPLICATIONS`."""
    jobs = work / "results/benchmarks/simulation"

    def job_seconds(folder: str) -> float:
        return float(sum(pd.read_csv(path, sep="\t")["s"].iloc[0] for path in (jobs / folder).rglob("*.tsv")))

    projected = wall / replications * SIMULATION_REPLICATIONS
    return {**condition, "replications": replications, "batch_size": batch_size,
            "truth_multiplier": truth_multiplier, "cores": cores, "seconds": wall,
            "seconds_per_replication": wall / replications,
            "replication_job_seconds": job_seconds("replications") / replications,
            "truth_seconds": job_seconds("truth"), "projected_500_seconds": projected,
            "met": bool(projected <= SIMULATION_TARGET_SECONDS)}


def run_riclpm(n_patients: int, waves: int = RICLPM_WAVES, seed: int = 20261202) -> dict:
    """Time H4c's RI-CLPM (sessions 1..`waves`, therapist clusters) on a synthetic cohort of `n_patients`
    drawn and scored as the workflow does; the row of `bench_riclpm.csv`."""
    from alliance.instruments import load_instrument
    from alliance.models.dynamics import dynamics_analysis
    from alliance.scoring.scores import score_sessions
    from alliance.simulation.synthetic import generate_cohort

    config = yaml.safe_load((Path(__file__).resolve().parents[3] / "config.yaml").read_text())
    therapists = max(1, n_patients // PATIENTS_PER_THERAPIST)
    cohort = config["synthetic"] | {"n_patients": n_patients, "n_therapists": therapists}
    patients, sessions, _, _ = generate_cohort(cohort, config["features"]["early_window"],
                                               np.random.default_rng(seed))  # no truth population
    typed = sessions.assign(attended=sessions["attended"].astype(bool))
    scores = score_sessions(typed, load_instrument("wai_sr"))
    start = time.perf_counter()
    result = dynamics_analysis(scores, typed, patients, {"waves": waves})
    seconds = time.perf_counter() - start
    fit = result["riclpm"] or {}
    return {"n_patients": n_patients, "n_therapists": therapists, "waves": waves,
            "patients_fitted": fit.get("n"), "status": result["statuses"][0]["status"], "seconds": seconds,
            "met": seconds <= RICLPM_TARGET_SECONDS}


def site_bundles(results: Path, out: Path, sites: int, seed: int = 20261203) -> list[Path]:
    """`sites` bundles of one run's `results`, labelled site01, site02, ..., each with its estimates (per SD
    and per point) drawn about the run's with their own SEs and its reliability drawn about the run's (one
    run stands in for every site; `make pool` refuses the same aggregates under two labels); their paths."""
    import io
    import json

    from alliance.network.bundle import build_bundle, csv_bytes, write_bundle

    _, files = build_bundle(results, Path(__file__).resolve().parents[3] / "ANALYSIS_PLAN.md", "site01",
                            one_stage=True)  # the one-stage sums too: the pooling's whole work
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(1, sites + 1):
        site = f"site{i:02d}"
        effects = pd.read_csv(io.BytesIO(files["effects.csv"]), keep_default_na=False, na_values=[""])
        for estimate, se in (("estimate", "std_error"), ("estimate_per_point", "std_error_per_point")):
            effects[estimate] = effects[estimate] + rng.normal(size=len(effects)) * effects[se]
        reliability = pd.read_csv(io.BytesIO(files["reliability.csv"]), keep_default_na=False, na_values=[""])
        for column in ("alpha", "omega"):
            reliability[column] = reliability[column] + rng.normal(size=len(reliability)) * 0.01
        info = json.loads(files["provenance.json"]) | {"site": site}
        paths.append(write_bundle(site, files | {"effects.csv": csv_bytes(effects),
                                                 "reliability.csv": csv_bytes(reliability),
                                                 "provenance.json": json.dumps(info).encode()}, out))
    return paths


def run_pooling(results: Path, out: Path, sites: int) -> dict:
    """Time `make pool`'s command (`python -m alliance.network.pool`, imports included) on `sites` bundles
    of one run's `results` (`site_bundles`); the row of `bench_pooling.csv`."""
    paths = site_bundles(results, out / "bundles", sites)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "alliance.network.pool", *map(str, paths), "--out",
                    str(out / "pooled")], check=True, capture_output=True)
    seconds = time.perf_counter() - start
    effects = len(pd.read_csv(out / "pooled/effects.csv"))
    return {"sites": sites, "effects": effects, "seconds": seconds, "met": seconds <= POOLING_TARGET_SECONDS}


def pooling_markdown(row: dict) -> str:
    verdict = "met" if row["met"] else "not met"
    return "\n".join(["## Pooling across sites", "",
                      f"{row['sites']} site bundles, {row['effects']} effects pooled with the pooled report: "
                      f"{row['seconds']:.1f} s (target {POOLING_TARGET_SECONDS} s: {verdict}).", ""])


def run_early_warning(n_patients: int, seed: int = 20261203) -> dict:
    """Time the early-warning job's work (decision rows, models, measures; the config's `early_warning`
    settings) on a synthetic cohort of `n_patients` drawn and scored as the workflow does; the row of
    `bench_early_warning.csv`."""
    from alliance.instruments import load_instrument
    from alliance.prediction.decision_points import decision_rows
    from alliance.prediction.early_warning import early_warning_analysis
    from alliance.scoring.scores import score_sessions
    from alliance.simulation.synthetic import generate_cohort

    config = yaml.safe_load((Path(__file__).resolve().parents[3] / "config.yaml").read_text())
    therapists = max(1, n_patients // PATIENTS_PER_THERAPIST)
    cohort = config["synthetic"] | {"n_patients": n_patients, "n_therapists": therapists}
    early_window = config["features"]["early_window"]
    patients, sessions, outcomes, _ = generate_cohort(cohort, early_window, np.random.default_rng(seed))
    typed = sessions.assign(attended=sessions["attended"].astype(bool))
    scores = score_sessions(typed, load_instrument("wai_sr"))
    features = patients.merge(outcomes[["patient_id", "dropout"]], on="patient_id").assign(
        dropout=lambda table: table["dropout"].astype(bool))
    settings = config["early_warning"] | {"primary_session": early_window}
    covariates = config["models"]["covariates"]
    start = time.perf_counter()
    rows, _ = decision_rows(scores, features, settings["decision_points"], covariates,
                            config["ruptures"]["c"])
    early_warning_analysis(rows, settings, covariates=covariates, instrument=load_instrument("wai_sr"),
                           min_cell_size=config["privacy"]["min_cell_size"])
    seconds = time.perf_counter() - start
    return {"n_patients": n_patients, "n_therapists": therapists, "rows": len(rows),
            "decision_points": len(settings["decision_points"]), "bootstrap": settings["bootstrap"],
            "seconds": seconds, "met": seconds <= EARLY_WARNING_TARGET_SECONDS}


def early_warning_markdown(row: dict) -> str:
    verdict = "met" if row["met"] else "not met"
    return "\n".join([
        "## The early-warning analysis alone", "",
        f"{row['n_patients']:,} patients of {row['n_therapists']:,} therapists, {row['rows']:,} rows at "
        f"{row['decision_points']} decision points, {row['bootstrap']} bootstrap draws: "
        f"{row['seconds']:.1f} s (target {EARLY_WARNING_TARGET_SECONDS} s: {verdict}).", ""])


def riclpm_markdown(row: dict) -> str:
    verdict = "met" if row["met"] else "not met"
    return "\n".join([
        "## H4c's RI-CLPM alone", "",
        f"{row['n_patients']:,} patients of {row['n_therapists']:,} therapists, sessions 1 to "
        f"{row['waves']}, "
        f"therapist-cluster-robust SEs ({row['status']}, {row['patients_fitted']} patients fitted): "
        f"{row['seconds']:.1f} s (target {RICLPM_TARGET_SECONDS} s: {verdict}).", ""])


def simulation_lines(row: dict) -> list[str]:
    """The simulation run's target line and what it measured."""
    r = int(row["replications"])
    measured = (f"{row['seconds']:.0f} s" if r == SIMULATION_REPLICATIONS
                else f"{row['projected_500_seconds']:.0f} s projected from {r} replications in "
                     f"{row['seconds']:.0f} s")
    return [
        f"- Simulation study, {SIMULATION_REPLICATIONS} replications of {row['patients']} patients and "
        f"{row['therapists']} therapists (effect scale {row['effect_scale']:g}), truth included: {measured} "
        f"({'met' if row['met'] else 'NOT met'}: at most {SIMULATION_TARGET_SECONDS} s on {row['cores']} "
        "cores).",
        f"- {row['seconds_per_replication']:.2f} s of wall time per replication on {row['cores']} cores; "
        f"each replication job spent {row['replication_job_seconds']:.2f} s per replication (batches of "
        f"{row['batch_size']}, Python's start included); the truth ({row['truth_multiplier']} times the "
        f"cohort) took {row['truth_seconds']:.0f} s.",
    ]


def simulation_markdown(row: dict) -> str:
    """The simulation section of `bench.md`."""
    return "\n".join([
        "## Simulation study", "",
        f"`snakemake simulation` from scratch, one condition (`--replications {row['replications']}`):", "",
        *simulation_lines(row), "",
    ])


def targets(table: pd.DataFrame) -> list[str]:
    """The scale issue's targets, each as a line saying whether it is met."""
    ends = table[table["rule"] == "end_to_end"].set_index("n_patients")["seconds"]
    rules = table[table["rule"] != "end_to_end"]
    largest = int(ends.index.max())
    lines = [f"- {largest:,} patients end to end: {ends[largest]:.0f} s "
             f"({'met' if ends[largest] <= TARGET_SECONDS else 'NOT met'}: at most {TARGET_SECONDS} s)."]
    worst = rules.loc[rules["max_rss_mb"].idxmax()]
    met = "met" if worst["max_rss_mb"] <= TARGET_RSS_MB else "NOT met"
    lines.append(f"- Largest rule peak memory: {worst['max_rss_mb']:.0f} MB ({worst['rule']} at "
                 f"{int(worst['n_patients']):,} patients; {met}: at most {TARGET_RSS_MB} MB).")
    for n in ends.index:
        if 10 * n in ends.index:
            ratio = ends[10 * n] / ends[n]
            lines.append(f"- {10 * n:,} versus {n:,} patients: {ratio:.1f} times the time "
                         f"({'met' if ratio <= TARGET_GROWTH else 'NOT met'}: at most {TARGET_GROWTH}).")
    return lines


def machine() -> str:
    """The machine the numbers come from."""
    memory, cpu = "", platform.machine()
    if Path("/proc/meminfo").exists():
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f", {kib / 1024 ** 2:.0f} GB RAM"
    if Path("/proc/cpuinfo").exists():
        models = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")]
        cpu = models[0] if models else cpu
    return f"{os.cpu_count()} cores{memory}, {cpu}, Python {platform.python_version()}"


def markdown(table: pd.DataFrame, cores: int, simulation: dict | None = None, riclpm: dict | None = None,
             pooling: dict | None = None, early_warning: dict | None = None) -> str:
    """The summary: machine, targets, end-to-end times and the per-rule table of each size, the
    simulation study's run when one was timed (`simulation`, a `run_simulation` row), the RI-CLPM's
    (`riclpm`, a `run_riclpm` row), pooling's (`pooling`, a `run_pooling` row) and the early warning's
    (`early_warning`, a `run_early_warning` row)."""
    extra = [simulation_markdown(row) for row in [simulation] if row]
    extra += [riclpm_markdown(row) for row in [riclpm] if row]
    extra += [pooling_markdown(row) for row in [pooling] if row]
    extra += [early_warning_markdown(row) for row in [early_warning] if row]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if table.empty:
        return "\n".join(["# Benchmark", "", f"`make bench` on {stamp}: {machine()}; Snakemake with "
                          f"`--cores {cores}`.", "", *extra])
    ends = table[table["rule"] == "end_to_end"][["n_patients", "n_therapists", "n_sessions", "seconds",
                                                 "max_rss_mb"]]
    ends = ends.rename(columns={"seconds": "end_to_end_s", "max_rss_mb": "largest_rule_rss_mb"})
    wide = table[table["rule"] != "end_to_end"].pivot(index="rule", columns="n_patients",
                                                      values=["seconds", "max_rss_mb"])
    wide.columns = [f"{'s' if what == 'seconds' else 'MB'} @ {n:,}" for what, n in wide.columns]
    return "\n".join([
        "# Benchmark", "",
        f"`make bench` on {stamp}: {machine()}; Snakemake with `--cores {cores}`. Synthetic cohorts, one "
        f"therapist per {PATIENTS_PER_THERAPIST} patients, every rule of the default run (`rule all`).", "",
        "## Targets", "", *targets(table), "",
        "## End to end", "", ends.round(1).to_markdown(index=False), "",
        "## Per rule (wall seconds and peak resident memory)", "", wide.round(1).to_markdown(), "",
        *extra,
    ])


def main() -> None:
    """Command-line entry point (`python -m alliance.runtime.bench`)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000, 100000],
                        help="cohort sizes of the whole workflow (none: the simulation study only)")
    parser.add_argument("--replications", type=int, default=SIMULATION_REPLICATIONS,
                        help="replications of the simulation study's timed run (0: not run)")
    parser.add_argument("--riclpm", type=int, default=4000,
                        help="patients of H4c's RI-CLPM timed alone over 8 sessions (0: not run)")
    parser.add_argument("--pool-sites", type=int, default=10,
                        help="site bundles of the smallest size's run pooled (0: not run)")
    parser.add_argument("--early-warning", type=int, default=10000,
                        help="patients of the early-warning analysis timed alone (0: not run)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    parser.add_argument("--keep", action="store_true", help="keep each size's run folder")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[3]
    out = args.out.resolve()
    frames = []
    pooling = None
    for n in sorted(set(args.sizes)):
        work = out / f"n{n}"
        frames.append(run_size(root, work, n, cores=args.cores))
        if pooling is None and args.pool_sites > 0:
            pooling = run_pooling(work / "results", out / "pooling", args.pool_sites)
            write_csv(pd.DataFrame([pooling], columns=POOLING_COLUMNS).round(3), out / "bench_pooling.csv")
        if not args.keep:
            shutil.rmtree(work)
        print(frames[-1].round(2).to_string(index=False), flush=True)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    simulation = None
    if args.replications > 0:
        work = out / "simulation"
        simulation = run_simulation(root, work, args.replications, cores=args.cores)
        if not args.keep:
            shutil.rmtree(work)
        write_csv(pd.DataFrame([simulation], columns=SIMULATION_COLUMNS).round(3),
                  out / "bench_simulation.csv")
    riclpm = run_riclpm(args.riclpm) if args.riclpm > 0 else None
    if riclpm:
        write_csv(pd.DataFrame([riclpm], columns=RICLPM_COLUMNS).round(3), out / "bench_riclpm.csv")
    warning = run_early_warning(args.early_warning) if args.early_warning > 0 else None
    if warning:
        write_csv(pd.DataFrame([warning], columns=EARLY_WARNING_COLUMNS).round(3),
                  out / "bench_early_warning.csv")
    if frames:
        write_csv(table.round(3), out / "bench.csv")
    write_text(markdown(table, args.cores, simulation, riclpm, pooling, warning), out / "bench.md")
    print("\n".join([*(targets(table) if frames else []),
                     *(simulation_lines(simulation) if simulation else []),
                     *([riclpm_markdown(riclpm)] if riclpm else []),
                     *([pooling_markdown(pooling)] if pooling else []),
                     *([early_warning_markdown(warning)] if warning else [])]))

if __name__ == "__main__":
    main()
