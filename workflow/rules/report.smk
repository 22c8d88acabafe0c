# Report: figures (PNG and SVG) and the self-contained HTML report.


rule figures:
    input:
        models=expand("results/models/{family}/result.json", family=MODEL_FAMILIES),
        session_scores="results/scores/session_scores.parquet",
        features="results/features/patients.parquet",
        effects="results/effects.csv",
        psychometrics=expand(
            "results/psychometrics/{table}.csv", table=PSYCHOMETRIC_TABLES
        ),
        ruptures="results/features/ruptures.parquet",
    output:
        png=[
            report(
                f"results/figures/{name}.png",
                caption=f"../report/{name}.rst",
                category="Figures",
                labels={"figure": name.replace("_", " ")},
            )
            for name in FIGURES
        ],
        svg=[f"results/figures/{name}.svg" for name in FIGURES],
    params:
        instruments=config["instruments"],
        min_cell_size=config["privacy"]["min_cell_size"],
        synthetic=lambda wildcards: bool(get_truth(wildcards)),
    resources:
        mem_mb=scaled_mem_mb(1000, 100),
        runtime=scaled_runtime(10, 1),
    log:
        "results/logs/figures.log",
    benchmark:
        "results/benchmarks/figures.tsv"
    conda:
        ENV
    script:
        "../scripts/figures.py"


rule report:
    input:
        unpack(get_truth),
        validation="results/validated/validation_summary.json",
        scoring="results/scores/scoring_summary.json",
        session_scores="results/scores/session_scores.parquet",
        features="results/features/patients.parquet",
        models=expand("results/models/{family}/result.json", family=MODEL_FAMILIES),
        effects="results/effects.csv",
        multiplicity="results/models/multiplicity.csv",
        status=rules.model_status.output.status,
        sensitivity="results/models/sensitivity/sensitivity.csv",
        sensitivity_result="results/models/sensitivity/result.json",
        psychometrics=expand(
            "results/psychometrics/{table}.csv", table=PSYCHOMETRIC_TABLES
        ),
        rupture_shares="results/features/rupture_shares.csv",
        figures=expand("results/figures/{name}.png", name=FIGURES),
    output:
        report(
            "results/report.html",
            caption="../report/report.rst",
            category="Report",
            labels={"document": "HTML report"},
        ),
    params:
        config=config,
        min_cell_size=config["privacy"]["min_cell_size"],
    resources:
        mem_mb=scaled_mem_mb(1000, 50),
        runtime=scaled_runtime(5, 0.5),
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    conda:
        ENV
    script:
        "../scripts/report.py"


rule manifest:
    input:
        "results/report.html",
        "results/effects.csv",
        "results/models/multiplicity.csv",
        rules.model_status.output.status,
        "results/models/sensitivity/sensitivity.csv",
        expand("results/figures/{name}.svg", name=FIGURES),
    output:
        "results/manifest.json",
    params:
        results=lambda wildcards, output: os.path.dirname(output[0]),
        inputs=lambda wildcards: get_tables(wildcards) | get_truth(wildcards),
        config=config,
    resources:
        mem_mb=scaled_mem_mb(500, 5),
        runtime=scaled_runtime(5, 0.1),
    log:
        "results/logs/manifest.log",
    conda:
        ENV
    script:
        "../scripts/manifest.py"


rule therapist_feedback:
    input:
        features="results/features/patients.parquet",
        session_scores="results/scores/session_scores.parquet",
    output:
        directory("results/feedback"),
    params:
        min_cell_size=config["privacy"]["min_cell_size"],
    resources:
        mem_mb=scaled_mem_mb(1000, 100),
        runtime=scaled_runtime(10, 1),
    log:
        "results/logs/therapist_feedback.log",
    conda:
        ENV
    script:
        "../scripts/feedback.py"
