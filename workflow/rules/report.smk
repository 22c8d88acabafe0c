# Report: the figures of the models (PNG and SVG), the self-contained HTML report and the manifest.


# The report job draws the figures of the models' results (those of the data are drawn with the
# psychometrics, scores.smk), builds the report and writes the manifest last: one job, as starting Python
# with matplotlib and the models takes about 3 s and the manifest is a second of start-up
# (docs/engineering-notes.md, "Job layout"). Nothing else runs beside it, so it renders its figures on two
# cores (threads: 2; `save_figures`): 7 s of rendering in 4.
rule report:
    input:
        unpack(get_truth),
        validation=rules.validate.output.summary,
        scoring=rules.features.output.scoring_summary,
        session_scores=rules.features.output.session_scores,
        features=rules.features.output.patients,
        models=rules.fit_models.output.results,
        effects=rules.fit_models.output.effects,
        multiplicity=rules.fit_models.output.multiplicity,
        status=rules.fit_models.output.status,
        dimensions=rules.fit_models.output.dimensions,
        dynamics=rules.fit_models.output.dynamics,
        early_warning=rules.early_warning.output.result,
        early_warning_measures=rules.early_warning.output.measures,
        early_warning_roc=rules.early_warning.output.roc,
        early_warning_calibration=rules.early_warning.output.calibration,
        early_warning_decision_curve=rules.early_warning.output.decision_curve,
        early_warning_flow=rules.early_warning.output.flow,
        sensitivity=rules.fit_models.output.sensitivity,
        sensitivity_result=rules.fit_models.output.sensitivity_result,
        psychometrics=[rules.psychometrics.output[table] for table in PSYCHOMETRIC_TABLES],
        rupture_shares=rules.features.output.rupture_shares,
        figures=rules.psychometrics.output.png,
        svg=rules.psychometrics.output.svg,  # not read: every output exists before the manifest is written
        plan=PLAN,  # not read: the manifest records its hash, and a new plan writes a new manifest
    output:
        png=[
            report(
                f"results/figures/{name}.png",
                caption=f"../report/{name}.rst",
                category="Figures",
                labels={"figure": name.replace("_", " ")},
            )
            for name in MODEL_FIGURES
        ],
        svg=[f"results/figures/{name}.svg" for name in MODEL_FIGURES],
        html=report(
            "results/report.html",
            caption="../report/report.rst",
            category="Report",
            labels={"document": "HTML report"},
        ),
        methods="results/methods.md",
        manifest="results/manifest.json",
    threads: 2  # the figures are rendered in parallel (scaled down to --cores 1)
    params:
        code=CODE,  # re-run after a change of the package's code (common.smk)
        config=config,  # whole config: the report prints it in full (provenance) and its sections read it;
        # the manifest records it (`make reproduce` compares it)
        min_cell_size=config["privacy"]["min_cell_size"],
        results=lambda wildcards, output: os.path.dirname(output.manifest),
        inputs=lambda wildcards: get_tables(wildcards) | get_truth(wildcards) | {"plan": PLAN},
    resources:
        mem_mb=scaled_mem_mb(1000, 50),
        runtime=scaled_runtime(10, 0.5),
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
        code=CODE,  # re-run after a change of the package's code (common.smk)
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


rule therapist_feedback:
    input:
        features=rules.features.output.patients,
        session_scores=rules.features.output.session_scores,
    output:
        directory("results/feedback"),
    params:
        code=CODE,  # re-run after a change of the package's code (common.smk)
        min_cell_size=config["privacy"]["min_cell_size"],
        language=config["report"]["language"],  # of the pages' text, figure and numbers
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
