"""Draw the report's figures and write each as PNG and SVG."""

from pathlib import Path

import pandas as pd

from alliance.instruments import load_configured
from alliance.io import read_json, read_tables
from alliance.report.figures import make_figures, save_figure
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    instruments = load_configured(snakemake.params.instruments)
    figures = make_figures(
        pd.read_parquet(snakemake.input.session_scores),
        pd.read_parquet(snakemake.input.features),
        pd.read_csv(snakemake.input.effects),
        instrument=instruments["alliance"],
        satisfaction=instruments["satisfaction"],
        min_cell_size=snakemake.params.min_cell_size,
        psychometrics=read_tables(snakemake.input.psychometrics),
        ruptures=pd.read_parquet(snakemake.input.ruptures),
        synthetic=snakemake.params.synthetic,
        models={result["family"]: result for result in map(read_json, snakemake.input.models)},
    )
for png, svg in zip(snakemake.output.png, snakemake.output.svg, strict=True):
    save_figure(figures[Path(png).stem], png, svg)
log.info("figures: %s", ", ".join(figures))
