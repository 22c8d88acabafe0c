"""Integrity of a whole run on invalid data: it writes no table, leaves its inputs untouched and writes no
identifier anywhere (a run killed mid-way and restarted is checked on the default run, test_workflow.py)."""

from __future__ import annotations

import pytest
from workflow_runs import TABLES, digests, run_workflow

from alliance.simulation.synthetic import synthesize

pytestmark = pytest.mark.slow
PLANTED = {"nombre": "Montserrat Puig Ferrer", "correo": "m.puig@example.cat", "dni": "45678912S",
           "telefono": "+34 612 345 678"}


def test_invalid_data_write_no_table_change_no_input_and_leak_no_identifier(root, default_config, tmp_path):
    cfg = default_config["synthetic"] | {"n_patients": 60, "n_therapists": 6, "truth_multiplier": 1}
    patients, sessions, outcomes, _ = synthesize(cfg, 3, ["baseline_severity"])
    patients["referral"] = "GP"
    patients.loc[7, "referral"] = PLANTED["nombre"]  # one name hidden in an ordinary column
    patients["contacto"] = ""
    patients.loc[3, "contacto"] = PLANTED["correo"]
    patients["ref"] = ""
    patients.loc[5, "ref"] = PLANTED["dni"]
    outcomes["extra"] = ""
    outcomes.loc[2, "extra"] = PLANTED["telefono"]
    sessions = sessions.astype({"wai_sr_05": "float"})
    sessions.loc[4, "wai_sr_05"] = 9  # and an ordinary error
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name, table in zip(TABLES, (patients, sessions, outcomes), strict=True):
        table.to_csv(inputs / f"{name}.csv", index=False, sep=";")
    before = digests(inputs)
    work = tmp_path / "work"
    work.mkdir()
    done = run_workflow(root, work, {"data": {name: str(inputs / f"{name}.csv") for name in TABLES}})
    assert done.returncode != 0
    assert digests(inputs) == before  # inputs are never modified
    validated = work / "results/validated"
    assert sorted(p.name for p in validated.iterdir()) == ["validation_report.html"]
    report = (validated / "validation_report.html").read_text()
    assert "Failed with 5 problems" in report
    for column in ("referral", "contacto", "ref", "extra", "wai_sr_05"):
        assert column in report and column in done.stderr
    assert not (work / "results/effects.csv").exists()
    leaked = [(str(path), value) for path in work.rglob("*") if path.is_file()
              for value in PLANTED.values() if value.encode() in path.read_bytes()]
    assert leaked == []
    for value in PLANTED.values():
        assert value not in done.stdout and value not in done.stderr
