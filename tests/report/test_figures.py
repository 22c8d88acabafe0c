"""Figures: the CI helper, the content of each figure, privacy of trajectory points, byte-stable files."""

import math
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from figure_checks import layout_problems
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import ScalarFormatter, StrMethodFormatter

from alliance.i18n import use_language
from alliance.instruments import Instrument, load_instrument
from alliance.io import read_tables
from alliance.outputs import FIGURES
from alliance.report.figures import (
    HIST_BINS,
    alliance_trajectories,
    factor_loadings,
    figure_style,
    forest_plot,
    grouped_mean_ci,
    invariance_figure,
    item_distributions,
    kaplan_meier,
    make_figures,
    marginal_effects,
    mean_ci,
    new_figure,
    power_curve,
    reliability_by_sessions,
    rupture_trajectories,
    save_figure,
    save_figures,
    subscale_distributions,
    therapist_caterpillar,
    trajectory_points,
)
from alliance.report.style import decimal_comma, discipline_colours
from alliance.scoring.scores import score_descriptives


def session_rows(patient, session, total, attended=True):
    return {"patient_id": patient, "session": session, "attended": attended, "alliance_task": total,
            "alliance_bond": total, "alliance_goal": total, "alliance_total": total,
            "alliance_n_answered": 12, "alliance_prorated": False}


@pytest.fixture
def sessions():
    rows = [
        # discipline A: three patients at sessions 1 and 2, one at session 3
        session_rows("p1", 1, 3.0), session_rows("p2", 1, 4.0), session_rows("p3", 1, 5.0),
        session_rows("p1", 2, 3.5), session_rows("p2", 2, 4.5), session_rows("p3", 2, 4.0),
        session_rows("p1", 3, 4.0),
        # a missed session (ignored even with a score) and an unscored one
        session_rows("p2", 3, 1.0, attended=False), session_rows("p3", 3, float("nan")),
        # discipline B: two patients at session 1 only
        session_rows("q1", 1, 2.0), session_rows("q2", 1, 2.5),
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def features():
    return pd.DataFrame({"patient_id": ["p1", "p2", "p3", "q1", "q2"],
                         "discipline": ["A", "A", "A", "B", "B"]})


@pytest.fixture
def effects():
    return pd.DataFrame({
        "outcome": ["attendance", "dropout", "satisfaction"],
        "predictor": ["alliance_early", "alliance_early", "alliance_mean"],
        "model": ["binomial_glm_cluster_therapist", "logistic_glm_cluster_therapist",
                  "lmm_therapist_intercept"],
        "analysis": ["primary"] * 3,
        "r": [0.2, -0.25, 0.35], "r_ci_low": [0.15, -0.4, 0.25], "r_ci_high": [0.25, -0.1, 0.45],
    })


def test_mean_ci_by_hand():
    # mean 2.5, SD = sqrt(5/3), SE = SD / 2, t(0.975, 3) = 3.182446305284263
    mean, low, high = mean_ci([1, 2, 3, 4])
    half = 3.182446305284263 * math.sqrt(5 / 3) / 2
    assert mean == pytest.approx(2.5)
    assert low == pytest.approx(2.5 - half)
    assert high == pytest.approx(2.5 + half)


def test_mean_ci_small_samples():
    assert mean_ci([np.nan, 3.0])[0] == 3.0
    assert all(np.isnan(mean_ci([3.0])[1:]))
    assert all(np.isnan(mean_ci([])))


def test_trajectory_points_leave_out_small_cells(sessions, features):
    points = trajectory_points(sessions, features, min_cell_size=3)
    assert points[["discipline", "session"]].values.tolist() == [["A", 1], ["A", 2]]
    assert points["mean"].tolist() == pytest.approx([4.0, 4.0])
    assert points["n_patients"].tolist() == [3, 3]
    everything = trajectory_points(sessions, features, min_cell_size=1)
    # the missed session (score 1.0) and the unscored one are not counted
    assert everything.query("discipline == 'A' and session == 3")["n_patients"].tolist() == [1]
    assert everything.query("discipline == 'A' and session == 3")["mean"].tolist() == [4.0]


def test_alliance_trajectories_plot_only_reportable_points(sessions, features):
    fig = alliance_trajectories(sessions, features, min_cell_size=3)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len(lines) == 1  # discipline B has no session with 3 patients
    x, y = lines[0].get_xdata(), np.asarray(lines[0].get_ydata(), dtype=float)
    assert x[np.isfinite(y)].tolist() == [1, 2]
    (legend,) = fig.legends  # below the axes: a low or falling line fills the lower corners
    assert [t.get_text() for t in legend.get_texts()] == ["A"] and ax.get_legend() is None
    fig_all = alliance_trajectories(sessions, features, min_cell_size=1)
    assert len(fig_all.axes[0].get_lines()) == 2


def test_score_descriptives_by_hand(sessions, wai_sr):
    described = score_descriptives(sessions, wai_sr)
    assert described.index.tolist() == ["alliance_task", "alliance_bond", "alliance_goal", "alliance_total"]
    scored = [3.0, 4.0, 5.0, 3.5, 4.5, 4.0, 4.0, 2.0, 2.5]  # the missed and the unscored sessions excluded
    total = described.loc["alliance_total"]
    assert total["n"] == len(scored)
    assert total["mean"] == pytest.approx(np.mean(scored))
    assert total["sd"] == pytest.approx(np.std(scored, ddof=1))
    assert total["ceiling_share"] == pytest.approx(1 / 9)
    m2 = np.mean((np.array(scored) - np.mean(scored)) ** 2)
    m3 = np.mean((np.array(scored) - np.mean(scored)) ** 3)
    g1 = m3 / m2 ** 1.5
    assert total["skew"] == pytest.approx(g1 * math.sqrt(9 * 8) / 7)


def test_subscale_distributions_one_panel_per_score(sessions, wai_sr):
    fig = subscale_distributions(sessions, wai_sr)
    assert len(fig.axes) == len(wai_sr.subscales) + 1
    for ax in fig.axes:
        assert len(ax.patches) == HIST_BINS
        assert ax.get_xlim()[0] < wai_sr.minimum and ax.get_xlim()[1] > wai_sr.maximum
        assert any("at maximum: 11.1%" in t.get_text() for t in ax.texts)


def test_forest_plot_rows_benchmarks_and_zero_line(effects):
    fig = forest_plot(effects)
    (ax,) = fig.axes
    containers = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(containers) == len(effects)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["attendance ~ early alliance\n(primary; binomial GLM)",  # words, not code names
                      "dropout ~ early alliance\n(primary; logistic GLM)",
                      "satisfaction ~ mean alliance\n(primary; linear mixed model)"]
    xs = [tuple(np.asarray(line.get_xdata(), dtype=float)) for line in ax.get_lines()]
    assert (0.0, 0.0) in xs
    assert (0.278, 0.278) in xs
    # no dropout marker: its benchmark is another metric (compared in the report's sentences)
    assert not [line for line in ax.get_lines() if line.get_marker() == "D"]


def test_save_figure_is_byte_identical(tmp_path, effects):
    paths = []
    for run in ("a", "b"):
        png, svg = tmp_path / f"{run}.png", tmp_path / f"{run}.svg"
        save_figure(forest_plot(effects), png, svg)
        paths.append((png, svg))
    (png_a, svg_a), (png_b, svg_b) = paths
    assert png_a.read_bytes() == png_b.read_bytes()
    assert svg_a.read_bytes() == svg_b.read_bytes()
    assert png_a.read_bytes().startswith(b"\x89PNG")
    assert b"<dc:date>" not in svg_a.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a.svg", "b.png", "b.svg"]


def test_figures_rendered_in_two_processes_are_the_bytes_of_one(tmp_path, effects):
    """The report job's `save_figures` on its two threads: the same files as one after another, in the
    active language (the processes inherit it)."""
    for workers in (1, 2):
        with use_language("es"):
            by_sessions = pd.DataFrame({"sessions": [1, 2, 3], "reliability": [0.6, 0.75, 0.82]})
            figures = {"forest_plot": forest_plot(effects),
                       "reliability_by_sessions": reliability_by_sessions(by_sessions)}
            save_figures(figures, [tmp_path / str(workers) / f"{name}.png" for name in figures],
                         [tmp_path / str(workers) / f"{name}.svg" for name in figures], workers=workers)
    names = [f"{name}.{kind}" for name in ("forest_plot", "reliability_by_sessions")
             for kind in ("png", "svg")]
    for name in names:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name
    assert sorted(p.name for p in (tmp_path / "2").iterdir()) == names  # no temporary file left
    save_figure(forest_plot(effects), tmp_path / "en.png", tmp_path / "en.svg")  # so the language shows
    assert (tmp_path / "en.svg").read_bytes() != (tmp_path / "2" / "forest_plot.svg").read_bytes()


def test_a_figure_that_cannot_be_written_fails_the_parallel_save(tmp_path, effects):
    (tmp_path / "taken").write_text("a file where the figures' folder should be")
    figures = {"a": forest_plot(effects), "b": forest_plot(effects)}
    with pytest.raises(FileExistsError):
        save_figures(figures, [tmp_path / "a.png", tmp_path / "taken/b.png"],
                     [tmp_path / "a.svg", tmp_path / "taken/b.svg"], workers=2)


def test_save_figure_closes_a_pyplot_figure(tmp_path):
    fig = plt.figure()
    save_figure(fig, tmp_path / "f.png", tmp_path / "f.svg")
    assert not plt.fignum_exists(fig.number)


TOY = Instrument(key="toy", name="Toy scale", citation="", n_items=3, minimum=1, maximum=3,
                 reverse_keyed=(2,), subscales={"a": (1, 2), "b": (3,)}, score="mean",
                 total="mean_of_subscales", max_missing_per_subscale=0)


def figure_text(fig) -> str:
    """Every text of a figure (titles, labels, annotations, legends), joined."""
    return " | ".join(t.get_text() for t in fig.findobj(Text) if t.get_text())


def bar_widths(ax) -> list[float]:
    return [round(p.get_width(), 6) for c in ax.containers if isinstance(c, BarContainer) for p in c]


@pytest.fixture
def distribution():
    return pd.DataFrame({"item": ["toy_01", "toy_01", "toy_02", "toy_02", "toy_03"],
                         "value": [1, 3, 1, 2, 2], "n": [1, 4, 2, 2, 3],
                         "share": [0.2, 0.8, 0.5, 0.5, 1.0]})


@pytest.fixture
def item_stats():
    # ceiling after reverse keying: toy_02 answered 1 by half the patients
    return pd.DataFrame({"item": ["toy_01", "toy_02", "toy_03"], "subscale": ["a", "a", "b"],
                         "ceiling_share": [0.8, 0.5, 0.0]})


@pytest.fixture
def parameters():
    rows = [("correlated_factors", "loading", "a", "toy_01", 0.7),
            ("correlated_factors", "loading", "a", "toy_02", 0.6),
            ("correlated_factors", "loading", "b", "toy_03", 0.9),
            ("correlated_factors", "factor_correlation", "a", "b", 0.5),
            ("one_factor", "loading", "general", "toy_01", 0.65),
            ("one_factor", "loading", "general", "toy_02", 0.55),
            ("one_factor", "loading", "general", "toy_03", 0.4)]
    return pd.DataFrame(rows, columns=["model", "kind", "factor", "item", "std_loading"])


@pytest.fixture
def by_sessions():
    return pd.DataFrame({"sessions": [1, 2, 3], "reliability": [0.6, 0.75, 0.818], "session_icc": 0.6})


@pytest.fixture
def ruptures():
    def rows(patient, totals, rupture_at=(), repair=None):
        return [{"patient_id": patient, "session": s, "alliance_total": t, "rupture": s in rupture_at,
                 "repaired": s in rupture_at and repair is not None,
                 "repair_session": repair if s in rupture_at else None}
                for s, t in enumerate(totals, start=1)]
    table = pd.DataFrame(rows("R1", [4, 4.5, 3, 4.6], rupture_at=(3,), repair=4)
                         + rows("R2", [4, 4.2, 3, 3.1], rupture_at=(3,))
                         + rows("N3", [4, 4.1, 4.2]) + rows("N1", [3, 3.1, 3.2]) + rows("N2", [2, 2, 2]))
    return table.astype({"patient_id": "string", "repair_session": "Int64"})


@pytest.fixture
def patterns():
    return pd.DataFrame({"patient_id": ["N1", "N2", "N3", "R1", "R2", "X1"],
                         "rupture_pattern": ["no_rupture"] * 3 + ["rupture_with_repair",
                                             "rupture_without_repair", "not_classifiable"]})


def test_item_distributions_stacked_shares_by_subscale(distribution, item_stats):
    fig = item_distributions(distribution, item_stats, TOY)
    panels = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert [ax.get_title(loc="left") for ax in panels] == ["a", "b"]
    first, second = panels
    # one bar series per answer value 1, 2, 3; items in order within each
    assert bar_widths(first) == [0.2, 0.5, 0.0, 0.5, 0.8, 0.0]
    assert bar_widths(second) == [0.0, 1.0, 0.0]
    assert [t.get_text() for t in first.get_yticklabels()] == ["toy_01", "toy_02 (R)"]
    assert [t.get_text() for t in first.texts] == ["80%", "50%", "at max."]
    assert [t.get_text() for t in second.texts] == ["0%"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["1", "2", "3"]


@pytest.mark.parametrize("empty", ["distribution", "both"])
def test_item_distributions_without_item_data(empty, item_stats):
    no_rows = pd.DataFrame(columns=["item", "value", "n", "share"])
    fig = (item_distributions(no_rows, item_stats, TOY) if empty == "distribution"
           else item_distributions(pd.DataFrame(), pd.DataFrame(), TOY))
    assert isinstance(fig, Figure)
    assert "were not available" in figure_text(fig)
    assert not any(ax.axison for ax in fig.axes)


def test_factor_loadings_two_models_and_factor_correlations(parameters):
    fig = factor_loadings(parameters)
    (ax,) = fig.axes
    correlated, one = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [round(p.get_width(), 6) for p in correlated] == [0.7, 0.6, 0.9]
    assert [round(p.get_width(), 6) for p in one] == [0.65, 0.55, 0.4]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["toy_01 (a)", "toy_02 (a)", "toy_03 (b)"]
    assert "Factor correlations: a-b .50" in ax.get_title()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["correlated factors", "one factor"]


@pytest.mark.parametrize("code", ["en", "es", "ca"])
def test_negative_numbers_in_figure_text_have_the_minus_sign_of_the_ticks(parameters, code):
    """A negative loading and factor correlation written into the figure read "−.30" (U+2212, as
    matplotlib's tick labels), never "-.30" with a hyphen-minus; the factor pair "a-b" keeps its hyphen."""
    negative = parameters.copy()
    negative.loc[1, "std_loading"] = -0.3
    negative.loc[3, "std_loading"] = -0.5
    with use_language(code):
        fig = factor_loadings(negative)
    (ax,) = fig.axes
    texts = [t.get_text() for t in ax.texts] + [ax.get_title()]
    written = " ".join(texts)
    assert re.search(r"-[\d.,]", written) is None, written
    minus = "−.30" if code == "en" else "−0,30"
    assert minus in [t.get_text() for t in ax.texts]
    assert ("a-b −.50" if code == "en" else "−0,50") in ax.get_title()


def test_factor_loadings_one_factor_only_and_empty(parameters):
    fig = factor_loadings(parameters[parameters["model"] == "one_factor"])
    (ax,) = fig.axes
    assert bar_widths(ax) == [0.65, 0.55, 0.4]
    assert ax.get_title() == ""
    assert [t.get_text() for t in ax.get_yticklabels()] == ["toy_01", "toy_02", "toy_03"]
    for empty in (pd.DataFrame(), parameters[parameters["kind"] == "factor_correlation"]):
        assert "No factor model was fitted" in figure_text(factor_loadings(empty))


def test_reliability_by_sessions_curve_and_guides(by_sessions):
    fig = reliability_by_sessions(by_sessions)
    (ax,) = fig.axes
    curve, *guides = ax.get_lines()
    assert list(curve.get_xdata()) == [1, 2, 3]
    assert list(curve.get_ydata()) == [0.6, 0.75, 0.818]
    assert sorted(line.get_ydata()[0] for line in guides) == [0.8, 0.9]
    assert [t.get_text() for t in ax.texts] == [" .80", " .90"]
    assert ax.get_ylim() == pytest.approx((0.5, 1.0))


def test_reliability_by_sessions_not_estimated(by_sessions):
    fig = reliability_by_sessions(by_sessions.assign(reliability=np.nan))
    assert "could not be estimated" in figure_text(fig)
    why = "one session per patient: the patient variance cannot be told apart"
    fig = reliability_by_sessions(by_sessions.assign(reliability=np.nan, session_icc=np.nan, reason=why))
    assert why in figure_text(fig).replace("\n", " ") and "nan" not in figure_text(fig)


def test_rupture_trajectories_first_patients_of_each_pattern(ruptures, patterns):
    fig = rupture_trajectories(ruptures, patterns, synthetic=True)
    shown = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in shown] == ["R1: rupture with repair", "R2: rupture without repair",
                                                "N1: no rupture", "N2: no rupture"]
    r1, r2, n1, _ = shown
    trajectory, rupture, repair = r1.get_lines()
    assert list(trajectory.get_xdata()) == [1, 2, 3, 4]
    assert list(rupture.get_xdata()) == [3] and list(rupture.get_ydata()) == [3]
    assert list(repair.get_xdata()) == [4] and list(repair.get_ydata()) == [4.6]
    assert rupture.get_marker() != repair.get_marker()
    assert [len(line.get_xdata()) for line in r2.get_lines()] == [4, 1, 0]
    assert [len(line.get_xdata()) for line in n1.get_lines()] == [3, 0, 0]
    assert "N3" not in figure_text(fig) and "X1" not in figure_text(fig)


def test_rupture_trajectories_not_for_real_data(ruptures, patterns):
    fig = rupture_trajectories(ruptures, patterns, synthetic=False)
    assert "not shown for real data" in figure_text(fig)
    assert not any(ax.get_lines() for ax in fig.axes)
    assert not any(pid in figure_text(fig) for pid in patterns["patient_id"])


def test_rupture_trajectories_without_classified_patients(ruptures, patterns):
    fig = rupture_trajectories(ruptures, patterns.assign(rupture_pattern="not_classifiable"), synthetic=True)
    assert "could be classified" in figure_text(fig)


def test_read_tables_empty_files(tmp_path):
    (tmp_path / "agreement.csv").write_text("\n")
    (tmp_path / "notes.csv").write_text("note\n")
    (tmp_path / "icc.csv").write_text("icc,n\n0.1,4\n")
    tables = read_tables(sorted(tmp_path.iterdir()))
    assert sorted(tables) == ["agreement", "icc", "notes"]
    assert tables["agreement"].empty and list(tables["agreement"].columns) == []
    assert tables["notes"].empty and list(tables["notes"].columns) == ["note"]
    assert tables["icc"].to_dict("records") == [{"icc": 0.1, "n": 4}]


def test_new_figures_are_byte_identical(tmp_path, distribution, item_stats, ruptures, patterns):
    draws = {"items": lambda: item_distributions(distribution, item_stats, TOY),
             "trajectories": lambda: rupture_trajectories(ruptures, patterns, synthetic=True)}
    for name, draw in draws.items():
        for run in ("a", "b"):
            save_figure(draw(), tmp_path / f"{name}{run}.png", tmp_path / f"{name}{run}.svg")
        for ext in ("png", "svg"):
            assert (tmp_path / f"{name}a.{ext}").read_bytes() == (tmp_path / f"{name}b.{ext}").read_bytes()


def test_make_figures_keys(sessions, features, effects, wai_sr, parameters, by_sessions, ruptures):
    psychometrics = {"item_distribution": pd.DataFrame(), "item_statistics": pd.DataFrame(),
                     "cfa_parameters": parameters, "reliability_by_sessions": by_sessions}
    models = {"dropout": {"extra": {"kaplan_meier": KM_CURVES.to_dict(orient="records"), "logrank": LOGRANK}}}
    features = features.assign(rupture_pattern="no_rupture", therapist_id="T1",
                               alliance_mean=[3.0, 4.0, 5.0, 2.0, 2.5])
    figures = make_figures(sessions, features, effects, instrument=wai_sr, satisfaction=CSQ8, min_cell_size=3,
                           psychometrics=psychometrics, ruptures=ruptures, synthetic=False, models=models)
    assert tuple(figures) == FIGURES
    assert all(isinstance(fig, Figure) for fig in figures.values())
    assert {name: size for name, fig in figures.items() if (size := smallest_printed_size(fig)) < 7} == {}


# The printed report (templates/report.html, @page: A4, 12 mm side margins) is 186 mm wide; a figure wider
# than that is scaled down to fit, and its text with it.
PRINT_WIDTH_IN = 186 / 25.4


def smallest_printed_size(figure: Figure) -> float:
    """The smallest visible text of a figure in points once printed in the report."""
    scale = min(1.0, PRINT_WIDTH_IN / figure.get_size_inches()[0])
    return scale * min(text.get_fontsize() for text in figure.findobj(Text)
                       if text.get_visible() and text.get_text().strip())


def test_three_predicted_outcome_panels_are_readable_in_print_in_every_language():
    """The widest figure (three panels): no text below 7 pt in print, nothing cut off, in English,
    Spanish and Catalan (whose labels run longer)."""
    marginal = [{"alliance": a, "prediction": 0.5, "ci_low": 0.4, "ci_high": 0.6} for a in (3.0, 4.0, 5.0)]
    models = {family: {"extra": {"marginal": [dict(row, outcome=outcome, scale=scale, predictor=predictor)
                                             for row in marginal]}}
              for family, outcome, scale, predictor in (
                  ("adherence", "attendance", "probability", "alliance_early"),
                  ("dropout", "dropout", "probability", "alliance_early"),
                  ("satisfaction", "satisfaction", "points", "alliance_mean"))}
    for code in ("en", "es", "ca"):
        with use_language(code):
            figure = marginal_effects(models)
        assert len([ax for ax in figure.axes if ax.get_title()]) == 3
        assert smallest_printed_size(figure) >= 7 and layout_problems(figure) == [], code
        plt.close(figure)
    wide = new_figure(20, 4)
    wide.suptitle("x", fontsize=10)
    assert smallest_printed_size(wide) < 7  # the check can fail: 10 pt on a 20-inch figure prints at 3.7


CSQ8 = load_instrument("csq8")
KM_CURVES = pd.DataFrame({
    "tertile": ["low"] * 3 + ["middle"] * 3 + ["high"] * 3,
    "sessions_after_window": [0, 1, 2] * 3,
    "at_risk": [12, 12, 4, 12, 12, 11, 12, 12, 12],
    "survival": [1, 0.9, 0.8, 1, 0.95, 0.9, 1, 1, 0.97],
    "ci_low": [1, 0.8, 0.6, 1, 0.85, 0.8, 1, 1, 0.9],
    "ci_high": [1, 0.95, 0.9, 1, 0.99, 0.95, 1, 1, 0.99],
})
LOGRANK = {"statistic": 5.2, "df": 2, "p_value": 0.074, "n_patients": 36, "events": 4}


def test_kaplan_meier_curves_stop_below_the_minimum_at_risk():
    fig = kaplan_meier(KM_CURVES, LOGRANK, min_cell_size=10)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["low tertile", "middle tertile", "high tertile"]
    assert [len(line.get_xdata()) for line in lines] == [2, 3, 3]  # low: 4 at risk at session 2
    assert "log-rank χ²(2) = 5.20, p = .074" in " ".join(t.get_text() for t in fig.axes[0].texts)
    # p as the report writes it (APA: three decimals, "p < .001"), not three significant digits (0.00241)
    for p_value, shown in ((0.00241, "p = .002"), (0.00002, "p < .001")):
        small = kaplan_meier(KM_CURVES, LOGRANK | {"p_value": p_value}, min_cell_size=10)
        assert f"5.20, {shown}; curves end" in " ".join(t.get_text() for t in small.axes[0].texts)
    empty = kaplan_meier(KM_CURVES, LOGRANK, min_cell_size=50)
    assert "Too few patients" in " ".join(t.get_text() for t in empty.texts + empty.axes[0].texts)


@pytest.mark.parametrize("survival", [1.0, 0.0], ids=["nobody dropped out", "everyone dropped out"])
def test_kaplan_meier_legend_and_test_never_cover_the_curves(survival):
    """The legend and the log-rank test sit outside the axes: the curves can fill the top (nobody left) or
    the bottom (everyone left) of them. With everyone dropping out the legend in the lower right covered
    the curves."""
    steps = np.linspace(1, survival, 5)
    curves = pd.DataFrame({"tertile": np.repeat(["low", "middle", "high"], 5),
                           "sessions_after_window": np.tile(np.arange(5), 3), "at_risk": 12,
                           "survival": np.tile(steps, 3), "ci_low": np.tile(steps * 0.9, 3),
                           "ci_high": np.tile(np.minimum(steps * 1.1, 1), 3)})
    fig = kaplan_meier(curves, LOGRANK, min_cell_size=10)
    assert layout_problems(fig) == [] and fig.axes[0].get_legend() is None and len(fig.legends) == 1


def test_therapist_caterpillar_hides_small_therapists():
    features = pd.DataFrame({"therapist_id": ["T1"] * 4 + ["T2"] * 4 + ["T3"] * 2,
                             "alliance_mean": [3.0, 3.5, 4.0, 4.5, 2.0, 2.5, 3.0, 3.5, 5.0, 5.0]})
    fig = therapist_caterpillar(features, min_cell_size=3)
    ax = fig.axes[0]
    (points,) = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert sorted(points.get_xdata()) == [2.75, 3.75]  # T3 (2 patients) is not drawn
    assert "2 therapists with at least 3 patients shown; 1 with fewer are not shown." in [
        t.get_text() for t in ax.texts]
    assert ax.get_yticks().size == 0  # therapists are not named
    assert "nothing is shown" in therapist_caterpillar(features, min_cell_size=5).axes[0].texts[0].get_text()


def test_marginal_effects_one_panel_per_model():
    grid = pd.DataFrame({"outcome": "dropout", "predictor": "alliance_early", "alliance": [3.0, 4.0],
                         "alliance_z": [-1.0, 1.0], "prediction": [0.3, 0.1], "ci_low": [0.2, 0.05],
                         "ci_high": [0.4, 0.2], "scale": "probability", "reference": "none"})
    models = {"dropout": {"extra": {"marginal": grid.to_dict(orient="records")}},
              "satisfaction": {"extra": {"marginal": grid.assign(outcome="satisfaction", scale="points")
                                         .to_dict(orient="records")}},
              "symptoms": {"extra": {}}}
    fig = marginal_effects(models)
    assert len(fig.axes) == 2
    assert list(fig.axes[0].get_lines()[0].get_ydata()) == [0.3, 0.1]
    assert [ax.get_title() for ax in fig.axes] == ["Dropout", "Satisfaction"]
    assert len(marginal_effects({}).axes) == 1  # a message figure


def test_figures_without_anything_to_draw_say_why(sessions, features, effects, wai_sr):
    assert "nothing is shown" in figure_text(alliance_trajectories(sessions, features, min_cell_size=4))
    unscored = sessions.assign(attended=False)
    assert "No attended session has an alliance score" in figure_text(subscale_distributions(unscored,
                                                                                              wai_sr))
    assert "No alliance effect could be estimated" in figure_text(forest_plot(effects.iloc[:0]))


def test_subscale_distributions_skew_not_estimable_with_two_sessions(sessions, wai_sr):
    text = figure_text(subscale_distributions(sessions.iloc[:2], wai_sr))
    assert "skew: not estimable" in text and "nan" not in text.lower()


def test_model_figures_give_the_models_reasons():
    statuses = [{"key": "H2", "status": "not_estimable", "reason": "no patient dropped out", "flags": ""},
                {"key": "H2c", "status": "not_estimable", "reason": "no patient dropped out after the "
                                                                     "early window", "flags": ""}]
    models = {"dropout": {"extra": {}, "statuses": statuses},
              "adherence": {"extra": {}, "statuses": [{"key": "H1", "status": "not_estimable",
                                                       "reason": "attendance takes a single value"}]}}
    text = figure_text(marginal_effects(models)).replace("\n", " ")
    assert "No primary model could be fitted (adherence: attendance takes a single value; dropout: no " \
           "patient dropped out)." in text
    figures = make_figures(pd.DataFrame(columns=["patient_id", "session", "attended", "alliance_total"]),
                           pd.DataFrame(columns=["patient_id", "discipline", "therapist_id", "alliance_mean",
                                                 "rupture_pattern"]),
                           pd.DataFrame(columns=["outcome", "predictor", "model", "analysis", "r", "r_ci_low",
                                                 "r_ci_high"]),
                           instrument=TOY, satisfaction=CSQ8, min_cell_size=5,
                           psychometrics={"item_distribution": pd.DataFrame(),
                                          "item_statistics": pd.DataFrame(),
                                          "cfa_parameters": pd.DataFrame(),
                                          "reliability_by_sessions": pd.DataFrame()},
                           ruptures=pd.DataFrame(), synthetic=False, models=models)
    assert "could not be estimated: no patient dropped out after the early window." in figure_text(
        figures["kaplan_meier"]).replace("\n", " ")
    assert all("nan" not in figure_text(fig).lower() for fig in figures.values())


def test_grouped_mean_ci_equals_mean_ci_per_group():
    values = pd.Series([1.0, 2.0, 4.0, 3.0, np.nan, 5.0, 6.0])
    keys = pd.Series(["b", "b", "b", "a", "a", "c", "c"])
    table = grouped_mean_ci(values, keys)
    assert list(table.index) == ["a", "b", "c"] and table["n"].tolist() == [1, 3, 2]
    for key, row in table.iterrows():
        expected = mean_ci(values[keys == key])
        assert [row["mean"], row["ci_low"], row["ci_high"]] == pytest.approx(list(expected), nan_ok=True)
    assert np.isnan(table.loc["a", "ci_low"])  # one value: no interval


def test_the_layout_check_finds_cut_text_and_a_legend_over_data():
    with figure_style():
        fig = new_figure(4, 3)
        ax = fig.add_subplot()
        ax.plot(np.linspace(0, 1, 50), np.full(50, 0.5), label="a line across the middle")
        assert layout_problems(fig) == []
        ax.legend(loc="center")
        fig.text(0.95, 0.5, "a note that runs off the figure")
        cut = "cut off at the figure's edge: text 'a note that runs off the figure'"
        assert layout_problems(fig) == [cut, "legend over data in 'an axes'"]


def test_the_histogram_bars_at_the_scale_ends_stand_clear_of_the_frame(sessions, wai_sr):
    fig = subscale_distributions(sessions, wai_sr)
    assert layout_problems(fig) == []
    for ax in fig.axes:
        left, right = ax.get_xlim()
        assert left < min(bar.get_x() for bar in ax.patches)
        assert max(bar.get_x() + bar.get_width() for bar in ax.patches) < right


# ---- Figures in another language: words translated, tick labels with a decimal comma -------------------


def tick_texts(ax, axis="x") -> list[str]:
    """The drawn tick labels of one axis of `ax` (the figure drawn first)."""
    ax.figure.canvas.draw()
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [label.get_text() for label in labels if label.get_text()]


def test_a_spanish_figure_has_spanish_words_and_decimal_commas(effects):
    with use_language("es"):
        fig = forest_plot(effects)
    (ax,) = fig.axes  # drawn outside the block: the figure keeps the language it was made in
    assert ax.get_title() == "Efectos de la alianza como correlaciones"
    assert ax.get_xlabel() == "r (IC del 95\u00a0%)"
    assert ax.get_yticklabels()[0].get_text() == "asistencia ~ alianza temprana\n(principal; GLM binomial)"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[0].startswith("alianza-resultado r = 0,278 [0,256; 0,299]\n(Flückiger")
    assert legend[1] == "estimación (IC del 95\u00a0%)"
    ticks = tick_texts(ax)
    assert "0,2" in ticks and "\u22120,4" in ticks  # a decimal comma, the minus sign kept
    assert not any("." in tick for tick in ticks)


def test_an_english_figure_is_unchanged(effects):
    fig = forest_plot(effects)
    assert type(fig) is Figure  # a plain figure: the files stay byte-identical to before
    (ax,) = fig.axes
    assert ax.get_title() == "Alliance effects as correlations" and ax.get_xlabel() == "r (95% CI)"
    ticks = tick_texts(ax)
    assert "0.2" in ticks and not any("," in tick for tick in ticks)
    assert fig.legends[0].get_texts()[0].get_text().startswith("alliance-outcome r = .278 [.256, .299]")


def test_percent_axes_in_catalan_and_spanish(distribution, item_stats):
    grid = pd.DataFrame({"outcome": "dropout", "predictor": "alliance_early", "alliance": [3.0, 4.0],
                         "alliance_z": [-1.0, 1.0], "prediction": [0.3, 0.1], "ci_low": [0.2, 0.05],
                         "ci_high": [0.4, 0.2], "scale": "probability", "reference": "none"})
    with use_language("ca"):
        fig = marginal_effects({"dropout": {"extra": {"marginal": grid.to_dict(orient="records")}}})
    (ax,) = fig.axes
    assert ax.get_title() == "Abandonament"
    assert ax.get_ylabel() == "Probabilitat predita\nd'abandonament\ndesprés de la finestra inicial"
    assert "20,0\u00a0%" in tick_texts(ax, "y") and "3,4" in tick_texts(ax)
    with use_language("es"):
        fig = item_distributions(distribution, item_stats, TOY)
        ticks = tick_texts(fig.axes[-1])
    assert ticks[:2] == ["0\u00a0%", "20\u00a0%"]
    assert fig.axes[-1].get_xlabel().startswith("Proporción de respuestas")
    assert [t.get_text() for t in fig.axes[0].texts] == ["80\u00a0%", "50\u00a0%", "en máx."]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["1", "2", "3"]
    assert layout_problems(fig) == []


def test_log_axes_and_any_numeric_formatter_get_the_decimal_comma():
    with use_language("es"), figure_style():
        fig = new_figure(4, 3)
        ax = fig.add_subplot()
        ax.plot([0.1, 0.5, 10], [0.25, 0.5, 0.75])
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())  # a log axis labelled 0.1, 1, 10
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:.2f}"))
        ax.set_yticks([0.25, 0.5, 0.75], minor=False)
    assert {"0,10", "1,00", "10,00"} <= set(tick_texts(ax))
    assert not any("." in tick for tick in tick_texts(ax))
    assert tick_texts(ax, "y") == ["0,25", "0,50", "0,75"]
    # the default log formatter writes mathtext: its comma is braced (no space after it)
    assert decimal_comma("$\\mathdefault{2.5\\times10^{-1}}$") == "$\\mathdefault{2{,}5\\times10^{-1}}$"
    assert decimal_comma("12.5%") == "12,5\u00a0%" and decimal_comma("\u22120.4") == "\u22120,4"
    # tick labels given as text are not numbers: left as they are
    with use_language("es"):
        fig = new_figure(4, 3)
        ax = fig.add_subplot()
        ax.set_xticks([0, 1], ["v1.2", "Dr. X"])
    assert tick_texts(ax) == ["v1.2", "Dr. X"]


def test_save_figure_localises_a_figure_made_elsewhere(tmp_path):
    fig = plt.figure()
    fig.add_subplot().plot([0, 0.5, 1], [0, 0.5, 1])
    with use_language("ca"):
        save_figure(fig, tmp_path / "f.png", tmp_path / "f.svg")
    assert "0,4" in [label.get_text() for label in fig.axes[0].get_xticklabels()]  # as drawn in the files
    english = plt.figure()
    english.add_subplot().plot([0, 0.5, 1], [0, 0.5, 1])
    save_figure(english, tmp_path / "e.png", tmp_path / "e.svg")
    assert "0.4" in [label.get_text() for label in english.axes[0].get_xticklabels()]


def test_spanish_figures_say_why_in_spanish(sessions, features, effects, wai_sr):
    with use_language("es"):
        empty = alliance_trajectories(sessions, features, min_cell_size=4)
        subscales = subscale_distributions(sessions, wai_sr)
        km = kaplan_meier(KM_CURVES, LOGRANK, min_cell_size=10)
    assert "no se muestra nada" in figure_text(empty)
    assert subscales.get_suptitle() == ("Inventario de Alianza de Trabajo, versión breve revisada (WAI-SR)\n"
                                        "9 sesiones puntuadas")
    assert [ax.get_xlabel() for ax in subscales.axes] == ["tareas", "vínculo", "objetivos", "total"]
    assert any("en el máximo: 11,1\u00a0%" in t.get_text() for t in subscales.axes[0].texts)
    assert [line.get_label() for line in km.axes[0].get_lines()] == ["tercil bajo", "tercil medio",
                                                                     "tercil alto"]
    assert "log-rank χ²(2) = 5,20, p = 0,074; las curvas terminan con menos de 10 pacientes en riesgo" in [
        t.get_text() for t in km.axes[0].texts]
    assert "0,8" in tick_texts(km.axes[0], "y")


@pytest.mark.parametrize("code", ["en", "es"])
@pytest.mark.parametrize("outcomes", [["attendance"], ["attendance", "dropout"],
                                      ["attendance", "dropout", "satisfaction"]])
@pytest.mark.parametrize("therapists", [(32,), (16, 32)])
def test_the_power_curve_fits_its_title_and_legend(code, outcomes, therapists):
    """One to three panels, one or two numbers of therapists, a null condition: nothing cut off (a single
    panel used to cut off the title and the legend)."""
    performance = pd.DataFrame([
        {"condition": f"n{n}_e{e}", "patients": n, "therapists": t, "effect_scale": e, "outcome": outcome,
         "model": "logit_gee", "predictor": "alliance_early", "analysis": "primary", "power": 0.5,
         "power_mcse": 0.02, "n_reps": 500}
        for outcome in outcomes for n in (200, 400) for e in (0.0, 1.0) for t in therapists])
    with use_language(code):
        figure = power_curve(performance)
    assert layout_problems(figure) == []
    plt.close(figure)


def test_invariance_figure_shows_each_disciplines_loadings_and_intercepts():
    items = [f"wai_sr_{i}" for i in (3, 5, 7, 9)]
    rows = [("discipline", group, "bond", item, 1.0 if item == items[0] else 0.9, 4.1 + (0.8 if
             group == "physiotherapy" and item == items[2] else 0.0))
            for group in ("psychotherapy", "physiotherapy") for item in items]
    parameters = pd.DataFrame(rows, columns=["grouping", "group", "factor", "item", "loading", "intercept"])
    fig = invariance_figure(parameters)
    left, right = fig.axes[:2]
    assert [t.get_text() for t in left.get_yticklabels()] == [f"{item} (bond)" for item in items]
    shifted = [line.get_xdata()[0] for line in right.get_lines()]
    assert max(shifted) == pytest.approx(4.9) and len(shifted) == 8
    assert layout_problems(fig) == []
    empty = invariance_figure(parameters.iloc[:0])
    assert "not fitted" in " ".join(text.get_text() for text in empty.axes[0].texts)
    # a discipline has one colour in every figure: here and in the trajectories, whichever others it shows
    # (psychotherapy was blue in one and vermilion in the other)
    colour = {line.get_label(): line.get_color() for line in left.get_lines()}
    assert colour["psychotherapy"] == discipline_colours()["psychotherapy"]
    assert colour["physiotherapy"] == discipline_colours(["A"])["physiotherapy"]
    sessions = pd.DataFrame({"patient_id": ["p1", "p2", "p3"] * 2, "session": [1] * 3 + [2] * 3,
                             "attended": 1, "alliance_total": [4.0, 4.2, 3.8] * 2})
    features = pd.DataFrame({"patient_id": ["p1", "p2", "p3"], "discipline": "physiotherapy"})
    (line,) = alliance_trajectories(sessions, features, min_cell_size=3).axes[0].get_lines()
    assert line.get_color() == colour["physiotherapy"]


def test_item_distributions_of_a_long_keyed_seven_point_form_keep_their_axis_label():
    """A reviewer's own 12-item 1-7 form (keys `wai_s_custom_NN`, two reverse-keyed items): the label under
    the bars ran past the figure's right edge."""
    form = Instrument(key="wai_s_custom", name="Custom WAI-S-like form", citation="", n_items=12, minimum=1,
                      maximum=7, reverse_keyed=(4, 10), score="mean", total="mean_of_subscales",
                      subscales={"goal": (1, 4, 8, 11), "bond": (2, 5, 7, 9), "task": (3, 6, 10, 12)},
                      max_missing_per_subscale=0)
    items = [form.item_column(i) for subscale in form.subscales.values() for i in subscale]
    stats = pd.DataFrame({"item": items, "subscale": [name for name, members in form.subscales.items()
                                                     for _member in members], "ceiling_share": 0.3})
    answers = pd.DataFrame([{"item": item, "value": value, "n": 10, "share": 1 / 7}
                            for item in items for value in range(1, 8)])
    assert layout_problems(item_distributions(answers, stats, form)) == []
