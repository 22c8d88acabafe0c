"""The pooled report (`results/pooled/report.html`): one self-contained page with the sites, a forest plot
per primary effect (each site with its 95% CI or the reason it has none, the pooled estimate with its HKSJ
CI and the prediction interval), the heterogeneity in words, the benchmark statistics against the published
meta-analyses' bands (like metrics only), and the table of every pooled effect. In the active language
(`make pool POOL_LANGUAGE=es`); the sites' reasons stay in English, marked as such.
"""

from __future__ import annotations

import html
import io
import textwrap
from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from markupsafe import escape
from matplotlib.figure import Figure

from alliance.i18n import N_, _, language, ngettext
from alliance.instruments import PUBLISHED_NAMES
from alliance.network.aggregates import WITHHELD_REASONS
from alliance.network.bundle import EFFECT_KEY, PRIMARY_OUTCOMES, Bundle
from alliance.network.pooling import (
    BELOW_MINIMUM,
    COORDINATOR_REASONS,
    EMPTY_INTERVALS,
    MISSING,
    ONE_STAGE_REASONS,
    PER_POINT,
    approximate_reasons,
    heterogeneity_words,
    network_min_clusters,
    site_status,
    tau_digits,
    withheld_sites,
)
from alliance.report.analysis import SHARE_OUTCOMES
from alliance.report.format import (
    estimate_digits,
    foreign,
    format_ci,
    format_count,
    format_number,
    format_percent,
    format_unit,
    label_cell,
)
from alliance.report.references import cited_references, cited_text, reference_item
from alliance.report.style import SVG_HASHSALT, figure_style, new_figure
from alliance.report.words import (
    DIRECTION_SENTENCES,
    analysis_word,
    outcome_name,
    predictor_label,
    scale_word,
    series,
    source_words,
)
from alliance.report.words import STATUS_WORDS as MODEL_STATUS_WORDS

TITLES = {"attendance": N_("Attendance after the early window, on early alliance"),
          "dropout": N_("Dropout after the early window, on early alliance"),
          "satisfaction": N_("Satisfaction at the end of treatment, on mean alliance"),
          "alliance_dropout": N_("Early alliance of completers minus dropouts (d)"),
          "alliance_outcome": N_("Early alliance and symptom improvement (r)")}
# A site's row of an effect, in words: pooled or why not (a model's own status as the sites' reports say it).
STATUS_WORDS = {"pooled": N_("pooled"), BELOW_MINIMUM: N_("below the minimum cell size"),
                "not estimated": N_("not estimated"), MISSING: N_("missing")} | MODEL_STATUS_WORDS
# Characters per line of a forest plot's title: the English titles fit on one line of the 8-inch figure, the
# longer Spanish and Catalan ones wrap instead of reaching past its edge (beside site names of 25 characters).
TITLE_WIDTH = 56
CSS = """body{font-family:'DejaVu Sans',Arial,sans-serif;max-width:1200px;margin:2em auto;color:#222;
line-height:1.45}table{border-collapse:collapse;font-size:.85em;margin:1em 0}
td,th{border-bottom:1px solid #ccc;padding:.25em .5em;text-align:left}h1{font-size:1.6em}
h2{font-size:1.25em;margin-top:2em}.note{color:#555}figure{margin:1em 0}
.part{white-space:nowrap}table.effects td{vertical-align:top}code{font-size:.95em}
ul.references{list-style:none;padding-left:2em;text-indent:-2em}"""


def svg(fig: Figure) -> str:
    """A figure as inline SVG with fixed ids and no date (the same figure gives the same text)."""
    buffer = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": SVG_HASHSALT}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def effect_unit(row: dict) -> str:
    """The unit of a pooled effect in words."""
    unit = scale_word(row["scale"])
    if row["metric"] == PER_POINT:
        return _("{unit} per point of the alliance instrument").format(unit=unit)
    return _("{unit} per SD of alliance").format(unit=unit)


def status_word(status: str) -> str:
    return _(STATUS_WORDS[status]) if status in STATUS_WORDS else status


def title_of(key: str) -> str:
    return _(TITLES[key]) if key in TITLES else key


def forest(title: str, unit: str, sites: pd.DataFrame, pooled: dict, band: tuple | None = None,
           together: dict | None = None) -> Figure:
    """A forest plot: each site's estimate and 95% CI (or its status in words), the pooled estimate as a
    diamond over its CI, the prediction interval as a line, a benchmark `band` (value, low, high), and
    under the pooled row the one-stage analysis of all the sites' patients together (`together`, a row of
    `one_stage.csv`) where it was computed."""
    shown_together = together is not None and together["status"] in ("fitted", "approximate")
    labels = [*sites["site"], _("pooled"), *([_("one stage")] if shown_together else [])]
    positions = np.arange(len(labels))[::-1]
    colours = sns.color_palette("colorblind")
    with figure_style():
        fig = new_figure(8, 1.6 + 0.42 * len(labels))
        ax = fig.add_subplot()
        if band is not None:
            value, low, high = band
            if np.isfinite(low) and np.isfinite(high):
                ax.axvspan(low, high, color=colours[2], alpha=0.25, linewidth=0)
            ax.axvline(value, color=colours[2], linewidth=1.2, label=_("published benchmark"))
        ax.axvline(0, color="0.3", linewidth=0.8)
        for y, row in zip(positions[:len(sites)], sites.to_dict(orient="records"), strict=True):
            if row["status"] == "pooled":
                ax.errorbar(row["estimate"], y, xerr=[[row["estimate"] - row["ci_low"]],
                                                      [row["ci_high"] - row["estimate"]]],
                            fmt="s", color=colours[0], capsize=3, markersize=5)
            else:
                ax.text(0.02, y, status_word(row["status"]),
                        transform=ax.get_yaxis_transform(), va="center", color="0.4", fontsize="small")
        limits = forest_limits(sites, pooled, band, together if shown_together else None)
        if shown_together:
            ax.errorbar(together["estimate"], positions[-1], fmt="o", color=colours[4], capsize=3,
                        markersize=5, xerr=[[together["estimate"] - together["ci_low"]],
                                            [together["ci_high"] - together["estimate"]]],
                        label=_("one stage (95% CI)"))
        if np.isfinite(pooled["estimate"]):
            y = positions[len(sites)]
            if np.isfinite(pooled["pi_low"]):
                low, high = max(pooled["pi_low"], limits[0]), min(pooled["pi_high"], limits[1])
                ax.plot([low, high], [y, y], color=colours[3], linewidth=2,
                        label=_("95% prediction interval"))
                for end, reached, marker in ((limits[0], low > pooled["pi_low"], "<"),
                                             (limits[1], high < pooled["pi_high"], ">")):
                    if reached:  # runs on past the axis (its numbers are in the words)
                        ax.plot(end, y, marker=marker, color=colours[3], markersize=7, clip_on=False)
            ax.fill([pooled["ci_low"], pooled["estimate"], pooled["ci_high"], pooled["estimate"]],
                    [y, y + 0.25, y, y - 0.25], color=colours[1], label=_("pooled (95% CI)"))
        ax.set_xlim(*limits)
        ax.set_yticks(positions, labels)
        ax.set_ylim(-0.7, len(labels) - 0.3)
        ax.set(xlabel=unit, title=textwrap.fill(title, TITLE_WIDTH))
        handles, names = ax.get_legend_handles_labels()
        if handles:
            fig.legend(handles, names, loc="outside lower center", ncols=3 if len(handles) <= 3 else 2,
                       fontsize="small")  # four in a row ran past the edge in Spanish and Catalan
    return fig


def forest_limits(sites: pd.DataFrame, pooled: dict, band: tuple | None = None,
                  together: dict | None = None) -> tuple[float, float]:
    """The x range of a forest plot: the sites' CIs, the pooled CI, 0 and the benchmark band, padded, and
    the prediction interval where it is no more than three times as wide as those, and the one-stage CI
    (`together`). A prediction interval
    of a handful of sites on t(k - 2) can be wider by far (-7 to 8 log-odds with three sites) and shrank
    every interval to a dot; it then runs on past the axis, its ends marked."""
    shown = sites[sites["status"] == "pooled"]
    values = [0.0, *shown["ci_low"], *shown["ci_high"], pooled["ci_low"], pooled["ci_high"],
              pooled["estimate"], *(band or ()),
              *((together["ci_low"], together["ci_high"]) if together else ())]
    values = [float(v) for v in values if np.isfinite(v)]
    low, high = min(values), max(values)
    interval = [pooled["pi_low"], pooled["pi_high"]]
    if all(np.isfinite(interval)) and interval[1] - interval[0] <= 3 * max(high - low, 1e-12):
        low, high = min(low, interval[0]), max(high, interval[1])
    pad = 0.06 * max(high - low, 1e-12)
    return low - pad, high + pad


def reason_text(status: str, reason: object, k: int) -> str:
    """": reason" (escaped once), or nothing where there is none: the coordinator's own reason of a site
    row's `status` in the active language (`k`: the site's minimum cell size), a site's reason as the site
    sent it (English, marked so in a report of another language)."""
    if status in COORDINATOR_REASONS:
        return f": {escape(_(COORDINATOR_REASONS[status]).format(k=k))}"
    return f": {escape(foreign(reason))}" if isinstance(reason, str) and reason else ""


def site_items(rows: list[tuple[str, str, object]], cell_sizes: dict[str, int]) -> str:
    """A list item per (site, status, reason)."""
    return "".join(f"<li>{html.escape(site)}: {html.escape(status_word(status))}"
                   f"{reason_text(status, reason, cell_sizes[site])}</li>" for site, status, reason in rows)


def settings_note(bundles: list[Bundle], shown: int = 8) -> str:
    """Which analysis settings differ between the sites, each with its value per site (at most `shown`
    keys); for bundles without their settings by key (an earlier format), that they differ."""
    settings = [b.provenance.get("analysis_settings") for b in bundles]
    if any(s is None for s in settings):
        return _("The sites' analysis settings differ (the column Settings (SHA-256) above): compare their "
                 "configurations before reading the pooled effects.")
    keys = sorted({key for s in settings for key in s})
    differing = [key for key in keys if len({s.get(key) for s in settings}) > 1]
    listed = "; ".join(f"{key} (" + ", ".join(f"{b.site} {s.get(key, '-')}" for b, s in
                                               zip(bundles, settings, strict=True)) + ")"
                       for key in differing[:shown])
    more = len(differing) - shown
    text = ngettext("The sites' analysis settings differ in {n} setting: {listed}.",
                    "The sites' analysis settings differ in {n} settings: {listed}.",
                    len(differing)).format(n=len(differing), listed=listed)
    if more > 0:
        text += " " + ngettext("And {n} more.", "And {n} more.", more).format(n=more)
    return text + " " + _("Read the pooled effects with this in mind: the sites did not run the same "
                          "analysis.")


def heading2(text: str) -> str:
    return f"<h2>{html.escape(text)}</h2>"


def table_html(table: pd.DataFrame) -> str:
    """A plain table of text and counts (the sites'), every cell escaped."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in table.itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"


def count_cell(value: object) -> str:
    """A site's count as sites.csv holds it: a whole number (read back as 380.0), "<10" as sent, or empty."""
    try:
        return format_count(int(float(value)))
    except (TypeError, ValueError):  # "<10", "" or a missing value
        return "" if pd.isna(value) else str(value)


def site_table(effect_sites: pd.DataFrame, pooled: dict) -> pd.DataFrame:
    """The sites behind a pooled effect, as the forest plot shows them, with what it does not: each site's
    patients and weight (a site not pooled by its status), and the pooled sites' patients together."""
    digits = estimate_digits(pooled["estimate"])

    def interval(row: dict) -> str:
        if not np.isfinite(row["estimate"]):
            return ""
        return f"{format_number(row['estimate'], digits)} {format_ci(row['ci_low'], row['ci_high'], digits)}"

    rows = []
    for site in effect_sites.to_dict(orient="records"):
        pooled_here = site["status"] == "pooled" and np.isfinite(site["weight"])
        weight = format_percent(site["weight"], 0) if pooled_here else status_word(site["status"])
        rows.append({_("Site"): site["site"], _("Patients"): count_cell(site["n_patients"]),
                     _("Estimate [95% CI]"): interval(site), _("Weight"): weight})
    pooled_rows = effect_sites["status"] == "pooled"
    counts = pd.to_numeric(effect_sites.loc[pooled_rows, "n_patients"], errors="coerce")
    if len(counts) and counts.notna().all():
        rows.append({_("Site"): _("pooled"), _("Patients"): format_count(int(counts.sum())),
                     _("Estimate [95% CI]"): interval(pooled), _("Weight"): format_percent(1.0, 0)})
    return pd.DataFrame(rows)


# A pooled primary effect per SD of all the sites' patients together, as a ratio where the scale is a log.
COMBINED_SD_WORDS = {
    "log_odds": N_("Per SD of alliance across all the sites' patients ({sd} points of the instrument), an "
                   "odds ratio of {value} (95% CI {low} to {high})."),
    "log_hazard": N_("Per SD of alliance across all the sites' patients ({sd} points of the instrument), a "
                     "hazard ratio of {value} (95% CI {low} to {high})."),
    "points": N_("Per SD of alliance across all the sites' patients ({sd} points of the instrument), {value} "
                 "points (95% CI {low} to {high})."),
}


def combined_sd_words(row: dict) -> str:
    """A per-point pooled effect per SD of all the pooled sites' patients together (`combined_sd`, its CI
    holding that SD's sampling variance: `alliance.network.pooling.per_combined_sd`), as the sites' own
    reports give it: an odds or hazard ratio, or points; empty for an effect pooled per SD already."""
    if row["metric"] != PER_POINT or not np.isfinite(row.get("combined_sd", np.nan)) \
            or row["scale"] not in COMBINED_SD_WORDS or not row["std_error"] > 0:
        return ""
    value, low, high = (row[f"{name}_per_combined_sd"] for name in ("estimate", "ci_low", "ci_high"))
    if row["scale"] == "points":
        digits = estimate_digits(value)
        shown = [format_number(x, digits) for x in (value, low, high)]
    else:
        shown = [format_number(x, 2) for x in np.exp([value, low, high])]
    return _(COMBINED_SD_WORDS[row["scale"]]).format(sd=format_number(row["combined_sd"], 2), value=shown[0],
                                                      low=shown[1], high=shown[2])


ONE_STAGE_SENTENCE = N_(
    "All the sites' patients in one model (one stage, computed from the sums the sites sent, no patient row "
    "moved; it assumes the same effect at every site, which tau puts to the test): {estimate} {unit} (95% "
    "CI {low} to {high}), {n} patients analysed at {k} sites.")
ONE_STAGE_ONE_SITE = N_(
    "The site's patients in one model, computed from the sums it sent (one stage, no patient row moved): "
    "{estimate} {unit} (95% CI {low} to {high}), {n} patients analysed.")
ONE_STAGE_APPROXIMATE = N_("This is {reason}.")
ONE_STAGE_OFF = N_("No site sent the sums from which all the sites' patients are analysed in one model "
                   "(network.one_stage, off by default), so that analysis is not given.")
# The mixed model from the sites' sums at their mean caseloads (plan section 11, "H3 from aggregates").
ONE_STAGE_MEAN_CASELOAD = N_(
    "Its therapist and residual variances are estimated from all the sites' sums, each site's therapists "
    "taken at their mean number of patients: exactly the analysis of the combined patients where a site's "
    "therapists see equally many or where the therapists' share of the variance is 5%, closer to it the "
    "nearer either holds (ANALYSIS_PLAN.md, section 11).")
ONE_STAGE_FEW_CLUSTERS = N_(
    "With {n} clusters of therapists in all, fewer than {minimum}, its CI is on t({df}), and its SE is the "
    "usual clustered one: the plan's small-sample correction needs each therapist's patients' rows.")


def one_stage_words(row: dict | None, unit: str, min_clusters: int,
                    withheld: Sequence[tuple[str, str]] = ()) -> str:
    """The primary effect of the analysis of all the sites' patients together from their aggregates
    (`alliance.network.pooling.one_stage_table`), with the sites it leaves out and why (`withheld`: site
    and reason key, `alliance.network.pooling.withheld_sites`); or why there is none. Empty without the
    table's row."""
    if row is None:
        return ""
    if row["status"] == "not_estimable":  # the terms are the data's own words, in the sentence's series
        reason = _(ONE_STAGE_REASONS["not_estimable"]).format(terms=series(row["confounded"].split("; ")))
        said = _("No analysis of all the sites' patients together: {reason}.").format(reason=reason)
    elif row["status"] not in ("fitted", "approximate"):
        said = _("No analysis of all the sites' patients together: {reason}.").format(reason=_(row["reason"]))
    else:
        digits = estimate_digits(row["estimate"])
        said = _(ONE_STAGE_ONE_SITE if row["k_sites"] == 1 else ONE_STAGE_SENTENCE).format(
            estimate=format_number(row["estimate"], digits), unit=unit,
            low=format_number(row["ci_low"], digits), high=format_number(row["ci_high"], digits),
            n=format_count(int(row["n_patients"])), k=int(row["k_sites"]))
        if bool(row["few_clusters"]):
            clusters = int(row["n_clusters"])  # a float where the table has rows not computed
            said += " " + _(ONE_STAGE_FEW_CLUSTERS).format(n=clusters, minimum=min_clusters, df=clusters - 1)
        if row["outcome"] == "satisfaction":
            said += " " + _(ONE_STAGE_MEAN_CASELOAD)
        if row["status"] == "approximate":
            merged = row["sites_merged"] if isinstance(row["sites_merged"], str) else ""  # NaN read back
            reasons = approximate_reasons(row, merged, _)
            said += "".join(" " + _(ONE_STAGE_APPROXIMATE).format(reason=reason) for reason in reasons)
    if withheld:
        named = "; ".join(f"{site} ({_(WITHHELD_REASONS[reason])})" for site, reason in withheld)
        said += " " + _("Sites whose sums were not sent: {sites}.").format(sites=named)
    return said


def direction_words(row: dict) -> str:
    """Which way a pooled primary effect goes where its CI excludes zero, as the sites' reports say it."""
    if not (row["ci_low"] > 0 or row["ci_high"] < 0) or row["outcome"] not in DIRECTION_SENTENCES:
        return ""
    return _(DIRECTION_SENTENCES[row["outcome"]][0 if row["estimate"] > 0 else 1])


def instrument_words(instrument: dict) -> str:
    """A site's alliance instrument by name: a shipped one's published name in the report's language,
    another as its definition spells it."""
    shipped = PUBLISHED_NAMES.get(instrument.get("key", ""))
    name = instrument.get("name") or instrument.get("key", "")
    return _(shipped) if shipped and shipped == name else name


def scale_cell(unit: str, per: str, wraps: bool = False) -> str:
    """The unit of an effect ("log OR, per point"), each part on one line; with `wraps` the unit may wrap
    where the column is narrow ("percentage points" kept whole pushed the model's name to four lines)."""
    if wraps:
        return f'{html.escape(unit)}, <span class="part">{html.escape(per)}</span>'
    return str(label_cell(f"{unit}, {per}"))


def model_cell(model: str) -> str:
    """A model's name in code type, breakable after each underscore (the names run to 40 characters)."""
    return "<code>" + "_<wbr>".join(html.escape(part) for part in model.split("_")) + "</code>"


def cells_table(head: list[str], rows: list[list[str]]) -> str:
    """A table of the pooled effects' style: `head` as plain text, each row's cells as HTML already made."""
    header = "".join(f"<th>{html.escape(name)}</th>" for name in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>" for cells in rows)
    return f"<table class=\"effects\"><tr>{header}</tr>{body}</table>"


EMPTY_MARK = "*"  # beside a Q-profile interval that is empty (`EMPTY_INTERVALS`)


def empty_intervals(row: dict) -> bool:
    """Whether a pooled effect's Q-profile intervals are empty (Q(0) below chi^2's lower quantile)."""
    return row["tau_ci_high"] == 0


def heterogeneity_cell(row: dict, name: str) -> str:
    """tau (in the effect's unit) or I^2 (a percentage) over its 95% CI (Q-profile), which may break after
    its separator (the table stays within 1280 px), marked where the interval is empty
    (`EMPTY_INTERVALS`); nothing for one site."""
    if not np.isfinite(row[name]):
        return ""
    if name == "i2":
        value = format_percent(row["i2"], 0)
        interval = format_ci(row["i2_ci_low"], row["i2_ci_high"], 0, percent=True)
    else:
        digits = tau_digits(row)
        value = format_number(row["tau"], digits)
        interval = format_ci(row["tau_ci_low"], row["tau_ci_high"], digits)
    mark = EMPTY_MARK if empty_intervals(row) else ""
    return f"{html.escape(value)}<br>{html.escape(interval)}{mark}"


def effects_table_html(pooled: pd.DataFrame) -> str:
    """Every pooled effect as a reader's table, in the active language: outcome, predictor, role, model, unit,
    sites pooled (of those that sent it), the estimate with its HKSJ 95% CI, the prediction interval, tau
    and I^2 with their Q-profile 95% CIs (Cochran's Q and its p, which with few sites say less than these
    intervals, are in effects.csv and in the words under each primary effect), and a note under the table
    where an interval is empty. Every column of results/pooled/effects.csv is in that file; its 28
    columns, shown whole, would reach past a 1280-pixel screen."""
    head = [_("Outcome"), _("Predictor"), _("Analysis"), _("Model"), _("Scale"), _("Sites"),
            _("Estimate [95% CI]"), _("95% prediction interval"), _("tau [95% CI]"), _("I\u00b2 [95% CI]")]
    rows = []
    for row in pooled.to_dict(orient="records"):
        # a share outcome (0-1) in percentage points, as the sites' reports show it
        factor, unit = ((100.0, _("percentage points")) if row["outcome"] in SHARE_OUTCOMES
                        else (1.0, scale_word(row["scale"])))
        scaled = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau", "tau_ci_low", "tau_ci_high")
        row = row | {column: factor * row[column] for column in scaled}
        per = _("per point") if row["metric"] == PER_POINT else _("per SD")
        sent = row["k_sites"] + row["k_suppressed"] + row["k_not_estimated"]
        sites = str(row["k_sites"]) if sent == row["k_sites"] else _("{k} of {n}").format(k=row["k_sites"],
                                                                                        n=sent)
        digits = estimate_digits(row["estimate"])  # APA: 2 decimals, more for a small non-zero estimate
        estimate = interval = ""
        if np.isfinite(row["estimate"]):
            estimate = format_number(row["estimate"], digits)
            if np.isfinite(row["ci_low"]) and np.isfinite(row["ci_high"]):
                estimate += " " + format_ci(row["ci_low"], row["ci_high"], digits)
        if np.isfinite(row["pi_low"]) and np.isfinite(row["pi_high"]):
            interval = format_ci(row["pi_low"], row["pi_high"], digits)
        cells = [html.escape(outcome_name(row["outcome"])), label_cell(predictor_label(row["predictor"])),
                 html.escape(analysis_word(row["analysis"])), model_cell(row["model"]),
                 scale_cell(unit, per, wraps=factor != 1), sites, estimate, interval,
                 heterogeneity_cell(row, "tau"), heterogeneity_cell(row, "i2")]
        rows.append(cells)
    empty = any(empty_intervals(row) for row in pooled.to_dict(orient="records"))
    note = f"<p class=\"note\">{EMPTY_MARK} {html.escape(_(EMPTY_INTERVALS))}</p>" if empty else ""
    return cells_table(head, rows) + note


def unpooled_sites_html(sites: pd.DataFrame, cell_sizes: dict[str, int]) -> str:
    """The sites not pooled in the effects other than the primary ones (those are under each primary
    effect), each with its status and reason, as a table in the active language; nothing when every site
    was pooled. They had been in results/pooled/sites.csv only."""
    rows = sites[(sites["analysis"] != "primary") & (sites["status"] != "pooled")]
    if rows.empty:
        return ""
    head = [_("Outcome"), _("Predictor"), _("Model"), _("Site"), _("Status")]
    # one row per site, model and reason: a refused moderation model's reason once repeated for each of
    # its per-discipline slopes
    grouped = rows.fillna({"reason": ""}).groupby(["outcome", "model", "site", "status", "reason"],
                                                  sort=False)["predictor"].agg(list)
    body = [[html.escape(outcome_name(outcome)),
             "<br>".join(label_cell(predictor_label(predictor)) for predictor in predictors),
             model_cell(model), html.escape(site),
             html.escape(status_word(status)) + reason_text(status, reason, cell_sizes[site])]
            for (outcome, model, site, status, reason), predictors in grouped.items()]
    lead = html.escape(_("The sites not pooled in the other effects, and why:"))
    return f"<p>{lead}</p>{cells_table(head, body)}"


def unestimated_primaries(bundles: list[Bundle], pooled: pd.DataFrame) -> list[tuple[str, list]]:
    """The primary outcomes that no site sent an effect for, each with every site's label, status and reason
    from its statuses (e.g. "not_estimable", "no patient dropped out"). An effect that sites sent but none
    could pool (each below its minimum cell size or without a finite estimate) has a row in `pooled` with
    `k_sites` 0 (`unpooled_primaries`)."""
    found = set(pooled.loc[pooled["analysis"] == "primary", "outcome"])
    return [(outcome, [(b.site, *site_status(b, {"outcome": outcome, "analysis": "primary"}))
                       for b in bundles])
            for outcome in PRIMARY_OUTCOMES if outcome not in found]


def _withheld_words(withheld: list[str], absent: list[str]) -> str:
    """" Sent without numbers by ..." and " Not sent by ..." for a benchmark's sites, or nothing."""
    text = ""
    if withheld:  # e.g. fewer dropouts than the minimum cell size: d without numbers
        text += " " + _("Sent without numbers by {sites} (the statistic rests on fewer patients, dropouts or "
                        "completers than the site's minimum cell size).").format(sites=", ".join(withheld))
    if absent:  # e.g. a site whose dropout model could not be fitted sends no d
        text += " " + _("Not sent by {sites} (the model that computes it was not estimated there; "
                        "the sites' statuses say why).").format(sites=", ".join(absent))
    return text


def unpooled_primaries(bundles: list[Bundle], pooled: pd.DataFrame) -> list[str]:
    """The primary outcomes without a pooled estimate: no site sent the effect, or none that could be
    pooled (a two-site network whose sites were both below their minimum cell size once read "Pooled NA
    (95% CI NA to NA) over 0 sites")."""
    primary = pooled[pooled["analysis"] == "primary"]
    empty = set(primary.loc[primary["k_sites"] == 0, "outcome"])
    absent = {outcome for outcome, _reasons in unestimated_primaries(bundles, pooled)}
    return [outcome for outcome in PRIMARY_OUTCOMES if outcome in empty | absent]


def pooled_report(bundles: list[Bundle], pooled: pd.DataFrame, sites: pd.DataFrame,
                  benchmarks: pd.DataFrame, benchmark_sites: pd.DataFrame,
                  one_stage: pd.DataFrame | None = None) -> str:
    """The pooled report's HTML (see the module docstring)."""
    heading = ngettext("Pooled results across {k} site", "Pooled results across {k} sites",
                       len(bundles)).format(k=len(bundles))
    parts = [f"<!DOCTYPE html><html lang=\"{language()}\"><head><meta charset=\"utf-8\">"
             f"<title>{html.escape(heading)}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(heading)}</h1>",
             "<p>" + html.escape(_(
                 "Each site ran the same analysis plan on its own data and sent aggregates only. Every "
                 "effect is pooled by two-stage random-effects meta-analysis: each site's SE as wide as its "
                 "own 95% CI (on t with its therapists - 1 degrees of freedom), the between-site variance "
                 "(tau^2) by Paule & Mandel (1982), the Hartung-Knapp-Sidik-Jonkman 95% CI on t(k - 1) "
                 "(Hartung & Knapp, 2001; Sidik & Jonkman, 2002; IntHout et al., 2014) with its variance not "
                 "below the fixed-effect one (Röver, Knapp & Friede, 2015), and the 95% prediction interval "
                 "for a new site on t(k - 2) with the same SE (Higgins, Thompson & Spiegelhalter, 2009; "
                 "Partlett & Riley, 2017; ANALYSIS_PLAN.md, section 11); the heterogeneity as I\u00b2 "
                 "(Higgins & Thompson, 2002) in the words of the Cochrane Handbook (Deeks, Higgins & Altman, "
                 "2022), with 95% CIs of tau and I\u00b2 by the Q-profile method (Viechtbauer, 2007). With "
                 "few sites these intervals are wide (t(k - 1) is 12.71 with two sites and 4.30 "
                 "with three), so a pooled CI can be wider than a site's own. Sites whose effect rests on "
                 "fewer patients than their minimum cell size, or that could not estimate it, are shown and "
                 "not pooled."))
             + "</p>",
             "<p class=\"note\">" + html.escape(_(
                 "Abbreviations: CI, confidence interval; SD, standard deviation; SE, standard error; log OR "
                 "and log HR, the log of an odds ratio and of a hazard ratio; tau, the SD of the effect "
                 "between sites; I\u00b2, the share of the variation of the sites' estimates beyond chance; "
                 "Q, Cochran's test of differences between sites, on df degrees of freedom.")) + "</p>"]
    info = pd.DataFrame([{_("Site"): b.site, _("Bundle"): b.name.rsplit("/", 1)[-1],
                          _("Instrument"): instrument_words(b.provenance["instrument"]),
                          _("Plan (SHA-256)"): b.provenance["plan_sha256"][:12],
                          _("Settings (SHA-256)"): b.provenance["config_sha256"][:12],
                          _("Minimum cell size"): b.provenance["min_cell_size"]} for b in bundles])
    parts += [heading2(_("Sites")), table_html(info)]
    if len({b.provenance["config_sha256"] for b in bundles}) > 1:
        parts.append("<p class=\"note\">" + html.escape(settings_note(bundles)) + "</p>")
    parts.append(heading2(_("Primary effects")))
    cell_sizes = {b.site: b.provenance["min_cell_size"] for b in bundles}
    one_stage_rows = {} if one_stage is None else {row["outcome"]: row
                                                   for row in one_stage.to_dict(orient="records")}
    if not any(entry.get("reason") != "not_enabled" for b in bundles for entry in b.aggregates.values()):
        # no site enabled the sums (off by default): said once, not under every effect
        one_stage_rows = {}
        parts.append("<p class=\"note\">" + html.escape(_(ONE_STAGE_OFF)) + "</p>")
    min_clusters = network_min_clusters(bundles)
    for row in pooled[pooled["analysis"] == "primary"].to_dict(orient="records"):
        mask = np.logical_and.reduce([sites[c] == row[c] for c in EFFECT_KEY])
        effect_sites = sites[mask]
        title = title_of(row["outcome"])
        if row["k_sites"] == 0:  # sent, but by no site that could be pooled: nothing to show as a result
            listed = site_items(list(effect_sites[["site", "status", "reason"]].itertuples(index=False)),
                                cell_sizes)
            parts += [f"<h3>{html.escape(title)}</h3>",
                      "<p>" + html.escape(_("No site sent an estimate that could be pooled, so nothing was "
                                            "pooled:")) + "</p>", f"<ul>{listed}</ul>"]
            continue
        fig = forest(title, effect_unit(row), effect_sites, row, together=one_stage_rows.get(row["outcome"]))
        digits = estimate_digits(row["estimate"])
        estimate = ngettext("Pooled {estimate} {unit} (95% CI {low} to {high}) over {k} site.",
                            "Pooled {estimate} {unit} (95% CI {low} to {high}) over {k} sites.",
                            row["k_sites"]).format(
            estimate=format_number(row["estimate"], digits), unit=effect_unit(row),
            low=format_number(row["ci_low"], digits), high=format_number(row["ci_high"], digits),
            k=row["k_sites"])
        excluded = effect_sites[effect_sites["status"] != "pooled"]
        notes = site_items(list(excluded[["site", "status", "reason"]].itertuples(index=False)), cell_sizes)
        said = " ".join(filter(None, [estimate, combined_sd_words(row), direction_words(row),
                                      heterogeneity_words(row)]))
        together = one_stage_words(one_stage_rows.get(row["outcome"]), effect_unit(row), min_clusters,
                                   withheld_sites(bundles, row["outcome"]))
        parts += [f"<h3>{html.escape(title)}</h3><figure>{svg(fig)}</figure>",
                  f"<p>{html.escape(said)}</p>", f"<p>{html.escape(together)}</p>" if together else "",
                  table_html(site_table(effect_sites, row)),
                  f"<ul>{notes}</ul>" if notes else ""]
    for outcome, reasons in unestimated_primaries(bundles, pooled):
        notes = site_items(reasons, cell_sizes)
        parts += [f"<h3>{html.escape(title_of(outcome))}</h3>",
                  "<p>" + html.escape(_("No site could estimate this effect, so nothing was pooled:"))
                  + "</p>",
                  f"<ul>{notes}</ul>"]
    if len(benchmarks):
        parts.append(heading2(_("Against the meta-analytic benchmarks (like metrics only)")))
        for row in benchmarks.to_dict(orient="records"):
            rows = benchmark_sites[benchmark_sites["benchmark"] == row["benchmark"]].assign(
                status=lambda d: np.where(np.isfinite(d["estimate"]), "pooled", BELOW_MINIMUM))
            band = (row["benchmark_value"], row["benchmark_ci_low"], row["benchmark_ci_high"])
            title = title_of(row["benchmark"])
            shown = format_unit if row["benchmark"] == "alliance_outcome" else format_number  # r: APA's .28
            withheld = [site for site, status in zip(rows["site"], rows["status"], strict=True)
                        if status == BELOW_MINIMUM]
            absent = [b.site for b in bundles if b.site not in set(rows["site"])]
            if row["k_sites"] == 0:  # no verdict from a CI of NaN ("lies outside" had been said)
                text = _("Published {value} ({source}); no site sent this statistic with numbers, so there "
                         "is nothing to compare it with.").format(value=shown(row["benchmark_value"], 2),
                                                                  source=source_words(row["source"]))
                text += _withheld_words(withheld, absent)
                parts += [f"<h3>{html.escape(title)}</h3>", f"<p>{html.escape(text)}</p>"]
                continue
            fig = forest(title, row["metric"].split(",")[0], rows, row, band)
            text = ngettext("Pooled {estimate} (95% CI {low} to {high}) over {k} site; published {value} "
                            "({source}).",
                            "Pooled {estimate} (95% CI {low} to {high}) over {k} sites; published {value} "
                            "({source}).",
                            row["k_sites"]).format(
                estimate=shown(row["estimate"], 2), low=shown(row["ci_low"], 2),
                high=shown(row["ci_high"], 2), k=row["k_sites"], value=shown(row["benchmark_value"], 2),
                source=source_words(row["source"]))
            inside = row["ci_low"] <= row["benchmark_value"] <= row["ci_high"]
            text += " " + (_("The published value lies within the pooled 95% CI.") if inside else
                           _("The published value lies outside the pooled 95% CI."))
            text += _withheld_words(withheld, absent)
            parts += [f"<h3>{html.escape(title)}</h3><figure>{svg(fig)}</figure>",
                      f"<p>{html.escape(text)}</p>"]
    parts += [heading2(_("Every pooled effect")),
              effects_table_html(pooled),
              "<p class=\"note\">" + html.escape(_(
                  "Pooled per point of the alliance instrument where every site used the same instrument, "
                  "else per SD of each site's own alliance scores. Sites: those pooled, of all the sites "
                  "(the others were below their minimum cell size, could not estimate the effect or did not "
                  "send it; the table below and results/pooled/sites.csv give each site's status and "
                  "reason). Estimate: the "
                  "pooled estimate with its Hartung-Knapp-Sidik-Jonkman 95% CI; the prediction interval "
                  "needs three sites; tau and I\u00b2 over their Q-profile 95% CIs. A per-SD effect is per "
                  "each site's own SD: where the sites' spreads of alliance differ, it is not quite the "
                  "same quantity at each site, so read its pooled value as approximate (the primary effects "
                  "are pooled per point when the sites share an instrument). Every column, unrounded, is in "
                  "results/pooled/effects.csv.")) + "</p>",
              unpooled_sites_html(sites, cell_sizes)]
    # the works the text above cites (the benchmarks' sources among them), as published
    cited = cited_references(cited_text("\n".join(parts)))
    parts += ['<section id="references">', heading2(_("References")), '<ul class="references">',
              *map(reference_item, cited), "</ul>", "</section>", "</body></html>"]
    return "\n".join(part for part in parts if part) + "\n"
