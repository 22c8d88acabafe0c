"""The report's section on bond, goals or tasks (ANALYSIS_PLAN.md, H5, exploratory): one sentence per
outcome on the planned contrast and one on the latent model's verdict, a table of each dimension alone and
jointly, its share of what the three explain together and its reliability, a table of the latent model
(H5d) and one of the reliability of the dimensions and of their differences, the collinearity and
reliability caveats, and one figure (the dimensions' effects as r and their shares, per outcome)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from alliance.errors import REPORTED
from alliance.i18n import N_, _, ngettext
from alliance.ingest.privacy import is_reportable
from alliance.models.dimensions import DIMENSIONS, MIN_RELIABILITY
from alliance.report.analysis import planned_title
from alliance.report.cohort import subscale_name
from alliance.report.format import (
    bound_digits,
    estimate_digits,
    format_ci,
    format_estimate,
    format_number,
    format_p,
    format_unit,
    is_number,
    p_text,
)
from alliance.report.methods import published_name
from alliance.report.style import figure_style, message_figure, new_figure
from alliance.report.words import (
    fill,
    join,
    outcome_name,
    reason_text,
    reason_words,
    scale_word,
    status_word,
)

CONTRAST = "goal_task_minus_bond"
# The planned contrast in words: (goals and tasks carried more; the bond carried more; neither clearly).
CONTRAST_SENTENCES = (
    N_("{outcome}: agreement on goals and tasks carried more of what the alliance explains than the bond "
       "(difference in shares {estimate}, 95% CI {low} to {high})."),
    N_("{outcome}: the bond carried more of what the alliance explains than agreement on goals and tasks "
       "(difference in shares {estimate}, 95% CI {low} to {high})."),
    N_("{outcome}: agreement on goals and tasks carried neither clearly more nor clearly less of what the "
       "alliance explains than the bond (difference in shares {estimate}, 95% CI {low} to {high}; each pair "
       "of dimensions is compared in the table of differences)."),
)
# H5d's verdict: the outcome weighted the latent dimensions unequally, or not distinguishably.
LATENT_SENTENCES = (
    N_("{outcome}, latent dimensions: the outcome weighted the three dimensions unequally (test of equal "
       "paths: score statistic {score} on {df} df, {p} by wild bootstrap, {q} over the outcomes; goals and "
       "tasks minus bond {estimate}, 95% CI {low} to {high})."),
    N_("{outcome}, latent dimensions: no dimension-specific effect could be told apart from the general "
       "alliance (test of equal paths: score statistic {score} on {df} df, {p} by wild bootstrap, {q} over "
       "the outcomes; goals and tasks minus bond {estimate}, 95% CI {low} to {high})."),
    # the planned contrast's CI excludes 0 where the test, adjusted over the outcomes, declares nothing
    N_("{outcome}, latent dimensions: no dimension-specific effect was declared (test of equal paths: score "
       "statistic {score} on {df} df, {p} by wild bootstrap, {q} over the outcomes), although the planned "
       "contrast, goals and tasks minus bond, {estimate}, 95% CI {low} to {high}, excludes 0 before that "
       "adjustment: a lead for the hypothesis of the plan, not a finding."),
)
# Where the planned contrast of the shares and H5d's latent test disagree, which way (a reviewer's null
# cohort read "goals and tasks carried more" beside "no dimension-specific effect", without a word between).
DISAGREEMENT_SENTENCES = (
    N_("{outcome}: the two analyses differ. The shares divide what the observed dimension scores explain "
       "together, and a dimension measured more reliably, or sharing more with the general alliance, can "
       "take a larger share without an effect of its own; the latent model, which separates the general "
       "alliance from the dimensions and from their measurement error, found no effect of a dimension beyond "
       "the general alliance, so the difference in shares is not evidence of one."),
    N_("{outcome}: the two analyses differ. The latent model, which separates the general alliance from the "
       "dimensions and from their measurement error, found the outcome weighting the dimensions unequally, "
       "where the shares of the observed scores did not differ clearly in the planned contrast."),
)
DIFFERENCES = ("goal_minus_bond", "task_minus_bond", "task_minus_goal")
VIF_LIMIT = 5.0  # a joint coefficient with a larger VIF is not interpretable alone (ANALYSIS_PLAN.md, H5b)


def _estimate(row: Mapping) -> str:
    return format_estimate(row["estimate"], row["ci_low"], row["ci_high"])


def _contrast_sentence(outcome: str, row: Mapping) -> str:
    which = 0 if row["ci_low"] > 0 else 1 if row["ci_high"] < 0 else 2
    low_digits, high_digits = bound_digits(row["ci_low"], row["ci_high"])
    return fill(_(CONTRAST_SENTENCES[which]), outcome=outcome_name(outcome).capitalize(),
                estimate=format_unit(row["estimate"]), low=format_unit(row["ci_low"], low_digits),
                high=format_unit(row["ci_high"], high_digits))


def _share(row: Mapping) -> str:
    """A share or a difference of shares with its 95% CI."""
    return f"{format_unit(row['estimate'])} {format_ci(row['ci_low'], row['ci_high'], unit=True)}"


def _difference_row(outcome: str, importance: Mapping) -> dict | None:
    """The differences between the dimensions' shares (each pair and the planned contrast, with their
    bootstrap CIs) and the fit the three add together, which the shares divide; None without shares."""
    shares = {row["term"]: row for row in importance.get("rows", [])}
    if not all(term in shares for term in (*DIFFERENCES, CONTRAST)):
        return None
    return {"outcome": outcome_name(outcome), "pairs": [_share(shares[pair]) for pair in DIFFERENCES],
            "contrast": _share(shares[CONTRAST]),
            "explained": format_unit(importance["explained"], estimate_digits(importance["explained"], 3))}


def _disagreement(outcome: str, contrast: Mapping, latent: Mapping) -> str | None:
    """A sentence where the planned contrast of the shares (its CI excludes 0) and H5d's verdict disagree;
    None where they agree."""
    shares_differ = contrast["ci_low"] > 0 or contrast["ci_high"] < 0
    if shares_differ == bool(latent["declared"]):
        return None
    return fill(_(DISAGREEMENT_SENTENCES[0 if shares_differ else 1]),
                outcome=outcome_name(outcome).capitalize())


def _latent_sentence(outcome: str, latent: Mapping) -> str:
    """H5d's verdict with the planned contrast of the paths and its CI, which the plan reports whatever
    the test says (it had been left out where the test declared nothing: the default cohort's
    satisfaction, 0.36 [0.11, 0.62], was in no table or sentence)."""
    test, contrast = latent["equal_paths"], latent["contrast"]
    excludes = contrast["ci_low"] > 0 or contrast["ci_high"] < 0
    return fill(_(LATENT_SENTENCES[0 if latent["declared"] else 2 if excludes else 1]),
                outcome=outcome_name(outcome).capitalize(), df=str(test["df"]),
                score=format_number(test["score"]), p=p_text(test["p"]),
                q=p_text(test["q"], "q"),
                estimate=format_number(contrast["estimate"]), low=format_number(contrast["ci_low"]),
                high=format_number(contrast["ci_high"]))


def _latent_row(outcome: str, latent: Mapping) -> dict:
    test = latent["equal_paths"]
    return {"outcome": outcome_name(outcome),
            **{d: _estimate(latent["paths"][d]) for d in DIMENSIONS},
            "contrast": _estimate(latent["contrast"]),
            "test": f"{format_number(test['score'])} ({format_p(test['p'])}; {format_p(test['q'])})",
            "fit": f"{format_unit(latent['fit']['cfi'], 3)}, {format_unit(latent['fit']['rmsea'], 3)}"}


def _reliability_row(outcome: str, reliability: Mapping) -> dict | None:
    alphas, differences = reliability.get("dimensions", {}), reliability.get("differences", {})
    if not any(is_number(values["alpha"]) for values in alphas.values()):  # said once (`_no_reliability`)
        return None
    return {"outcome": outcome_name(outcome),
            **{d: (f"{_reliability(alphas[d]['alpha'])} "
                   f"{format_ci(alphas[d]['ci_low'], alphas[d]['ci_high'], unit=True)}")
               if is_number(alphas[d]["alpha"]) else _alpha_cell(alphas[d]) for d in DIMENSIONS},
            "differences": [_reliability(differences[pair]["reliability"]) for pair in DIFFERENCES]}


def _alpha_cell(values: Mapping) -> str:
    """A dimension's alpha in a table: the value, or why there is none ("one item: no internal
    consistency", a custom form's single-item goal beside a three-item bond) instead of "NA [NA; NA]"."""
    if is_number(values.get("alpha")):
        return _reliability(values["alpha"])
    return _(values["reason"]) if values.get("reason") else format_unit(float("nan"))


def _reliability(value: float) -> str:
    """A reliability as the words beside the table say it: below `MIN_RELIABILITY` with the digits that
    show it below (`below_limit`; the table had read .70 where the text said ".696 (below .70)")."""
    return below_limit(value) if is_number(value) and value < MIN_RELIABILITY else format_unit(value)


def _no_reliability(details: Mapping) -> list[str]:
    """One line where no dimension's reliability could be estimated in any outcome's sample, with the
    reason (one item per dimension, as the SRS has; pre-scored subscales): the table of reliabilities is
    then left out instead of a table of NA."""
    reasons = []
    for detail in details.values():
        reliability = detail.get("reliability")
        if reliability is None:
            continue
        dimensions = reliability.get("dimensions", {})
        if any(is_number(values["alpha"]) for values in dimensions.values()):
            return []
        reasons += [reliability["reason"]] if "reason" in reliability else [
            values["reason"] for values in dimensions.values() if "reason" in values]
    if not reasons:
        return []
    return [fill(_("The dimensions' reliability, and that of their differences, could not be estimated: "
                   "{reason}."), reason=_(reasons[0]))]


def _caveats(outcome: str, detail: Mapping) -> list[str]:
    """The collinearity and reliability caveats of one outcome's analysis sample."""
    out = []
    name = outcome_name(outcome).capitalize()
    correlations = list(detail.get("correlations", {}).values())
    if correlations:
        vif = detail.get("vif", {})
        out.append(fill(_("{outcome}: the three dimensions correlate {low} to {high} in its sample; their "
                          "variance inflation factors in the joint model are {vifs}."),
                        outcome=name, low=format_unit(min(correlations)), high=format_unit(max(correlations)),
                        vifs=", ".join(f"{subscale_name(d)} {format_number(v, 1)}" for d, v in vif.items())
                        or "NA"))
        if any(v > VIF_LIMIT for v in vif.values()):
            out.append(fill(_("{outcome}: a variance inflation factor above {limit} makes that dimension's "
                              "joint coefficient uninterpretable on its own."),
                            outcome=name, limit=format_number(VIF_LIMIT, 0)))
    reliability = detail.get("reliability", {})
    for pair, diff in reliability.get("differences", {}).items():
        if diff["low"]:
            b, a = pair.split("_minus_")
            out.append(fill(_("{outcome}: the difference between the {a} and {b} scores has a reliability of "
                              "{value} (below {limit}): differences between dimensions are measured less "
                              "reliably than the dimensions themselves."),
                            outcome=name, a=subscale_name(a), b=subscale_name(b),
                            value=below_limit(diff["reliability"]), limit=format_unit(MIN_RELIABILITY)))
    for dimension, values in reliability.get("dimensions", {}).items():
        if values["low"]:
            out.append(fill(_("{outcome}: the {dimension} score's reliability is {value} (below {limit}); "
                              "its effects are attenuated."), outcome=name,
                            dimension=subscale_name(dimension), value=below_limit(values["alpha"]),
                            limit=format_unit(MIN_RELIABILITY)))
    return out


def below_limit(value: float) -> str:
    """A reliability below `MIN_RELIABILITY` with the digits that show it below (.698, not .70 beside
    "below .70")."""
    digits = 2
    while round(value, digits) >= MIN_RELIABILITY and digits < 4:
        digits += 1
    return format_unit(value, digits)


def reportable_dimensions(result: Mapping | None, min_cell_size: int) -> Mapping | None:
    """H5's result without the outcomes whose effects rest on fewer than `min_cell_size` patients (their
    estimates, shares and latent model, as the effect tables withhold such an effect), which it lists
    under `withheld`; the section and its figure are drawn from it."""
    if not result or not result.get("effects"):
        return result
    effects = pd.DataFrame(result["effects"])
    sizes = effects.groupby("outcome")["n_patients"].max()
    withheld = [outcome for outcome, n in sizes.items() if not is_reportable(int(n), min_cell_size)]
    if not withheld:
        return result
    return {**result, "effects": [row for row in result["effects"] if row["outcome"] not in withheld],
            "outcomes": {outcome: detail for outcome, detail in result["outcomes"].items()
                         if outcome not in withheld},
            "withheld": withheld}


def dimension_section(result: Mapping | None, status: pd.DataFrame) -> dict:
    """The section's context: `sentences` (the planned contrast and the latent verdict per outcome), `rows`
    of the main table, `latent` and `reliability` rows, `caveats`, `not_estimated` (the parts without an
    estimate, with their reasons), the reliability `limit`, `none`: the one line that stands for the
    section where no part is possible for one reason ("" otherwise), and `alpha`: whether the main table
    has its column of the dimensions' alphas (some dimension has one)."""
    h5 = status[status["hypothesis"] == "H5"]
    alike: dict[tuple, tuple] = {}  # the outcomes of a part with the same status and reason: said once
    for _index, row in h5[~h5["status"].isin(REPORTED)].iterrows():
        reason = reason_text(row)
        part = row["key"].split("-", 1)[0]  # H5a .. H5d; the outcome in words, not its column name
        alike.setdefault((part, row["title"], row["status"], str(reason)), (reason, []))[1].append(
            outcome_name(row["outcome"]))
    not_estimated = [fill(_("{part} ({title}), {outcomes}: {status}. {reason}"), part=part,
                          title=planned_title(title), outcomes=join(outcomes, ", "),
                          status=status_word(status), reason=reason)
                     for (part, title, status, _words), (reason, outcomes) in alike.items()]
    reasons = {str(reason_words(row)) for _index, row in h5.iterrows()}
    if (len(h5) and not h5["status"].isin(REPORTED).any() and len(reasons) == 1
            and not (result or {}).get("effects")):
        # one reason for every part and outcome (an instrument without the three dimensions, pre-scored
        # totals): said once, without the section's tables and figure
        return {"sentences": [], "rows": [], "latent": [], "reliability": [], "differences": [],
                "caveats": [], "not_estimated": [], "limit": format_unit(MIN_RELIABILITY),
                "none": fill(_("None of H5's analyses is possible in these data: {reason}."),
                             reason=reason_words(h5.iloc[0])), "alpha": False}
    if result is None:
        return {"sentences": [], "rows": [], "latent": [], "reliability": [], "differences": [],
                "caveats": [], "not_estimated": not_estimated, "limit": format_unit(MIN_RELIABILITY),
                "none": "", "alpha": False}
    effects = pd.DataFrame(result["effects"])
    rows, sentences, caveats, latent, reliability, differences = [], [], [], [], [], []
    if withheld := result.get("withheld"):
        names = join([outcome_name(outcome) for outcome in withheld], ", ")
        caveats.append(fill(_("Withheld for {outcomes}: the estimates rest on fewer patients than the "
                              "minimum cell size."), outcomes=names))
    if unmapped := result.get("unmapped_items"):
        caveats.append(fill(ngettext("{instrument}: item {items} belongs to none of the three dimensions; it "
                                     "counts in the alliance total but in no dimension score.",
                                     "{instrument}: items {items} belong to none of the three dimensions; "
                                     "they count in the alliance total but in no dimension score.",
                                     len(unmapped)),
                            instrument=published_name(result["instrument"]),
                            items=", ".join(map(str, unmapped))))
    for outcome, detail in result["outcomes"].items():
        shares = {row["term"]: row for row in detail.get("importance", {}).get("rows", [])}
        if CONTRAST in shares:
            sentences.append(_contrast_sentence(outcome, shares[CONTRAST]))
        if "latent" in detail:
            sentences.append(_latent_sentence(outcome, detail["latent"]))
            latent.append(_latent_row(outcome, detail["latent"]))
            if CONTRAST in shares and (disagreement := _disagreement(outcome, shares[CONTRAST],
                                                                     detail["latent"])):
                sentences.append(disagreement)
        if (row := _reliability_row(outcome, detail.get("reliability", {}))) is not None:
            reliability.append(row)
        if (row := _difference_row(outcome, detail.get("importance", {}))) is not None:
            differences.append(row)
        caveats += _caveats(outcome, detail)
        alphas = detail.get("reliability", {}).get("dimensions", {})
        for dimension in DIMENSIONS:
            found = {part: effects[(effects["outcome"] == outcome) & (effects["part"] == part)
                                   & (effects["dimension"] == dimension)] if len(effects) else effects
                     for part in ("H5a", "H5b")}
            if all(frame.empty for frame in found.values()):
                continue
            alone, joint = (frame.iloc[0] if len(frame) else None for frame in found.values())
            scale = alone["scale"] if alone is not None else joint["scale"]
            rows.append({
                "outcome": outcome_name(outcome), "dimension": subscale_name(dimension),
                "scale": scale_word(scale),
                "alone": _estimate(alone) if alone is not None else "NA",
                "joint": _estimate(joint) if joint is not None else "NA",
                "vif": format_number(joint["vif"], 1) if joint is not None else "NA",
                "share": _share(shares[dimension]) if dimension in shares else "NA",
                "alpha": _alpha_cell(alphas[dimension]) if dimension in alphas else "NA",
            })
    caveats += _no_reliability(result["outcomes"])
    # the alpha column only where some dimension has one (one item per dimension, as the SRS has, gives
    # none: `_no_reliability` says why once, instead of a column of NA)
    alpha = any(is_number(values["alpha"]) for detail in result["outcomes"].values()
                for values in detail.get("reliability", {}).get("dimensions", {}).values())
    # the share column only where some outcome has shares (H5c refused for every outcome, as with fewer than
    # 10 therapists, had left a column of NA; its reason is among the models not estimated)
    share = any(row["share"] != "NA" for row in rows)
    return {"sentences": sentences, "rows": rows, "latent": latent, "reliability": reliability,
            "differences": differences, "caveats": caveats, "not_estimated": not_estimated,
            "limit": format_unit(MIN_RELIABILITY), "none": "", "alpha": alpha, "share": share}


def _interval(ax, estimate: float, low: float, high: float, y: float, colour, marker: str) -> None:
    """An estimate and its interval (a percentile bootstrap interval need not contain the estimate)."""
    ax.plot([low, high], [y, y], color=colour, linewidth=1.5, solid_capstyle="butt")
    ax.plot([low, high], [y, y], linestyle="none", marker="|", markersize=7, color=colour)
    ax.plot([estimate], [y], linestyle="none", marker=marker, markersize=5, color=colour)


def dimension_figure(result: Mapping | None) -> Figure:
    """Per outcome, each dimension alone as r (95% CI; the outcome's own model, converted as the total's
    effects) and its share of what the three explain together (general dominance, 95% therapist-bootstrap
    CI), with the equal-share line at 1/3."""
    title = _("Bond, goals or tasks")
    effects = pd.DataFrame(result["effects"]) if result else pd.DataFrame()
    alone = effects[effects["part"] == "H5a"] if len(effects) else effects
    outcomes = list(dict.fromkeys(alone["outcome"])) if len(alone) else []
    if not outcomes:
        return message_figure(title, _("The alliance's dimensions could not be related to any outcome; the "
                                       "report says why."))
    colours = dict(zip(DIMENSIONS, sns.color_palette("colorblind", 3), strict=True))
    offsets = dict(zip(DIMENSIONS, (0.25, 0.0, -0.25), strict=True))
    positions = {outcome: len(outcomes) - 1 - i for i, outcome in enumerate(outcomes)}
    with figure_style():
        fig = new_figure(8, 1.8 + 0.9 * len(outcomes))
        left, right = fig.subplots(1, 2, sharey=True)
        fig.get_layout_engine().set(wspace=0.08)  # the panels' end ticks ("0.6", "0.0") apart, not touching
        for row in alone.itertuples():
            y = positions[row.outcome] + offsets[row.dimension]
            _interval(left, row.r, row.r_ci_low, row.r_ci_high, y, colours[row.dimension], "o")
        for outcome in outcomes:
            shares = {r["term"]: r for r in result["outcomes"][outcome].get("importance", {}).get("rows", [])}
            for dimension in DIMENSIONS:
                if dimension in shares:
                    s = shares[dimension]
                    _interval(right, s["estimate"], s["ci_low"], s["ci_high"],
                              positions[outcome] + offsets[dimension], colours[dimension], "s")
        left.axvline(0, color="0.2", linewidth=1)
        right.axvline(1 / 3, color="0.5", linewidth=1, linestyle="--")
        right.set_xlim(0, 1)
        left.set_yticks(list(positions.values()),
                        [outcome_name(o).capitalize() for o in positions])
        left.set_ylim(-0.6, len(outcomes) - 0.4)
        left.set(xlabel=_("r, each dimension alone\n(95% CI)"))
        right.set(xlabel=_("share of what the three explain\n(95% CI)"))
        fig.suptitle(title, fontsize=12, fontweight="bold")
        handles = [Line2D([], [], marker="o", linestyle="none", color=colours[d], label=subscale_name(d))
                   for d in DIMENSIONS]
        handles.append(Line2D([], [], color="0.5", linestyle="--", label=_("equal shares (1/3)")))
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize="small")
    return fig

