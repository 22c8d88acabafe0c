# Data: the synthetic cohort and the validation of the three contract tables.


rule synthesize:
    output:
        patients=f"{SYNTHETIC}/patients.csv",
        sessions=f"{SYNTHETIC}/sessions.csv",
        outcomes=f"{SYNTHETIC}/outcomes.csv",
        truth=f"{SYNTHETIC}/truth.json",
    params:
        synthetic=config["synthetic"],
        early_window=config["features"]["early_window"],
        covariates=config["models"]["covariates"],
    log:
        "results/logs/synthesize.log",
    benchmark:
        "results/benchmarks/synthesize.tsv"
    conda:
        ENV
    script:
        "../scripts/synthesize.py"


rule validate:
    input:
        unpack(get_tables),
    output:
        patients="results/validated/patients.parquet",
        sessions="results/validated/sessions.parquet",
        outcomes="results/validated/outcomes.parquet",
        summary="results/validated/validation_summary.json",
    params:
        instruments=config["instruments"],
    log:
        "results/logs/validate.log",
    benchmark:
        "results/benchmarks/validate.tsv"
    conda:
        ENV
    script:
        "../scripts/validate.py"
