# Data: the synthetic cohort, its truth and the validation of the three contract tables.


# The cohort alone: the analysis starts from it while `synthesize_truth` computes the truth beside it.
rule synthesize:
    output:
        patients=f"{SYNTHETIC}/patients.csv",
        sessions=f"{SYNTHETIC}/sessions.csv",
        outcomes=f"{SYNTHETIC}/outcomes.csv",
    params:
        code=CODE,  # re-run after a change of the package's code (common.smk)
        synthetic=config["synthetic"],  # whole block: every key is a setting of the generator
        early_window=config["features"]["early_window"],
    resources:
        mem_mb=lambda wildcards, attempt: (500 + config["synthetic"]["n_patients"] * 12 // 1000) * attempt,
        runtime=lambda wildcards, attempt: (5 + config["synthetic"]["n_patients"] // 100_000) * attempt,
    log:
        "results/logs/synthesize.log",
    benchmark:
        "results/benchmarks/synthesize.tsv"
    conda:
        ENV
    script:
        "../scripts/synthesize.py"


# The truth: the models fitted to a population `truth_multiplier` times the cohort (the cohort is drawn
# again for its dropout rate and planted ruptures). Only the report and the manifest read it.
rule synthesize_truth:
    output:
        truth=f"{SYNTHETIC}/truth.json",
    params:
        code=CODE,  # re-run after a change of the package's code (common.smk)
        synthetic=config["synthetic"],  # whole block: every key is a setting of the generator
        early_window=config["features"]["early_window"],
        covariates=config["models"]["covariates"],
    resources:
        mem_mb=lambda wildcards, attempt: (500 + SYNTHETIC_PATIENTS * 12 // 1000) * attempt,
        runtime=lambda wildcards, attempt: (5 + SYNTHETIC_PATIENTS // 100_000) * attempt,
    log:
        "results/logs/synthesize_truth.log",
    benchmark:
        "results/benchmarks/synthesize_truth.tsv"
    conda:
        ENV
    script:
        "../scripts/synthesize_truth.py"


# Reads the tables as configured (data.*: formats, encodings, column map, REDCap). The validation report is
# written by the script on success and on failure; it is deliberately not an output, so that Snakemake does
# not delete it when invalid data make the job fail (no table is written then).
rule validate:
    input:
        unpack(get_tables),
    output:
        patients="results/validated/patients.parquet",
        sessions="results/validated/sessions.parquet",
        outcomes="results/validated/outcomes.parquet",
        summary="results/validated/validation_summary.json",
    params:
        code=CODE,  # re-run after a change of the package's code (common.smk)
        instruments=config["instruments"],  # whole block: load_configured resolves every instrument
        data=config["data"],  # whole block: the paths and every reading setting of the reader
        privacy=config["privacy"],  # whole block: allow_columns, k_anonymity and min_cell_size are all used
        report="results/validated/validation_report.html",
        language=config["report"]["language"],  # of the validation report (its messages stay English)
    resources:
        mem_mb=scaled_mem_mb(1000, 50),
        runtime=scaled_runtime(5, 0.2),
    log:
        "results/logs/validate.log",
    benchmark:
        "results/benchmarks/validate.tsv"
    conda:
        ENV
    script:
        "../scripts/validate.py"
