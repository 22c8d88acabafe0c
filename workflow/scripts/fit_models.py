"""Fit the models of every outcome family and write each family's result (effect rows, flow, notes) and
summary; collect the effect rows into results/effects.csv with the FDR table; run the sensitivity analyses
of the primary effects (imputation, other early windows, winsorizing, bootstrap; the proportional-odds
model is the satisfaction family's fit); relate the alliance's bond, goal and task dimensions to each outcome
(H5); fit the reciprocal dynamics of alliance and symptoms (H4c, RI-CLPM); write the status of every planned
model."""

import gc

import pandas as pd

from alliance.instruments import load_configured
from alliance.io import read_json, write_csv, write_json, write_text
from alliance.models import fit_family
from alliance.models.dimensions import dimension_analysis, dimension_item_means, dimension_tables
from alliance.models.dynamics import cross_lagged_tests, dynamics_analysis, dynamics_table
from alliance.models.effects import effects_table, multiplicity_table
from alliance.models.plan import status_table
from alliance.models.sensitivity import sensitivity_analyses
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
output = snakemake.output
with user_errors_to_console(log):
    instruments = load_configured(snakemake.params.instruments)
    satisfaction_range = instruments["satisfaction"].score_range
    for family, result_path, summary_path in zip(snakemake.params.families, output.results, output.summaries,
                                                 strict=True):
        # Each family reads the tables afresh, as its own job did: no family sees another's changes.
        result = fit_family(
            family,
            pd.read_parquet(snakemake.input.features),
            list(snakemake.params.covariates),
            sessions=pd.read_parquet(snakemake.input.sessions),
            satisfaction_range=satisfaction_range,
            early_window=snakemake.params.early_window,
            min_clusters=snakemake.params.min_clusters,
        )
        write_json(result.to_dict(), result_path)
        write_text(result.summary, summary_path)
        log.info("%s: %s", result.family, result.effects)
        del result
        gc.collect()  # fits are reference cycles: free one family's before the next (a registry's hold GBs)
    # Everything below reads the results as written, as the report and a separate job would.
    table = effects_table([read_json(path) for path in output.results])
write_csv(table, output.effects)
log.info("%d effect rows", len(table))

with user_errors_to_console(log):
    tables = {name: pd.read_parquet(snakemake.input[name])
              for name in ("patients", "outcomes", "session_scores", "patient_scores")}
    sensitivity, summary, seconds = sensitivity_analyses(
        pd.read_parquet(snakemake.input.features),
        list(snakemake.params.covariates),
        dict(snakemake.params.sensitivity),
        early_window=snakemake.params.early_window,
        tables=tables,
        score_range=satisfaction_range,
        min_clusters=snakemake.params.min_clusters,
        fitted=dict(zip(snakemake.params.families, map(read_json, output.results), strict=True)),
    )
write_csv(sensitivity, output.sensitivity)
write_json(summary, output.sensitivity_result)
for failure in summary["failures"]:
    log.warning("not computed (%(status)s): %(variant)s / %(outcome)s: %(reason)s", failure)
for name, value in seconds.items():
    log.info("%s: %.2f s", name, value)
log.info("%d sensitivity rows", len(sensitivity))

with user_errors_to_console(log):
    instrument = instruments["alliance"]
    item_means = dimension_item_means(pd.read_parquet(snakemake.input.validated_sessions),
                                      pd.read_parquet(snakemake.input.session_scores), instrument,
                                      snakemake.params.early_window)
    dimensions = dimension_analysis(pd.read_parquet(snakemake.input.features),
                                    list(snakemake.params.covariates), dict(snakemake.params.dimensions),
                                    instrument=instrument, item_means=item_means,
                                    min_clusters=snakemake.params.min_clusters,
                                    early_window=snakemake.params.early_window)
write_json(dimensions, output.dimensions)
dimension_effects, importance, latent = dimension_tables(read_json(output.dimensions))
write_csv(dimension_effects, output.dimension_effects)
write_csv(importance, output.dimension_importance)
write_csv(latent, output.dimension_latent)
log.info("dimensions (H5): %d effect rows, %d importance rows, %d latent rows", len(dimension_effects),
         len(importance), len(latent))

with user_errors_to_console(log):
    dynamics = dynamics_analysis(pd.read_parquet(snakemake.input.session_scores),
                                 pd.read_parquet(snakemake.input.validated_sessions),
                                 pd.read_parquet(snakemake.input.patients),
                                 {"waves": snakemake.params.riclpm_waves})
write_json(dynamics, output.dynamics)
riclpm = dynamics_table(read_json(output.dynamics))
write_csv(riclpm, output.dynamics_table)
# every test of the plan's secondary and exploratory families, H4c's cross-lags among them (section 6)
write_csv(multiplicity_table(pd.concat([table, cross_lagged_tests(riclpm)], ignore_index=True)),
          output.multiplicity)
log.info("dynamics (H4c): %s over %s sessions", dynamics["statuses"][0]["status"], dynamics["waves"])

with user_errors_to_console(log):
    status = status_table([*map(read_json, output.results), read_json(output.dimensions),
                           read_json(output.dynamics)],
                          pd.read_csv(output.sensitivity), read_json(output.sensitivity_result))
write_csv(status, output.status)
log.info("model status: %s", status["status"].value_counts().to_dict())
