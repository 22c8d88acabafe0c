# Scores and features: questionnaires scored per session and per patient, then the patient and session
# features; then the psychometrics of the alliance scores and the figures of the data.


# One job: scoring takes about 0.2 s of a 1 s job, the rest is starting Python (docs/engineering-notes.md,
# "Job layout").
rule features:
    input:
        patients=rules.validate.output.patients,
        sessions=rules.validate.output.sessions,
        outcomes=rules.validate.output.outcomes,
        summary=rules.validate.output.summary,  # the answers validation ignored at missed sessions
    output:
        session_scores="results/scores/session_scores.parquet",
        patient_scores="results/scores/patient_scores.parquet",
        scoring_summary="results/scores/scoring_summary.json",
        patients="results/features/patients.parquet",
        sessions="results/features/sessions.parquet",
        ruptures="results/features/ruptures.parquet",
        rupture_shares=report(
            "results/features/rupture_shares.csv",
            caption="../report/rupture_shares.rst",
            category="Measurement",
            labels={"table": "rupture patterns"},
        ),
    params:
        code=CODE,  # re-run after a change of the package's code (common.smk)
        instruments=config["instruments"],  # whole block: load_configured resolves every instrument
        early_window=config["features"]["early_window"],
        ruptures=config["ruptures"],  # whole block: every key is a setting of the rupture criterion
    resources:
        mem_mb=scaled_mem_mb(1000, 100),
        runtime=scaled_runtime(5, 1),
    log:
        "results/logs/features.log",
    benchmark:
        "results/benchmarks/features.tsv"
    conda:
        ENV
    script:
        "../scripts/features.py"


# The psychometrics and the figures of the data: one job, as the figures and pingouin import the same
# plotting libraries (matplotlib, seaborn, scipy.stats: 2-3 s of a job's start). The figures of the models
# are drawn after the models (report.smk).
rule psychometrics:
    input:
        patients=rules.validate.output.patients,
        sessions=rules.validate.output.sessions,
        outcomes=rules.validate.output.outcomes,
        session_scores=rules.features.output.session_scores,
        features=rules.features.output.patients,
        ruptures=rules.features.output.ruptures,
    output:
        **{
            table: report(
                f"results/psychometrics/{table}.csv",
                caption=f"../report/psychometrics_{table}.rst",
                category="Psychometrics",
                labels={"table": table.replace("_", " ")},
            )
            for table in PSYCHOMETRIC_TABLES
        },
        png=[
            report(
                f"results/figures/{name}.png",
                caption=f"../report/{name}.rst",
                category="Figures",
                labels={"figure": name.replace("_", " ")},
            )
            for name in DATA_FIGURES
        ],
        svg=[f"results/figures/{name}.svg" for name in DATA_FIGURES],
    params:
        code=CODE,  # re-run after a change of the package's code (common.smk)
        tables=PSYCHOMETRIC_TABLES,
        instruments=config["instruments"],  # whole block: load_configured resolves every instrument
        settings=config["psychometrics"],  # whole block: bootstrap, seed and max_sessions are all used
        min_cell_size=config["privacy"]["min_cell_size"],
        synthetic=lambda wildcards: bool(get_truth(wildcards)),
        language=config["report"]["language"],  # of the figures' titles, labels and numbers
    priority: FIRST
    resources:
        mem_mb=scaled_mem_mb(1000, 150),
        runtime=scaled_runtime(15, 3),
    log:
        "results/logs/psychometrics.log",
    benchmark:
        "results/benchmarks/psychometrics.tsv"
    conda:
        ENV
    script:
        "../scripts/psychometrics.py"
