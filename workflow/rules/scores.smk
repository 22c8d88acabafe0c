# Scores: questionnaires scored per session and per patient, then patient-level features.


rule score:
    input:
        sessions="results/validated/sessions.parquet",
        outcomes="results/validated/outcomes.parquet",
    output:
        sessions="results/scores/session_scores.parquet",
        patients="results/scores/patient_scores.parquet",
        summary="results/scores/scoring_summary.json",
    params:
        instruments=config["instruments"],
    log:
        "results/logs/score.log",
    benchmark:
        "results/benchmarks/score.tsv"
    conda:
        ENV
    script:
        "../scripts/score.py"


rule features:
    input:
        patients="results/validated/patients.parquet",
        outcomes="results/validated/outcomes.parquet",
        session_scores="results/scores/session_scores.parquet",
        patient_scores="results/scores/patient_scores.parquet",
    output:
        "results/features/patients.parquet",
    params:
        early_window=config["features"]["early_window"],
    log:
        "results/logs/features.log",
    benchmark:
        "results/benchmarks/features.tsv"
    conda:
        ENV
    script:
        "../scripts/features.py"
