# Models: one job fits every outcome family of the analysis plan (ANALYSIS_PLAN.md), writes the effects
# table, then runs the sensitivity analyses (reusing the satisfaction family's proportional-odds fit) and
# the bond/goal/task analysis (H5) and the reciprocal dynamics (H4c, RI-CLPM), and writes the status of every planned model. One job rather than six: a family's fit takes about 0.5 s at the
# default cohort and starting Python with statsmodels about 2 s, and the sensitivity analyses need the
# families' results anyway (docs/engineering-notes.md, "Job layout").


rule fit_models:
    input:
        features=rules.features.output.patients,
        sessions=rules.features.output.sessions,
        patients=rules.validate.output.patients,
        outcomes=rules.validate.output.outcomes,
        validated_sessions=rules.validate.output.sessions,
        session_scores=rules.features.output.session_scores,
        patient_scores=rules.features.output.patient_scores,
    output:
        results=expand("results/models/{family}/result.json", family=MODEL_FAMILIES),
        summaries=expand("results/models/{family}/summary.txt", family=MODEL_FAMILIES),
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
        sensitivity="results/models/sensitivity/sensitivity.csv",
        sensitivity_result="results/models/sensitivity/result.json",
        dimensions="results/models/dimensions/result.json",
        dimension_effects=report(
            "results/models/dimensions/effects.csv",
            caption="../report/dimension_effects.rst",
            category="Effects",
            labels={"table": "bond, goal and task"},
        ),
        dimension_importance="results/models/dimensions/importance.csv",
        dimension_latent="results/models/dimensions/latent.csv",
        dynamics="results/models/dynamics/result.json",
        dynamics_table=report(
            "results/models/dynamics/riclpm.csv",
            caption="../report/dynamics_riclpm.rst",
            category="Effects",
            labels={"table": "reciprocal dynamics (RI-CLPM)"},
        ),
        status=report(
            "results/models/status.csv",
            caption="../report/model_status.rst",
            category="Effects",
            labels={"table": "model status"},
        ),
    params:
        code=CODE,  # re-run after a change of the package's code (common.smk)
        families=MODEL_FAMILIES,
        covariates=config["models"]["covariates"],
        instruments=config["instruments"],  # whole block: load_configured resolves every instrument
        early_window=config["features"]["early_window"],
        min_clusters=config["models"]["min_clusters"],
        sensitivity=config["sensitivity"],  # whole block: every key is used and recorded in result.json
        dimensions=config["dimensions"],  # whole block: bootstrap draws and seed
        riclpm_waves=config["models"]["riclpm_waves"],
    priority: SECOND
    resources:
        mem_mb=scaled_mem_mb(1000, 150),  # one model at a time: the largest one's memory
        runtime=scaled_runtime(30, 6),  # the families, then the sensitivity analyses
    log:
        "results/logs/fit_models.log",
    benchmark:
        "results/benchmarks/fit_models.tsv"
    conda:
        ENV
    script:
        "../scripts/fit_models.py"
