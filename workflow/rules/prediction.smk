# Prediction: early warning of dropout from the alliance (ANALYSIS_PLAN.md, section 10). Its own job, so
# that it runs beside fit_models: it needs the scores and features only, and the report reads its tables.


rule early_warning:
    input:
        session_scores=rules.features.output.session_scores,
        features=rules.features.output.patients,
    output:
        result="results/early_warning/result.json",
        measures=report(
            "results/early_warning/measures.csv",
            caption="../report/early_warning_measures.rst",
            category="Early warning",
            labels={"table": "early-warning measures"},
        ),
        decision_curve="results/early_warning/decision_curve.csv",
        calibration="results/early_warning/calibration.csv",
        roc="results/early_warning/roc.csv",
        flow="results/early_warning/flow.csv",
        # internal clinical use only, never in the report (config early_warning.patient_list)
        patient_list=(
            ["results/early_warning/patient_list.csv"] if config["early_warning"]["patient_list"] else []
        ),
    params:
        code=CODE,  # re-run after a change of the package's code (common.smk)
        settings=config["early_warning"],  # whole block: every key is used and recorded in result.json
        early_window=config["features"]["early_window"],
        covariates=config["models"]["covariates"],
        instruments=config["instruments"],  # whole block: the alliance instrument's cut-off
        rupture_c=config["ruptures"]["c"],
        min_cell_size=config["privacy"]["min_cell_size"],
    resources:
        mem_mb=scaled_mem_mb(1000, 50),
        runtime=scaled_runtime(10, 1),
    log:
        "results/logs/early_warning.log",
    benchmark:
        "results/benchmarks/early_warning.tsv"
    conda:
        ENV
    script:
        "../scripts/early_warning.py"
