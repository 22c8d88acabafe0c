"""Validate the three contract tables and write them typed, as Parquet."""

from alliance.contract import TABLES, validate_tables
from alliance.instruments import load_configured
from alliance.io import read_table, sha256_file, write_json, write_parquet
from alliance.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    files = {table: str(snakemake.input[table]) for table in TABLES}
    instruments = load_configured(snakemake.params.instruments)
    validated = validate_tables(
        {table: read_table(path) for table, path in files.items()}, files,
        instruments["alliance"], instruments["satisfaction"], instruments["therapist"],
    )
summary = validated.summary | {
    "inputs": {table: {"path": path, "sha256": sha256_file(path)} for table, path in files.items()}
}
for table in TABLES:
    write_parquet(getattr(validated, table), snakemake.output[table])
write_json(summary, snakemake.output.summary)
log.info("validated: %s", {t: summary["tables"][t]["rows"] for t in TABLES})
