"""Draw the report's figures of the model results (PNG and SVG), build the self-contained HTML report, then
write results/manifest.json: every output with its SHA-256, the inputs, the config, the environment."""

from pathlib import Path

import pandas as pd

from alliance.io import read_json, read_tables, write_json, write_text
from alliance.report.analysis import sensitivity_notes
from alliance.report.document import build_report
from alliance.report.figures import model_figures, save_figure
from alliance.runtime.manifest import build_manifest
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
output = snakemake.output
with user_errors_to_console(log):
    figures = model_figures(
        pd.read_csv(snakemake.input.effects),
        min_cell_size=snakemake.params.min_cell_size,
        models={result["family"]: result for result in map(read_json, snakemake.input.models)},
    )
for png, svg in zip(output.png, output.svg, strict=True):
    save_figure(figures[Path(png).stem], png, svg)
log.info("figures: %s", ", ".join(figures))

with user_errors_to_console(log):
    truth = read_json(snakemake.input.truth) if hasattr(snakemake.input, "truth") else None
    html = build_report(
        config=snakemake.params.config,
        validation=read_json(snakemake.input.validation),
        scoring=read_json(snakemake.input.scoring),
        session_scores=pd.read_parquet(snakemake.input.session_scores),
        features=pd.read_parquet(snakemake.input.features),
        model_results=[read_json(path) for path in snakemake.input.models],
        effects=pd.read_csv(snakemake.input.effects),
        multiplicity=pd.read_csv(snakemake.input.multiplicity),
        status=pd.read_csv(snakemake.input.status, keep_default_na=False),
        sensitivity=pd.read_csv(snakemake.input.sensitivity),
        sensitivity_notes=sensitivity_notes(read_json(snakemake.input.sensitivity_result)),
        psychometrics=read_tables(snakemake.input.psychometrics),
        rupture_shares=pd.read_csv(snakemake.input.rupture_shares),
        figure_paths=[*snakemake.input.figures, *output.png],
        truth=truth,
        min_cell_size=snakemake.params.min_cell_size,
    )
write_text(html, output.html)
log.info("report: %d characters, truth %s", len(html), "included" if truth else "not available")

with user_errors_to_console(log):  # last: every other output of the run is written
    manifest = build_manifest(Path(snakemake.params.results), dict(snakemake.params.inputs),
                              snakemake.params.config)
write_json(manifest, output.manifest)
log.info("manifest: %d outputs", len(manifest["outputs"]))
