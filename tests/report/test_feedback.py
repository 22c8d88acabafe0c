"""Per-therapist feedback pages: who gets a page, the numbers on it, nothing identifying."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from figure_checks import layout_problems

from alliance.i18n import use_language
from alliance.report.feedback import feedback_pages, rates, session_means, shown_rates, trajectory_figure


def cohort():
    patterns = (["no_rupture"] * 3 + ["rupture_with_repair", "rupture_without_repair", "not_classifiable"])
    patients = pd.DataFrame({
        "patient_id": [f"P{i:02d}" for i in range(8)],
        "therapist_id": ["TA"] * 6 + ["TB"] * 2,
        "alliance_mean": [3.0, 3.5, 4.0, 4.5, 4.0, 5.0, 2.0, 2.0],
        "rupture_pattern": patterns + ["no_rupture"] * 2,
        "dropout": pd.array([True, False, False, False, None, True, False, False], dtype="boolean"),
    })
    sessions = pd.DataFrame({
        "patient_id": [p for p in patients["patient_id"] for _ in range(2)],
        "session": [1, 4] * 8, "attended": True,
        "alliance_total": [3.0, 3.0, 3.5, 3.5, 4.0, 4.0, 4.5, 4.5, 4.0, 4.0, 5.0, 5.0, 2.0, 2.0, 2.0, 2.0],
    })
    return patients, sessions


def test_rates_by_hand():
    patients, _ = cohort()
    own = rates(patients[patients["therapist_id"] == "TA"])
    assert own["alliance_mean"] == pytest.approx(4.0)
    assert own["ruptures"] == (2, 5)  # the not-classifiable patient does not count
    assert own["repairs"] == (1, 5)
    assert own["dropouts"] == (2, 5)  # one outcome missing


def test_the_repaired_do_not_tell_the_unrepaired():
    """13 ruptures beside 10 repairs told 3 without repair, which the report's pattern table withholds: the
    repairs read "more than" ruptures - k instead; 20 beside 10 (10 without repair) are shown."""
    few = shown_rates({"ruptures": (13, 30), "repairs": (10, 30), "dropouts": (12, 30)}, 10, 30)
    assert few == {"ruptures": "13 (43.3%)", "repairs": "more than 3", "dropouts": "12 (40.0%)"}
    many = shown_rates({"ruptures": (20, 40), "repairs": (10, 40), "dropouts": (12, 40)}, 10, 40)
    assert many["repairs"] == "10 (25.0%)"
    assert shown_rates({"ruptures": (13, 30), "repairs": (5, 30), "dropouts": (12, 30)}, 10, 30)[
        "repairs"] == "<10"


def test_session_means_use_bands_and_the_minimum():
    _, sessions = cohort()
    means = session_means(sessions, min_cell_size=6)
    assert means["session"].tolist() == [2.0, 5.0]  # bands 1-3 and 4-6, at their middle
    assert means["mean"].iloc[0] == pytest.approx(sessions["alliance_total"].iloc[::2].mean())
    assert session_means(sessions, min_cell_size=9).empty


def test_pages_only_for_therapists_at_or_above_the_minimum(tmp_path):
    patients, sessions = cohort()
    index = feedback_pages(patients, sessions, min_cell_size=5, out_dir=tmp_path)
    # TB's hidden count is the clinic's 8 minus TA's 6 (a reviewer's 320 - 317 = 3): TA's is hidden too
    assert index.to_dict(orient="records") == [
        {"therapist_id": "TA", "patients": "suppressed", "page": "therapist_TA.html"},
        {"therapist_id": "TB", "patients": "<5", "page": ""}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.csv", "therapist_TA.html"]
    page = (tmp_path / "therapist_TA.html").read_text()
    assert "Your 6 patients beside the clinic's more than 3" in page  # 8 would tell the others' 2
    # 2 of TA's 5 classifiable patients had a rupture: a count below the minimum, as the report hides it
    assert re.search(r"at least one alliance rupture \(of those classifiable\)</td>\s*<td[^>]*>&lt;5</td>",
                     page)
    assert "40.0%" not in page and "data:image/png;base64," in page
    assert "counts of fewer than 5 patients are shown as &lt;5." in page
    text = re.sub(r'"data:[^"]*"', "", page)  # the figure's base64 bytes can hold "P05" by chance
    assert not any(f"P{i:02d}" in text for i in range(8))  # no patient is named


def test_a_share_whose_denominator_would_tell_a_small_count_is_left_out(tmp_path):
    """TA's 6 patients, 5 of them classifiable: "2 (40.0%)" told that 1 could not be classified (a reviewer
    read "15 (55.6%)" of 28 as 15 of 27). With k = 2 the count is shown alone; the dropouts' share (2 of the
    5 with an outcome) likewise; the clinic's shares, whose denominators fall short of its 8 by 1 and 1,
    too."""
    patients, sessions = cohort()
    feedback_pages(patients, sessions, min_cell_size=2, out_dir=tmp_path)
    page = (tmp_path / "therapist_TA.html").read_text()
    cells = dict(re.findall(r"<tr><td>([^<]*)</td><td[^>]*>([^<]*)</td>", page))
    assert cells["Patients with at least one alliance rupture (of those classifiable)"] == "2"
    assert cells["Patients who dropped out (of those with a recorded outcome)"] == "2"
    feedback_pages(patients, sessions, min_cell_size=1, out_dir=tmp_path)
    page = (tmp_path / "therapist_TA.html").read_text()
    cells = dict(re.findall(r"<tr><td>([^<]*)</td><td[^>]*>([^<]*)</td>", page))
    assert cells["Patients with at least one alliance rupture (of those classifiable)"] == "2 (40.0%)"


def test_pages_in_english_are_unchanged(tmp_path):
    patients, sessions = cohort()
    feedback_pages(patients, sessions, min_cell_size=5, out_dir=tmp_path)
    page = (tmp_path / "therapist_TA.html").read_text()
    assert '<html lang="en">' in page and "<h1>Alliance feedback: therapist TA</h1>" in page
    assert "<th>Your patients</th><th>Clinic</th>" in page and "4.00" in page
    assert "over bands of 3 sessions" in page and "(95% CI)" in page


@pytest.mark.parametrize(("code", "heading", "own", "clinic"), [
    ("es", "Retroalimentación sobre la alianza: terapeuta TA", "Sus 6 pacientes junto a los 8 de la clínica",
     "Clínica"),
    ("ca", "Retorn sobre l'aliança: terapeuta TA", "Els vostres 6 pacients al costat dels 8 de la clínica",
     "Clínica"),
])
def test_pages_in_spanish_and_catalan(tmp_path, code, heading, own, clinic):
    patients, sessions = cohort()
    with use_language(code):
        index = feedback_pages(patients, sessions, min_cell_size=1, out_dir=tmp_path)
        figure = trajectory_figure(session_means(sessions, min_cell_size=9),
                                   session_means(sessions, 5), "TA")
    # file names and the index stay as they are
    assert index["page"].tolist() == ["therapist_TA.html", "therapist_TB.html"]
    page = (tmp_path / "therapist_TA.html").read_text()
    assert f'<html lang="{code}">' in page and f"<h1>{heading}</h1>" in page and own in page
    assert f"<th>{clinic}</th>" in page and "(IC del 95\u00a0%)" in page
    assert "2 (40,0\u00a0%)" in page and "4,00" in page  # decimal commas (2 of 5 with a rupture)
    assert "Your" not in page and "40.0%" not in page
    ax = figure.axes[0]
    assert ax.get_title() != "Alliance over treatment" and ax.get_xlabel().startswith(("Sesión", "Sessió"))
    assert layout_problems(figure) == []  # the longer y label once reached past the figure's edge
