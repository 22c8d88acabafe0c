# Report: figures (PNG and SVG) and the self-contained HTML report.


rule figures:
    input:
        models=expand(rules.fit_models.output.result, family=MODEL_FAMILIES),
        session_scores=rules.score.output.sessions,
        features=rules.features.output.patients,
        effects=rules.effects.output.effects,
        psychometrics=rules.psychometrics.output,
        ruptures=rules.features.output.ruptures,
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
        instruments=config["instruments"],  # whole block: load_configured resolves every instrument
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
        validation=rules.validate.output.summary,
        scoring=rules.score.output.summary,
        session_scores=rules.score.output.sessions,
        features=rules.features.output.patients,
        models=expand(rules.fit_models.output.result, family=MODEL_FAMILIES),
        effects=rules.effects.output.effects,
        multiplicity=rules.effects.output.multiplicity,
        status=rules.model_status.output.status,
        sensitivity=rules.sensitivity.output.table,
        sensitivity_result=rules.sensitivity.output.result,
        psychometrics=rules.psychometrics.output,
        rupture_shares=rules.features.output.rupture_shares,
        figures=rules.figures.output.png,
    output:
        html=report(
            "results/report.html",
            caption="../report/report.rst",
            category="Report",
            labels={"document": "HTML report"},
        ),
        methods="results/methods.md",
    params:
        config=config,  # whole config: the report prints it in full (provenance) and its sections read it
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


rule report_pdf:
    input:
        rules.report.output.html,
    output:
        pdf="results/report.pdf",
        screenshot="results/report.png",
    params:
        browser=BROWSER,
    resources:
        mem_mb=scaled_mem_mb(1000),
        runtime=scaled_runtime(5),
    log:
        "results/logs/report_pdf.log",
    benchmark:
        "results/benchmarks/report_pdf.tsv"
    conda:
        ENV  # the Python side; Chromium itself comes from the system (`make browser`)
    script:
        "../scripts/report_pdf.py"


rule manifest:
    input:
        rules.report.output,
        rules.effects.output.effects,
        rules.effects.output.multiplicity,
        rules.model_status.output.status,
        rules.sensitivity.output.table,
        rules.figures.output.svg,
    output:
        "results/manifest.json",
    params:
        results=lambda wildcards, output: os.path.dirname(output[0]),
        inputs=lambda wildcards: get_tables(wildcards) | get_truth(wildcards),
        config=config,  # whole config: recorded in the manifest (provenance; `make reproduce` compares it)
    resources:
        mem_mb=scaled_mem_mb(500, 5),
        runtime=scaled_runtime(5, 0.1),
    log:
        "results/logs/manifest.log",
    benchmark:
        "results/benchmarks/manifest.tsv"
    conda:
        ENV
    script:
        "../scripts/manifest.py"


rule therapist_feedback:
    input:
        features=rules.features.output.patients,
        session_scores=rules.score.output.sessions,
    output:
        directory("results/feedback"),
    params:
        min_cell_size=config["privacy"]["min_cell_size"],
    resources:
        mem_mb=scaled_mem_mb(1000, 100),
        runtime=scaled_runtime(10, 1),
    log:
        "results/logs/therapist_feedback.log",
    benchmark:
        "results/benchmarks/therapist_feedback.tsv"
    conda:
        ENV
    script:
        "../scripts/feedback.py"
