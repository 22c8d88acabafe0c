"""Draw the report's figures of the model results (PNG and SVG, rendered on the job's threads), build the
self-contained HTML report and its Methods section as Markdown for a manuscript, then write
results/manifest.json: every output with its SHA-256, the inputs, the config, the environment."""

from pathlib import Path

import pandas as pd

from alliance.i18n import suppressing_counts, use_language
from alliance.instruments import load_configured
from alliance.io import read_json, read_tables, write_json, write_text
from alliance.outputs import EARLY_WARNING_TABLES
from alliance.report.analysis import covariates_left_out, sensitivity_notes
from alliance.report.document import build_report
from alliance.report.figures import model_figures, save_figures
from alliance.report.methods import methods_markdown, methods_section, not_estimated
from alliance.report.provenance import provenance
from alliance.runtime.manifest import build_manifest
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
output = snakemake.output
config = snakemake.params.config
with (user_errors_to_console(log), use_language(config["report"]["language"]),
      suppressing_counts(snakemake.params.min_cell_size)):
    instruments = load_configured(config["instruments"])
    model_results = [read_json(path) for path in snakemake.input.models]
    left_out = covariates_left_out(model_results, config["models"]["covariates"])  # said once, in the methods
    dimensions = read_json(snakemake.input.dimensions)
    dynamics = read_json(snakemake.input.dynamics)
    early_warning = {"result": read_json(snakemake.input.early_warning),
                     **{name: pd.read_csv(snakemake.input[f"early_warning_{name}"])
                        for name in EARLY_WARNING_TABLES}}
    figures = model_figures(
        pd.read_csv(snakemake.input.effects),
        satisfaction=instruments["satisfaction"],
        min_cell_size=snakemake.params.min_cell_size,
        models={result["family"]: result for result in model_results},
        dimensions=dimensions,
        dynamics=dynamics,
        early_warning=early_warning,
    )
    save_figures(figures, output.png, output.svg, workers=snakemake.threads)
log.info("figures: %s", ", ".join(figures))

with user_errors_to_console(log):
    truth = read_json(snakemake.input.truth) if hasattr(snakemake.input, "truth") else None
    validation = read_json(snakemake.input.validation)
    html = build_report(
        config=config,
        validation=validation,
        scoring=read_json(snakemake.input.scoring),
        session_scores=pd.read_parquet(snakemake.input.session_scores),
        features=pd.read_parquet(snakemake.input.features),
        model_results=model_results,
        effects=pd.read_csv(snakemake.input.effects),
        multiplicity=pd.read_csv(snakemake.input.multiplicity),
        status=(status := pd.read_csv(snakemake.input.status, keep_default_na=False)),
        dimensions=dimensions,
        dynamics=dynamics,
        early_warning=early_warning,
        sensitivity=pd.read_csv(snakemake.input.sensitivity),
        sensitivity_notes=sensitivity_notes(read_json(snakemake.input.sensitivity_result), left_out,
                                            [note for result in model_results
                                             for note in result.get("notes_message") or []]),
        psychometrics=read_tables(snakemake.input.psychometrics),
        rupture_shares=pd.read_csv(snakemake.input.rupture_shares),
        figure_paths=[*snakemake.input.figures, *output.png],
        truth=truth,
        min_cell_size=snakemake.params.min_cell_size,
    )
    versions = provenance(config, validation)["versions"]
    with use_language(config["report"]["language"]), suppressing_counts(snakemake.params.min_cell_size):
        paragraphs = methods_section(config, model_results, versions, synthetic=truth is not None,
                                     unestimated=not_estimated(status, early_warning))
        methods = methods_markdown(paragraphs, instruments, config)
write_text(html, output.html)
write_text(methods, output.methods)
log.info("report: %d characters, truth %s", len(html), "included" if truth else "not available")

with user_errors_to_console(log):  # last: every other output of the run is written
    manifest = build_manifest(Path(snakemake.params.results), dict(snakemake.params.inputs), config)
write_json(manifest, output.manifest)
log.info("manifest: %d outputs", len(manifest["outputs"]))
