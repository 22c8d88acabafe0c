# Models: one job per outcome family of the analysis plan (ANALYSIS_PLAN.md), then the effects table.


rule fit_models:
    input:
        patients=rules.features.output.patients,
        sessions=rules.features.output.sessions,
    output:
        result="results/models/{family}/result.json",
        summary="results/models/{family}/summary.txt",
    wildcard_constraints:
        family="|".join(MODEL_FAMILIES),
    params:
        covariates=config["models"]["covariates"],
        instruments=config["instruments"],  # whole block: load_configured resolves every instrument
        early_window=config["features"]["early_window"],
        min_clusters=config["models"]["min_clusters"],
    resources:
        mem_mb=scaled_mem_mb(1000, 150),
        runtime=scaled_runtime(10, 2),
    log:
        "results/logs/fit_models_{family}.log",
    benchmark:
        "results/benchmarks/fit_models_{family}.tsv"
    conda:
        ENV
    script:
        "../scripts/fit_models.py"


rule sensitivity:
    input:
        features=rules.features.output.patients,
        patients=rules.validate.output.patients,
        outcomes=rules.validate.output.outcomes,
        session_scores=rules.score.output.sessions,
        patient_scores=rules.score.output.patients,
    output:
        table="results/models/sensitivity/sensitivity.csv",
        result="results/models/sensitivity/result.json",
    params:
        covariates=config["models"]["covariates"],
        early_window=config["features"]["early_window"],
        instruments=config["instruments"],  # whole block: load_configured resolves every instrument
        settings=config["sensitivity"],  # whole block: every key is used and recorded in result.json
        min_clusters=config["models"]["min_clusters"],
    resources:
        mem_mb=scaled_mem_mb(1000, 150),
        runtime=scaled_runtime(15, 3),
    log:
        "results/logs/sensitivity.log",
    benchmark:
        "results/benchmarks/sensitivity.tsv"
    conda:
        ENV
    script:
        "../scripts/sensitivity.py"


rule effects:
    input:
        models=expand(rules.fit_models.output.result, family=MODEL_FAMILIES),
    output:
        effects=report(
            "results/effects.csv",
            caption="../report/effects.rst",
            category="Effects",
            labels={"table": "alliance effects"},
        ),
        multiplicity=report(
            "results/models/multiplicity.csv",
            caption="../report/multiplicity.rst",
            category="Effects",
            labels={"table": "false discovery rate"},
        ),
    resources:
        mem_mb=scaled_mem_mb(1000, 10),
        runtime=scaled_runtime(5),
    log:
        "results/logs/effects.log",
    conda:
        ENV
    script:
        "../scripts/effects.py"


rule model_status:
    input:
        models=expand(rules.fit_models.output.result, family=MODEL_FAMILIES),
        sensitivity=rules.sensitivity.output.table,
        sensitivity_result=rules.sensitivity.output.result,
    output:
        status=report(
            "results/models/status.csv",
            caption="../report/model_status.rst",
            category="Effects",
            labels={"table": "model status"},
        ),
    resources:
        mem_mb=scaled_mem_mb(500),
        runtime=scaled_runtime(5),
    log:
        "results/logs/model_status.log",
    conda:
        ENV
    script:
        "../scripts/model_status.py"
