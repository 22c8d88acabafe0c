"""Build the self-contained HTML report and its Methods section as Markdown for a manuscript."""

import pandas as pd

from alliance.instruments import load_configured
from alliance.io import read_json, read_tables, write_text
from alliance.report.analysis import sensitivity_notes
from alliance.report.document import build_report
from alliance.report.methods import methods_markdown, methods_section
from alliance.report.provenance import provenance
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    truth = read_json(snakemake.input.truth) if hasattr(snakemake.input, "truth") else None
    config, validation = snakemake.params.config, read_json(snakemake.input.validation)
    model_results = [read_json(path) for path in snakemake.input.models]
    html = build_report(
        config=config,
        validation=validation,
        scoring=read_json(snakemake.input.scoring),
        session_scores=pd.read_parquet(snakemake.input.session_scores),
        features=pd.read_parquet(snakemake.input.features),
        model_results=model_results,
        effects=pd.read_csv(snakemake.input.effects),
        multiplicity=pd.read_csv(snakemake.input.multiplicity),
        status=pd.read_csv(snakemake.input.status, keep_default_na=False),
        sensitivity=pd.read_csv(snakemake.input.sensitivity),
        sensitivity_notes=sensitivity_notes(read_json(snakemake.input.sensitivity_result)),
        psychometrics=read_tables(snakemake.input.psychometrics),
        rupture_shares=pd.read_csv(snakemake.input.rupture_shares),
        figure_paths=list(snakemake.input.figures),
        truth=truth,
        min_cell_size=snakemake.params.min_cell_size,
    )
    versions = provenance(config, validation)["versions"]
    methods = methods_markdown(methods_section(config, model_results, versions),
                               load_configured(config["instruments"]))
write_text(html, snakemake.output.html)
write_text(methods, snakemake.output.methods)
log.info("report: %d characters, truth %s", len(html), "included" if truth else "not available")
