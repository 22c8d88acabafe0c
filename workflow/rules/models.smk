# Models: one job per outcome family of the analysis plan (ANALYSIS_PLAN.md), then the effects table.


rule fit_models:
    input:
        patients="results/features/patients.parquet",
        sessions="results/features/sessions.parquet",
    output:
        result="results/models/{family}/result.json",
        summary="results/models/{family}/summary.txt",
    wildcard_constraints:
        family="|".join(MODEL_FAMILIES),
    params:
        covariates=config["models"]["covariates"],
    log:
        "results/logs/fit_models_{family}.log",
    benchmark:
        "results/benchmarks/fit_models_{family}.tsv"
    conda:
        ENV
    script:
        "../scripts/fit_models.py"


rule effects:
    input:
        expand("results/models/{family}/result.json", family=MODEL_FAMILIES),
    output:
        report(
            "results/effects.csv",
            caption="../report/effects.rst",
            category="Effects",
            labels={"table": "alliance effects"},
        ),
    log:
        "results/logs/effects.log",
    conda:
        ENV
    script:
        "../scripts/effects.py"
