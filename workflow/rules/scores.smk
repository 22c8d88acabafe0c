# Scores: questionnaires scored per session and per patient, then patient-level features.


rule score:
    input:
        sessions=rules.validate.output.sessions,
        outcomes=rules.validate.output.outcomes,
    output:
        sessions="results/scores/session_scores.parquet",
        patients="results/scores/patient_scores.parquet",
        summary="results/scores/scoring_summary.json",
    params:
        instruments=config["instruments"],  # whole block: load_configured resolves every instrument
    resources:
        mem_mb=scaled_mem_mb(1000, 100),
        runtime=scaled_runtime(5, 0.5),
    log:
        "results/logs/score.log",
    benchmark:
        "results/benchmarks/score.tsv"
    conda:
        ENV
    script:
        "../scripts/score.py"


rule psychometrics:
    input:
        patients=rules.validate.output.patients,
        sessions=rules.validate.output.sessions,
        outcomes=rules.validate.output.outcomes,
        session_scores=rules.score.output.sessions,
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
    params:
        instruments=config["instruments"],  # whole block: load_configured resolves every instrument
        settings=config["psychometrics"],  # whole block: bootstrap, seed and max_sessions are all used
    resources:
        mem_mb=scaled_mem_mb(1000, 150),
        runtime=scaled_runtime(10, 2),
    log:
        "results/logs/psychometrics.log",
    benchmark:
        "results/benchmarks/psychometrics.tsv"
    conda:
        ENV
    script:
        "../scripts/psychometrics.py"


rule features:
    input:
        patients=rules.validate.output.patients,
        outcomes=rules.validate.output.outcomes,
        session_scores=rules.score.output.sessions,
        patient_scores=rules.score.output.patients,
        reliability=rules.psychometrics.output.reliability,
    output:
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
        early_window=config["features"]["early_window"],
        ruptures=config["ruptures"],  # whole block: every key is a setting of the rupture criterion
    resources:
        mem_mb=scaled_mem_mb(1000, 100),
        runtime=scaled_runtime(5, 0.5),
    log:
        "results/logs/features.log",
    benchmark:
        "results/benchmarks/features.tsv"
    conda:
        ENV
    script:
        "../scripts/features.py"
