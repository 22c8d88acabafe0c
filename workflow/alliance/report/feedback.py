"""Per-therapist feedback (optional target, `feedback.therapists: true`): one self-contained page per
therapist with their patients' alliance by session against the clinic, rupture and dropout rates.

Pages are pseudonymous (the therapist code of the data, no patient is named) and follow the disclosure
rule: a therapist with fewer than `min_cell_size` patients gets no page, a count of 1 to
`min_cell_size` - 1 patients (ruptures, repairs, dropouts) is shown as "<k" as in the report, and a
session's mean is drawn only when it rests on at least `min_cell_size` patients (of the therapist, or of
the clinic).
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import jinja2
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from alliance.i18n import _, language, ngettext, pgettext
from alliance.ingest.privacy import suppress_counts
from alliance.io import write_csv, write_text
from alliance.report.figures import PNG_DPI, mean_ci
from alliance.report.format import format_count, format_number, format_percent
from alliance.report.style import figure_style, new_figure, titled
from alliance.report.words import more_than, shown_count
from alliance.scoring.scores import TOTAL, scored_sessions

INDEX_COLUMNS = ["therapist_id", "patients", "page"]


BAND = 3  # sessions per band of the trajectory: 1-3, 4-6, ...


def session_means(scored: pd.DataFrame, min_cell_size: int) -> pd.DataFrame:
    """Mean alliance total (95% CI) per band of `BAND` sessions, over patients (each patient's mean within
    the band), where at least `min_cell_size` patients were scored in the band. `session` is the band's
    middle session."""
    band = (scored["session"] - 1) // BAND
    per_patient = scored.assign(band=band).groupby(["band", "patient_id"])[TOTAL].mean().reset_index()
    rows = []
    for band_index, group in per_patient.groupby("band", sort=True):
        if len(group) >= min_cell_size:
            mean, low, high = mean_ci(group[TOTAL])
            rows.append({"session": band_index * BAND + (BAND + 1) / 2, "mean": mean, "ci_low": low,
                         "ci_high": high})
    return pd.DataFrame(rows, columns=["session", "mean", "ci_low", "ci_high"]).astype(float)


def rates(patients: pd.DataFrame) -> dict:
    """Mean alliance, and as (count, of) the patients with a rupture and with a repaired one (of the
    classifiable patients) and those who dropped out (of those with a recorded outcome)."""
    classifiable = patients[patients["rupture_pattern"].isin(
        ["no_rupture", "rupture_without_repair", "rupture_with_repair"])]
    known = patients["dropout"].dropna().astype(bool)
    return {
        "alliance_mean": float(patients["alliance_mean"].mean()),
        "ruptures": (int((classifiable["rupture_pattern"] != "no_rupture").sum()), len(classifiable)),
        "repairs": (int((classifiable["rupture_pattern"] == "rupture_with_repair").sum()), len(classifiable)),
        "dropouts": (int(known.sum()), len(known)),
    }


def shown_share(count_of: tuple[int, int], min_cell_size: int, total: int) -> str:
    """A count with its share, "<k" for 1 to k - 1 patients (the report's rule: a share of a known
    denominator gives its count away), "NA" without a denominator. The share's denominator (the patients
    classifiable, or with a recorded outcome) is left out, and the count shown alone, where it falls short
    of the page's `total` patients by 1 to k - 1: a reviewer read "15 (55.6%)" of 28 as 15 of 27, so one
    patient could not be classified."""
    count, of = count_of
    if not of:
        return format_percent(float("nan"))
    return shown_count(count, min_cell_size) if 0 < total - of < min_cell_size else (
        shown_count(count, min_cell_size, of))


def shown_rates(rates: dict, min_cell_size: int, total: int) -> dict[str, str]:
    """The rupture, repair and dropout counts of `rates` as a page writes them (`shown_share`), of a group
    of `total` patients. The repaired are part of the ruptured: where the unrepaired (their difference)
    are 1 to k - 1, the repaired read "more than" ruptures - k, as the report's pattern table withholds
    them (a reviewer's page showed 13 ruptures and 10 repairs: 3 without repair)."""
    shown = {key: shown_share(rates[key], min_cell_size, total)
             for key in ("ruptures", "repairs", "dropouts")}
    ruptures, repaired = rates["ruptures"][0], rates["repairs"][0]
    if repaired >= min_cell_size and 0 < ruptures - repaired < min_cell_size:
        shown["repairs"] = more_than(ruptures, min_cell_size)
    return shown


def clinic_count(clinic: int, own: int, min_cell_size: int) -> str:
    """The clinic's patients beside a therapist's own: "more than" clinic - k where the others number 1 to
    k - 1, which the two counts would tell (section 8 of ANALYSIS_PLAN.md)."""
    if 0 < clinic - own < min_cell_size:
        return more_than(clinic, min_cell_size)
    return format_count(clinic)


def trajectory_figure(therapist: pd.DataFrame, clinic: pd.DataFrame, label: str) -> Figure:
    """The therapist's mean alliance by session against the clinic's."""
    with figure_style():
        fig = new_figure(7, 3.8)
        ax = fig.add_subplot()
        colours = sns.color_palette("colorblind")
        # Translators: the legend of the clinic's line in a therapist's feedback figure.
        for table, name, colour, marker in ((clinic, pgettext("feedback", "clinic"), colours[7], "s"),
                                            (therapist, label, colours[0], "o")):
            ax.plot(table["session"], table["mean"], marker=marker, color=colour, label=name)
            ax.fill_between(table["session"], table["ci_low"], table["ci_high"], color=colour, alpha=0.15,
                            linewidth=0)
        ax.set(xlabel=_("Session (bands of {n})").format(n=BAND), ylabel=_("Alliance total (mean, 95% CI)"))
        # the note and the legend outside the axes, where neither line nor band can reach them
        if therapist.empty:
            titled(ax, _("Alliance over treatment"),
                   _("Too few of your patients per band to draw your line."))
        else:
            ax.set_title(_("Alliance over treatment"))
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2)
    return fig


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _file_name(therapist_id: str) -> str:
    return "therapist_" + re.sub(r"[^A-Za-z0-9_-]+", "_", str(therapist_id)) + ".html"


def _environment() -> jinja2.Environment:
    """The page's template, with gettext (`_("...")`) in the active language."""
    environment = jinja2.Environment(loader=jinja2.PackageLoader("alliance.report", "templates"),
                                     autoescape=True, extensions=["jinja2.ext.i18n"])
    environment.install_gettext_callables(gettext=_, ngettext=ngettext, pgettext=pgettext, newstyle=True)
    return environment


def feedback_pages(features: pd.DataFrame, session_scores: pd.DataFrame, min_cell_size: int,
                   *,
                   out_dir: str | Path) -> pd.DataFrame:
    """Write one page per therapist with at least `min_cell_size` patients into `out_dir`, in the active
    language (`alliance.i18n.use_language`); return the index (therapist, patients, page or empty when no
    page was written)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scored = scored_sessions(session_scores).merge(features[["patient_id", "therapist_id"]], on="patient_id")
    clinic_traj = session_means(scored, min_cell_size)
    clinic = rates(features)
    template = _environment().get_template("feedback.html")
    index = []
    for therapist_id, patients in features.groupby("therapist_id", sort=True):
        if len(patients) < min_cell_size:
            index.append({"therapist_id": therapist_id, "patients": len(patients), "page": ""})
            continue
        own = rates(patients)
        figure = trajectory_figure(session_means(scored[scored["therapist_id"] == therapist_id],
                                                 min_cell_size), clinic_traj,
                                   # Translators: the legend of a therapist's line in their feedback figure.
                                   _("therapist {therapist}").format(therapist=therapist_id))
        rows = [(_("Mean alliance of your patients (mean over their scored sessions)"),
                 format_number(own["alliance_mean"]), format_number(clinic["alliance_mean"]))]
        mine, theirs = shown_rates(own, min_cell_size, len(patients)), shown_rates(clinic, min_cell_size,
                                                                                   len(features))
        rows += [(label, mine[key], theirs[key])
                 for label, key in ((_("Patients with at least one alliance rupture (of those classifiable)"),
                                     "ruptures"),
                                    (_("Patients whose rupture was repaired (of those classifiable)"),
                                     "repairs"),
                                    (_("Patients who dropped out (of those with a recorded outcome)"),
                                     "dropouts"))]
        name = _file_name(therapist_id)
        write_text(template.render(therapist=therapist_id, patients=format_count(len(patients)), rows=rows,
                                   figure=_png(figure), min_cell_size=format_count(min_cell_size),
                                   suppressed=f"<{min_cell_size}",  # as `shown_count` writes it
                                   band=format_count(BAND),
                                   clinic_patients=clinic_count(len(features), len(patients), min_cell_size),
                                   language=language()), out_dir / name)
        index.append({"therapist_id": therapist_id, "patients": len(patients), "page": name})
    table = pd.DataFrame(index, columns=INDEX_COLUMNS)
    # the therapists' counts sum to the clinic's, which every page gives: one hidden count is told by the
    # others (a reviewer's 320 - 317 = 3), so the next smallest is hidden too
    table["patients"] = suppress_counts(table["patients"], min_cell_size)
    write_csv(table, out_dir / "index.csv")
    return table
