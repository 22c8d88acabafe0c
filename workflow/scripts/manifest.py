"""Write results/manifest.json: every output with its SHA-256, the inputs, the config, the environment."""

from pathlib import Path

from alliance.io import write_json
from alliance.runtime.manifest import build_manifest
from alliance.runtime.runlog import start_log, user_errors_to_console

log = start_log(snakemake.log[0])
with user_errors_to_console(log):
    manifest = build_manifest(Path(snakemake.params.results), dict(snakemake.params.inputs),
                              snakemake.params.config)
write_json(manifest, snakemake.output[0])
log.info("manifest: %d outputs", len(manifest["outputs"]))
