"""Figures: the CI helper, the content of each figure, privacy of trajectory points, byte-stable files."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from alliance.figures import (
    FIGURES,
    HIST_BINS,
    alliance_trajectories,
    forest_plot,
    make_figures,
    mean_ci,
    save_figure,
    subscale_distributions,
    trajectory_points,
)
from alliance.models.effects import dropout_benchmark_r
from alliance.scores import score_descriptives


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
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["A"]
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
    assert labels == ["attendance ~ alliance_early (primary)", "dropout ~ alliance_early (primary)",
                      "satisfaction ~ alliance_mean (primary)"]
    xs = [tuple(np.asarray(line.get_xdata(), dtype=float)) for line in ax.get_lines()]
    assert (0.0, 0.0) in xs
    assert (0.278, 0.278) in xs
    assert (pytest.approx(dropout_benchmark_r()),) in [tuple(x) for x in xs if len(x) == 1]


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


def test_save_figure_closes_a_pyplot_figure(tmp_path):
    fig = plt.figure()
    save_figure(fig, tmp_path / "f.png", tmp_path / "f.svg")
    assert not plt.fignum_exists(fig.number)


def test_make_figures_keys(sessions, features, effects, wai_sr):
    figures = make_figures(sessions, features, effects, wai_sr, min_cell_size=3)
    assert tuple(figures) == FIGURES
    assert all(isinstance(fig, Figure) for fig in figures.values())
