"""The report's cohort and alliance sections: the analysis flow, the inputs and the scores."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from markupsafe import Markup

from alliance.i18n import N_, _, active_min_cell_size, pgettext
from alliance.ingest.privacy import SECONDARY, discloses, suppress_counts
from alliance.instruments import Instrument, load_instrument
from alliance.models.satisfaction import CEILING_SHARE
from alliance.report.format import (
    count_with_share,
    foreign,
    format_count,
    format_number,
    format_percent,
)
from alliance.report.methods import cited_name, instrument_name
from alliance.report.words import (
    HYPOTHESES,
    WITHHELD,
    discipline_name,
    more_than,
    reason_words,
    share_cell,
    shown_count,
)
from alliance.scoring.scores import ALLIANCE_PREFIX, TOTAL, score_descriptives

# The model families by name (their identifiers are also the sections' ids).
FAMILY_NAMES = {"adherence": N_("adherence"), "dropout": N_("dropout"), "satisfaction": N_("satisfaction"),
                "symptoms": N_("symptoms")}
MISSING = N_("(missing)")


def family_name(family: str) -> str:
    """A model family's name in the active language (its identifier when it has none)."""
    return _(FAMILY_NAMES[family]) if family in FAMILY_NAMES else family


def subscale_name(name: str) -> str:
    """A scale of the alliance instrument (its subscales and total) in the active language; other names (an
    instrument's own, e.g. "haq") as they are."""
    names = {"bond": pgettext("subscale", "bond"), "goal": pgettext("subscale", "goal"),
             "task": pgettext("subscale", "task"), "total": pgettext("subscale", "total")}
    return names.get(name, name)


def shown_value(value: str) -> str:
    """A count as shown: with the language's thousands separator ("1.169" in Spanish), the secondary
    suppression mark in the active language, "<n" as it is."""
    if value == SECONDARY:
        return pgettext("count", "suppressed")
    return format_count(int(value)) if value.isdigit() else value


def group_label(column: str, value: str) -> str:
    """A row label of the patients by discipline or site: disciplines of the contract and "(missing)" in the
    active language, sites as they are in the data."""
    if value == MISSING:
        return _(MISSING)
    return discipline_name(value) if column == "discipline" else value


EXCLUSIONS = re.compile(r"(.*?excluded[^:]*):")


def flow_steps(flow: list[dict], min_cell_size: int) -> list[tuple[str, str]]:
    """A family's flow with small counts suppressed: the exclusion counts of each model as one table (with
    secondary suppression, since they sum to its cohort minus its analysed), the other steps one by one.
    An analysed count that is itself suppressed joins its exclusions' table: it is the cohort minus
    them, so one of them is withheld too. An analysed count whose exclusions sum to 1 to k - 1 reads
    "more than" its cohort - k: the two counts would tell that sum (a reviewer's bundle: 68 in the cohort,
    67 analysed, the exclusions "<10" and "suppressed")."""
    groups: dict[str, list[int]] = {}  # one table per model and unit: "excluded" or "excluded sessions",
    for i, step in enumerate(flow):  # with what precedes it ("home practice: excluded sessions")
        if found := EXCLUSIONS.match(step["step"]):
            groups.setdefault(found.group(1), []).append(i)
    shown = {}
    for rows in groups.values():
        after, before = max(rows) + 1, min(rows) - 1  # the analysed count after the exclusions, the cohort's
        step = flow[after] if after < len(flow) else {"step": "", "n": 0}
        if "analysed" in step["step"] and 0 < step["n"] < min_cell_size:
            rows.append(after)
        elif "analysed" in step["step"] and before >= 0 and 0 < flow[before]["n"] - step["n"] < min_cell_size:
            shown[after] = more_than(flow[before]["n"], min_cell_size)
    for rows in groups.values():
        hidden = suppress_counts(pd.Series([flow[i]["n"] for i in rows], dtype="int64"), min_cell_size)
        shown |= dict(zip(rows, map(shown_value, hidden), strict=True))  # "1,169" as the other counts
    return [(step["step"], shown.get(i, shown_count(step["n"], min_cell_size)))
            for i, step in enumerate(flow)]


def cohort_section(
    session_scores: pd.DataFrame, features: pd.DataFrame, model_results: list[dict], *, scoring: dict,
    min_cell_size: int,
) -> dict:
    """Cohort flow, per-model exclusions, missing data and suppressed counts by discipline and site."""
    n_patients = len(features)
    attended = int(session_scores["attended"].sum())
    dropout_known = features["dropout"].notna()
    overview = [
        (_("Patients"), format_count(n_patients)),
        (_("Therapists"), format_count(features["therapist_id"].nunique())),
        # no row where the data have no site column (it read "Sites | 0"; listed with the input tables)
        *([(_("Sites"), format_count(features["site"].nunique()))] if features["site"].notna().any() else []),
        (_("Sessions scheduled"), format_count(len(session_scores))),
        (_("Sessions attended"), count_with_share(attended, len(session_scores))),
        (_("Dropouts (of patients with a recorded outcome)"),
         shown_count(int(features.loc[dropout_known, "dropout"].astype(bool).sum()), min_cell_size,
                     int(dropout_known.sum()))),
        (_("Dropout not recorded"), shown_count(int((~dropout_known).sum()), min_cell_size)),
    ]
    groups = []
    for column, title in (("discipline", _("Patients by discipline")), ("site", _("Patients by site"))):
        if features[column].isna().all():  # no such column in the data (listed with the input tables)
            continue
        counts = features[column].astype("string").fillna(MISSING).value_counts().sort_index()
        shown = suppress_counts(counts, min_cell_size, total_shown=True)
        groups.append({"title": title,
                       "rows": [(group_label(column, label), shown_value(value))
                                for label, value in zip(shown.index, shown, strict=True)],
                       "total": format_count(n_patients)})
    # the steps are messages set where the models are fitted (`step_message`), written in the language
    flows = [{"family": family_name(result["family"]), "hypothesis": HYPOTHESES.get(result["family"], ""),
              "steps": [(reason_words(step, "step"), shown_value(n)) for step, (_step, n) in zip(
                  result["flow"], flow_steps(result["flow"], min_cell_size), strict=True)]}
             for result in model_results]
    sessions, patients = scoring["alliance"], scoring["satisfaction"]
    by_dropout = satisfaction_by_dropout(features)
    # a count of one group (dropouts, the others) that leaves 1 to k - 1 of it with satisfaction: the group's
    # size gives those away ("27 (96.4%)" of 28 dropouts: one answered); both groups' counts are withheld
    # then, as the two sum to the missing satisfaction shown above
    leaves_few = any(discloses(n, of, min_cell_size) and n >= min_cell_size for _label, n, of in by_dropout)
    if any(0 < of < min_cell_size for _label, _n, of in by_dropout):  # a share would give the group away
        by_dropout = [(label, n, None) for label, n, _of in by_dropout]
    counts = {
        "answered": (_("Attended sessions with alliance item answers"), sessions["sessions_with_answers"],
                     sessions["sessions_attended"]),
        **({"pre_scored": (_("Attended sessions with a pre-scored alliance score"),
                           sessions["sessions_pre_scored"], sessions["sessions_attended"])}
           if sessions.get("sessions_pre_scored") else {}),
        "scored": (_("Attended sessions scored"), sessions["sessions_scored"], sessions["sessions_attended"]),
        "prorated": (_("Scored sessions prorated (items missing)"), sessions["sessions_prorated"],
                     sessions["sessions_scored"]),
        "unscorable": (_("Questionnaires unscorable (too many items missing)"),
                       sessions["sessions_unscorable"], None),
        "ignored": (_("Answers on missed sessions (ignored)"), sessions["answers_on_missed_sessions_ignored"],
                    None),
        "from_items": (_("Satisfaction scored from items"), patients["scored_from_items"],
                       patients["patients"]),
        "satisfaction_pre_scored": (_("Satisfaction pre-scored"), patients["pre_scored"], None),
        "satisfaction_prorated": (_("Satisfaction prorated"), patients["prorated"], None),
        "satisfaction_missing": (_("Satisfaction missing"), patients["missing"], patients["patients"]),
        **({"satisfaction_unscorable": (_("Satisfaction answered but unscorable (too many items missing)"),
                                        patients["unscorable"], None)}
           if patients.get("unscorable") else {}),
        **{f"by_dropout_{i}": entry for i, entry in enumerate(by_dropout)},
    }
    shown = {key: shown_count(n, min_cell_size, of) for key, (_label, n, of) in counts.items()}
    if leaves_few:
        shown |= {key: shown_value(SECONDARY) for key in counts if key.startswith("by_dropout_")}
    # Counts that sum to a shown total are tables of their own (secondary suppression): the sessions
    # scored and unscorable (the answered and pre-scored ones), the satisfaction scored from items,
    # pre-scored and missing (the patients, whose number the shares give), the missing satisfaction
    # among dropouts and among the others (the missing), and the unscorable satisfaction and the missing
    # with nothing answered, which is not shown (the missing).
    summing = [["scored", "unscorable"], ["from_items", "satisfaction_pre_scored", "satisfaction_missing"],
               [key for key in counts if key.startswith("by_dropout_")]]
    values_of = {key: n for key, (_label, n, _of) in counts.items()}
    if "satisfaction_unscorable" in counts:
        values_of["nothing_answered"] = patients["missing"] - patients["unscorable"]
        summing.append(["satisfaction_unscorable", "nothing_answered"])
    for keys in summing:
        values = pd.Series([int(values_of[key]) for key in keys], dtype="int64")
        hidden = suppress_counts(values, min_cell_size)
        shown |= {key: shown_value(SECONDARY) for key, value in zip(keys, hidden, strict=True)
                  if value == SECONDARY}
    missing = [(label, shown[key]) for key, (label, _n, _of) in counts.items()]
    return {"overview": overview, "groups": groups, "flows": flows, "missing": missing,
            "rule": _("Counts of 1 to {largest} patients are shown as \"<{k}\"; when a single count of a "
                      "table is suppressed, the next smallest count is also hidden (\"{secondary}\"; a zero "
                      "where every other count is zero) so that it cannot be recovered from the total. The "
                      "same rule applies to the exclusion counts of each model's flow, of patients and of "
                      "sessions apart (each sums to the cohort minus the analysed), and to every other "
                      "count of patients or sessions in this report. It is applied table by table: a count "
                      "of another table (an analysed n beside the cohort's size) can still give a "
                      "suppressed count away, so read the report through before it leaves the "
                      "clinic.").format(
                largest=format_count(min_cell_size - 1), k=format_count(min_cell_size),
                secondary=shown_value(SECONDARY))}


def satisfaction_by_dropout(features: pd.DataFrame) -> list[tuple[str, int, int]]:
    """Satisfaction missing among the patients who dropped out and among those who did not (label, count,
    of), since satisfaction is often asked at the end of treatment only, so that H3 rests on completers
    (ANALYSIS_PLAN.md, H3); nothing when no patient has a satisfaction score."""
    if features["satisfaction"].isna().all():
        return []
    missing = features["satisfaction"].isna()
    dropout = features["dropout"].astype("boolean")
    return [(label, int((missing & group).sum()), int(group.sum()))
            for label, group in ((_("Satisfaction missing among dropouts"), dropout.eq(True).fillna(False)),
                                 (_("Satisfaction missing among patients who did not drop out"),
                                  dropout.eq(False).fillna(False)))]


def input_tables(validation: dict) -> list[dict]:
    """Each input table: file name, rows, columns ignored (outside the contract) and optional ones absent."""
    return [{"table": table, "file": Path(info["file"]).name, "rows": format_count(info["rows"]),
             "ignored": ", ".join(info["ignored_columns"]) or pgettext("columns", "none"),
             "absent": ", ".join(info["absent_optional_columns"]) or pgettext("columns", "none")}
            for table, info in validation["tables"].items()]


def shown_instrument_name(instrument: Instrument) -> str | Markup:
    """An instrument's name as Methods and the figures write it (`instrument_name`: a shipped instrument's
    name in the report's language); a name left as its definition spells it (a user's instrument) is
    marked as English text."""
    name = instrument_name(instrument)
    return foreign(name) if name == instrument.name else name


def alliance_section(session_scores: pd.DataFrame, scoring: dict, config: dict) -> dict:
    """Instrument, item keys per subscale and descriptives per subscale over scored sessions."""
    instrument = load_instrument(config["instruments"]["alliance"])
    described = score_descriptives(session_scores, instrument)
    rows = [{"score": subscale_name(score.removeprefix(ALLIANCE_PREFIX)), "n": format_count(d["n"]),
             "mean": format_number(d["mean"]), "sd": format_number(d["sd"]),
             # a share of 1 to k - 1 sessions at the maximum, or leaving that few, is withheld (section 8)
             "ceiling": share_cell(d["ceiling_share"], d["n"], active_min_cell_size()),
             "skew": format_number(d["skew"])}
            for score, d in described.iterrows()]
    ceiling = described["ceiling_share"]
    return {
        "ceiling_effect": bool((ceiling > CEILING_SHARE).any()),
        "name": cited_name(shown_instrument_name(instrument), scoring["alliance"]["citation"]),
        "subscales": [(subscale_name(name), ", ".join(format_count(i) for i in items))
                      for name, items in scoring["alliance"]["subscales"].items()],
        "minimum": format_number(instrument.minimum, 0), "maximum": format_number(instrument.maximum, 0),
        "descriptives": rows,
        "shares_withheld": any(row["ceiling"] == _(WITHHELD) for row in rows),
        "ceiling_share": format_percent(CEILING_SHARE, 0),
        "ceiling_text": ceiling_text(described, active_min_cell_size()),
    }


def ceiling_text(described: pd.DataFrame, min_cell_size: int | None) -> str:
    """The shares at the maximum that the Limitations cite, as the descriptives table shows them
    (`share_cell`): the highest subscale's and the total's; "" where either is withheld there (the
    sentence then gives none: "0.1%" of 2,984 sessions beside a withheld cell had told 3)."""
    subscales = described.drop(TOTAL)
    high = subscales.loc[subscales["ceiling_share"].idxmax()]
    cells = [share_cell(row["ceiling_share"], row["n"], min_cell_size)
             for row in (high, described.loc[TOTAL])]
    if _(WITHHELD) in cells:
        return ""
    return _("up to {high} of scored sessions on a subscale and {total} on the total").format(
        high=cells[0], total=cells[1])
