# Simulation study of the estimators and power (ANALYSIS_PLAN.md, section 9): `snakemake simulation`.
# One job per batch of `simulation.batch_size` replications of a condition (one Python process: a
# replication does not pay for starting Python; group "simulation" bundles batches on a cluster), one truth
# job per condition, then one job for the performance and sample-size tables and the power curve (its
# figure alone was a job of its own, most of it Python's start). Not part of `rule all`.

from alliance.simulation.conditions import condition_grid, replication_batches

SIMULATION = config["simulation"]
SIMULATION_GRID = condition_grid(SIMULATION)
SIMULATION_CONDITIONS = {row["condition"]: row for row in SIMULATION_GRID.to_dict("records")}
SIMULATION_BATCHES = replication_batches(SIMULATION["replications"], SIMULATION["batch_size"])
SIMULATION_DIR = "results/simulation"
# The grid row (condition, patients, therapists, effect_scale) of a job's condition.
SIMULATION_CONDITION = lambda wildcards: SIMULATION_CONDITIONS[wildcards.condition]


rule simulation_replication:
    output:
        f"{SIMULATION_DIR}/replications/{{condition}}/batch{{batch}}.csv",
    wildcard_constraints:
        condition="|".join(SIMULATION_CONDITIONS),
        batch=r"\d+",
    params:
        condition=SIMULATION_CONDITION,
        replications=lambda wildcards: list(SIMULATION_BATCHES[int(wildcards.batch)]),
        synthetic=config["synthetic"],  # whole block: the generator of each cohort
        seed=SIMULATION["seed"],
        early_window=config["features"]["early_window"],
        covariates=config["models"]["covariates"],
        ruptures=config["ruptures"],  # whole block: every key is a setting of the rupture criterion
        min_clusters=config["models"]["min_clusters"],  # the few-cluster threshold, as the workflow's models
    group:
        "simulation"
    resources:
        mem_mb=lambda wildcards, attempt: (600 + SIMULATION_CONDITION(wildcards)["patients"]) * attempt,
        runtime=lambda wildcards, attempt: (
            5 + len(SIMULATION_BATCHES[int(wildcards.batch)]) * SIMULATION_CONDITION(wildcards)["patients"] // 200
        )
        * attempt,
    log:
        "results/logs/simulation/replications/{condition}/batch{batch}.log",
    benchmark:
        "results/benchmarks/simulation/replications/{condition}/batch{batch}.tsv"
    conda:
        ENV
    script:
        "../scripts/simulation_replication.py"


rule simulation_truth:
    output:
        f"{SIMULATION_DIR}/truth/{{condition}}.csv",
    wildcard_constraints:
        condition="|".join(SIMULATION_CONDITIONS),
    params:
        condition=SIMULATION_CONDITION,
        synthetic=config["synthetic"],  # whole block: the generator of each cohort
        seed=SIMULATION["seed"],
        truth_multiplier=SIMULATION["truth_multiplier"],
        early_window=config["features"]["early_window"],
        covariates=config["models"]["covariates"],
        ruptures=config["ruptures"],  # whole block: every key is a setting of the rupture criterion
        min_clusters=config["models"]["min_clusters"],  # the few-cluster threshold, as the workflow's models
    resources:
        mem_mb=lambda wildcards, attempt: (
            1000 + SIMULATION_CONDITION(wildcards)["patients"] * SIMULATION["truth_multiplier"] // 10
        )
        * attempt,
        runtime=lambda wildcards, attempt: (
            10 + SIMULATION_CONDITION(wildcards)["patients"] * SIMULATION["truth_multiplier"] // 500
        )
        * attempt,
    log:
        "results/logs/simulation/truth/{condition}.log",
    benchmark:
        "results/benchmarks/simulation/truth/{condition}.tsv"
    conda:
        ENV
    script:
        "../scripts/simulation_truth.py"


rule simulation_summary:
    input:
        truth=expand(rules.simulation_truth.output[0], condition=SIMULATION_CONDITIONS),
        replications=expand(
            rules.simulation_replication.output[0],
            condition=SIMULATION_CONDITIONS,
            batch=SIMULATION_BATCHES,
        ),
    output:
        performance=report(
            f"{SIMULATION_DIR}/performance.csv",
            caption="../report/simulation_performance.rst",
            category="Simulation",
            labels={"table": "performance"},
        ),
        sample_size=report(
            f"{SIMULATION_DIR}/sample_size.csv",
            caption="../report/simulation_sample_size.rst",
            category="Simulation",
            labels={"table": "sample size"},
        ),
        png=report(
            f"{SIMULATION_DIR}/power_curve.png",
            caption="../report/simulation_power_curve.rst",
            category="Simulation",
            labels={"figure": "power curve"},
        ),
        svg=f"{SIMULATION_DIR}/power_curve.svg",
    params:
        target_power=SIMULATION["target_power"],
    resources:
        mem_mb=scaled_mem_mb(1000, 20),
        runtime=scaled_runtime(5, 0.2),
    log:
        "results/logs/simulation/summary.log",
    benchmark:
        "results/benchmarks/simulation/summary.tsv"
    conda:
        ENV
    script:
        "../scripts/simulation_summary.py"


rule simulation:
    input:
        rules.simulation_summary.output,
    localrule: True
