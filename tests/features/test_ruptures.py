"""Rupture detection and rupture-repair patterns: hand-computed trajectories and planted ruptures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance.features.ruptures import (
    LARSSON_2018,
    MIN_PRIOR_DIFFERENCES,
    detect_ruptures,
    pattern_shares,
    rupture_patterns,
    score_detection,
)
from alliance.instruments import load_instrument
from alliance.scoring.scores import score_sessions
from alliance.simulation.synthetic import generate_cohort


def trajectories(totals: dict[str, list[float | None]], missed: tuple = ()) -> pd.DataFrame:
    """Sessions 1..n per patient; (patient, session) pairs in `missed` were not attended."""
    rows = [(p, i, (p, i) not in missed, t) for p, ts in totals.items() for i, t in enumerate(ts, 1)]
    return pd.DataFrame(rows, columns=["patient_id", "session", "attended", "alliance_total"])


HAND = trajectories({
    # scored 4, 4, 4, 2, 3, 4, 4, 4 (session 5 missed): mean 3.625, sum of squares 3.875
    "repaired": [4, 4, 4, 2, None, 3, 4, 4, 4],
    # 4 x 8, 2 x 2: mean 3.6, sum of squares 6.4
    "never": [4, 4, 4, 4, 4, 4, 4, 4, 2, 2],
    # 4 x 10, 2 x 4, 4: mean 52/15, sum of squares 11 (8/15)^2 + 4 (22/15)^2 = 2640/225;
    # back to 4 only at the 4th scored session after the drop
    "late": [4] * 10 + [2] * 4 + [4],
    "two_sessions": [4, 1],
    "stable": [4, 4, 4],
}, missed={("repaired", 5)})


def by_session(result: pd.DataFrame, patient: str) -> pd.DataFrame:
    return result[result["patient_id"] == patient].set_index("session")


# Two calm patients: 8 session-to-session differences of +-0.5 around mean 0, so the pooled SD of the
# other patients' detrended differences is sqrt(8 * 0.25 / 7) = 0.5345 and c = 2 asks for a drop of 1.069.
CALM = {"calm1": [4, 4.5, 4, 4.5, 4], "calm2": [3, 3.5, 3, 3.5, 3]}
POOLED_2 = 2 * np.sqrt(2 / 7)


def test_prior_diff_drop_against_the_pooled_sd_by_hand():
    """Before `MIN_PRIOR_DIFFERENCES` earlier differences the threshold is c x the pooled SD alone."""
    r = by_session(detect_ruptures(trajectories(CALM | {"Q": [4, 4.1, 3.0, 3.5, 2.5]}), c=2.0), "Q")
    assert r["drop"].tolist() == pytest.approx([np.nan, -0.1, 1.1, -0.5, 1.0], nan_ok=True)
    assert r["threshold"].to_numpy() == pytest.approx(POOLED_2)  # 1.069 at every session
    assert r.index[r["rupture"]].tolist() == [3]  # 1.1 passes, 1.0 does not
    assert not r["repaired"].any()  # never back to 4.1 (the pre-rupture value)


def test_prior_diff_own_sd_enters_after_the_minimum_of_earlier_differences():
    """Drops of 1.2 pass the pooled threshold (1.069) while fewer than 5 earlier differences exist; at
    session 7 the 5 earlier ones (-1.2, 1.2, -1.2, 1.2, -1.2 as drops: mean -0.24, sum of squares
    3 * 0.96^2 + 2 * 1.44^2 = 6.912) give SD sqrt(6.912 / 4) = 1.315, so the same drop needs 2.629."""
    assert MIN_PRIOR_DIFFERENCES == 5
    r = by_session(detect_ruptures(trajectories(CALM | {"P": [3, 4.2, 3, 4.2, 3, 4.2, 3]}), c=2.0), "P")
    assert r["threshold"].loc[:6].to_numpy() == pytest.approx(POOLED_2)
    assert r.loc[7, "threshold"] == pytest.approx(2 * np.sqrt(6.912 / 4))
    assert r.index[r["rupture"]].tolist() == [3, 5]
    assert r.loc[[3, 5], "repaired"].all() and r.loc[[3, 5], "repair_session"].tolist() == [4, 6]


def test_only_the_sd_criterion_looks_ahead():
    """4 x 6 then 2.5: a drop of 1.5 at session 7. With the patient's first 7 sessions the SD criterion
    flags it (SD of the levels 0.567, threshold 1.134); six more sessions at 2.5 raise that SD to 0.783
    (threshold 1.567) and the same drop no longer counts. prior_diff flags it either way (own earlier
    differences all 0, so the pooled 1.069 decides)."""
    full = trajectories(CALM | {"P": [4] * 6 + [2.5] * 6})
    early = full[(full["patient_id"] != "P") | (full["session"] <= 7)]
    assert by_session(detect_ruptures(early, criterion="sd"), "P").loc[7, "rupture"]
    assert not by_session(detect_ruptures(full, criterion="sd"), "P").loc[7, "rupture"]
    for scores in (early, full):
        r = by_session(detect_ruptures(scores), "P")
        assert r.index[r["rupture"]].tolist() == [7] and r.loc[7, "threshold"] == pytest.approx(POOLED_2)


def test_score_detection_by_hand():
    """Planted: A3 (scored, flagged), B3 (missed; shows at B4, flag at B5 instead), C2 (C's first scored
    session is 3: no drop to see), G5 (no scored session from 5). Observable A3, B3: sensitivity 1/2.
    Assessed drops that are no target: A2, A4, B2, B5*, C4, D2*, D3, E2, G2 (* flagged): specificity 7/9.
    Rupture-free with an assessed drop: D (flagged), E; F has one scored session: rate 1/2."""
    rows = [("A", 1, None, False), ("A", 2, 0.1, False), ("A", 3, 1.0, True), ("A", 4, -0.5, False),
            ("B", 1, None, False), ("B", 2, 0.0, False), ("B", 4, 0.3, False), ("B", 5, 0.9, True),
            ("C", 3, None, False), ("C", 4, 0.2, False),
            ("D", 1, None, False), ("D", 2, 1.2, True), ("D", 3, 0.0, False),
            ("E", 1, None, False), ("E", 2, 0.1, False), ("F", 1, None, False),
            ("G", 1, None, False), ("G", 2, 0.4, False)]
    ruptures = pd.DataFrame(rows, columns=["patient_id", "session", "drop", "rupture"])
    planted = pd.DataFrame({"patient_id": ["A", "B", "C", "G"], "session": [3, 3, 2, 5]})
    assert score_detection(ruptures, planted) == {
        "n_planted": 4, "n_observable": 2, "sensitivity": 0.5, "specificity": pytest.approx(7 / 9),
        "n_rupture_free": 2, "false_positive_rate": 0.5}


@pytest.fixture(scope="module")
def generated(default_config) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """Session scores and planted ruptures of the default synthetic cohort (config seed, 400 patients)
    and of the same generator with seeds 1-4."""
    cfg, wai = default_config["synthetic"], load_instrument("wai_sr")
    cohorts = []
    for seed in (cfg["seed"], 1, 2, 3, 4):
        _, sessions, _, planted = generate_cohort(cfg, default_config["features"]["early_window"],
                                                  np.random.default_rng(seed))
        cohorts.append((score_sessions(sessions.assign(attended=sessions["attended"].astype(bool)), wai),
                        planted))
    return cohorts


def test_appending_later_sessions_never_changes_earlier_flags(generated):
    """The first 40 patients of the default cohort; each with at least 8 scored sessions is cut after each
    of its scored sessions from the 2nd: its prior_diff rows up to the cut are identical (thresholds to
    the bit). The SD criterion, which looks ahead, changes flags in the same check."""
    scores = generated[0][0]
    scores = scores[scores["patient_id"].isin(sorted(scores["patient_id"].unique())[:40])]
    full = {criterion: detect_ruptures(scores, criterion=criterion) for criterion in ("prior_diff", "sd")}
    counts = full["prior_diff"]["patient_id"].value_counts()
    sd_changed = 0
    for patient in sorted(counts.index[counts >= 8]):
        rows = {k: by_session(v, patient) for k, v in full.items()}
        for cut in rows["prior_diff"].index[1:-1]:
            kept = scores[(scores["patient_id"] != patient) | (scores["session"] <= cut)]
            cut_rows = by_session(detect_ruptures(kept), patient)
            expected = rows["prior_diff"].loc[:cut]
            assert np.array_equal(cut_rows["threshold"], expected["threshold"], equal_nan=True)
            assert cut_rows["rupture"].tolist() == expected["rupture"].tolist()
            cut_sd = by_session(detect_ruptures(kept, criterion="sd"), patient)["rupture"]
            sd_changed += cut_sd.tolist() != rows["sd"]["rupture"].loc[:cut].tolist()
    assert sd_changed > 0


def test_validation_against_the_planted_ruptures(generated):
    """The default criterion (prior_diff, c = 2) on the generator's planted ruptures.

    Measured (sensitivity, false-positive rate among rupture-free patients): default cohort .310, .058;
    seeds 1-4 .409/.046, .301/.052, .320/.067, .349/.046 (seeds 1-19: rate at most .082). The SD
    criterion with c = 2 flags 35-42% of the rupture-free patients of the same cohorts.
    """
    results = [score_detection(detect_ruptures(scores), planted) for scores, planted in generated]
    assert all(r["false_positive_rate"] < 0.10 for r in results)
    assert all(r["specificity"] > 0.98 for r in results)  # measured .990-.994 of the drops
    assert results[0]["sensitivity"] > 0.28 and min(r["sensitivity"] for r in results) > 0.27
    assert results[0]["n_observable"] == 129 and results[0]["n_rupture_free"] == 278
    sd = [score_detection(detect_ruptures(scores, criterion="sd"), planted) for scores, planted in generated]
    assert all(r["false_positive_rate"] > 0.3 for r in sd)


def test_two_sd_drop_repaired_within_two_sessions():
    r = by_session(detect_ruptures(HAND, criterion="sd", c=2.0), "repaired")
    assert 5 not in r.index  # missed: no row
    assert r["threshold"].iloc[0] == pytest.approx(2 * np.sqrt(3.875 / 7))  # 1.488
    assert r["drop"].tolist()[:4] == pytest.approx([np.nan, 0, 0, 2.0], nan_ok=True)
    assert r.index[r["rupture"]].tolist() == [4]
    # pre-rupture value 4 (session 3); scored sessions after: 6 (3.0), 7 (4.0) -> repaired at 7
    assert r.loc[4, "repaired"] and r.loc[4, "repair_session"] == 7
    assert not r["repaired"].drop(4).any() and r["repair_session"].drop(4).isna().all()


def test_drop_never_repaired():
    r = by_session(detect_ruptures(HAND, criterion="sd", c=2.0), "never")
    assert r["threshold"].iloc[0] == pytest.approx(2 * np.sqrt(6.4 / 9))  # 1.687 < 2
    assert r.index[r["rupture"]].tolist() == [9]
    assert not r.loc[9, "repaired"] and pd.isna(r.loc[9, "repair_session"])


def test_repair_after_the_window_does_not_count():
    hand = detect_ruptures(HAND, criterion="sd", c=2.0, repair_window=3)
    r = by_session(hand, "late")
    assert r["threshold"].iloc[0] == pytest.approx(2 * np.sqrt(2640 / 225 / 14))  # 1.831
    assert r.index[r["rupture"]].tolist() == [11]
    assert not r.loc[11, "repaired"]  # sessions 12-14 stay at 2; 4 again at 15, the 4th after
    wider = by_session(detect_ruptures(HAND, criterion="sd", c=2.0, repair_window=4), "late")
    assert wider.loc[11, "repaired"] and wider.loc[11, "repair_session"] == 15
    patterns = rupture_patterns(hand, pd.Series(["repaired", "never", "late", "two_sessions", "stable"]))
    assert patterns.set_index("patient_id")["pattern"].to_dict() == {
        "repaired": "rupture_with_repair", "never": "rupture_without_repair",
        "late": "rupture_without_repair", "two_sessions": "not_classifiable", "stable": "no_rupture"}


def test_fewer_than_three_scored_sessions_cannot_rupture_on_the_sd_criterion():
    result = detect_ruptures(HAND, criterion="sd", c=0.5)
    r = by_session(result, "two_sessions")
    assert r["threshold"].isna().all() and not r["rupture"].any()  # a drop of 3 points
    assert not by_session(result, "stable")["rupture"].any()  # SD 0: no drop, no rupture
    patterns = rupture_patterns(result, pd.Series(["two_sessions", "stable", "unseen"]))
    assert patterns["pattern"].tolist() == ["not_classifiable", "no_rupture", "not_classifiable"]
    assert patterns[["n_ruptures", "n_repaired"]].to_numpy().sum() == 0


def test_a_long_drop_inflates_the_sd_it_is_measured_against():
    """A drop of D lasting half of n sessions gives SD = D * sqrt(n / (4 (n - 1))) > D / 2: never 2 SD."""
    scores = trajectories({"P": [4] * 6 + [2.5] * 6})
    assert not detect_ruptures(scores, criterion="sd", c=2.0)["rupture"].any()  # 2 * 0.783 = 1.567 > 1.5
    assert detect_ruptures(scores, criterion="sd", c=1.0)["rupture"].sum() == 1


def test_reliable_change_criterion_by_hand():
    scores = trajectories({"P": [4, 4, 3, 5], "Q": [3, 2.5, 2.5, 4]})
    # cohort totals: mean 3.5, sum of squares 3 + 2.5 = 5.5, SD sqrt(5.5 / 7) = 0.886;
    # SE_diff = SD * sqrt(2 * (1 - .9)) = sqrt(1.1 / 7) = 0.396; threshold 1.96 * 0.396 = 0.777
    result = detect_ruptures(scores, criterion="reliable_change", reliability=0.9)
    assert result["threshold"].to_numpy() == pytest.approx(1.96 * np.sqrt(1.1 / 7))
    assert result.loc[result["rupture"], ["patient_id", "session"]].values.tolist() == [["P", 3]]
    assert result.loc[result["rupture"], "repair_session"].tolist() == [4]  # 5 >= 4
    # Q's drop of 0.5 is below it; with reliability .99 the threshold is 0.25 and Q's drop counts
    looser = detect_ruptures(scores, criterion="reliable_change", reliability=0.99)
    assert looser.loc[looser["rupture"], ["patient_id", "session"]].values.tolist() == [["P", 3], ["Q", 2]]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"criterion": "2sd"}, "criterion must be one of"),
    ({"c": 0}, "c must be > 0"),
    ({"repair_window": 0}, "repair_window must be >= 1"),
    ({"criterion": "reliable_change"}, "needs ruptures.reliability"),
    ({"criterion": "reliable_change", "reliability": 1.0}, r"reliability must lie in \[0, 1\)"),
])
def test_invalid_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        detect_ruptures(HAND, **kwargs)


def test_pattern_shares_over_classifiable_patients():
    patterns = pd.DataFrame({"pattern": ["no_rupture"] * 6 + ["rupture_with_repair"] * 2
                             + ["rupture_without_repair"] * 0 + ["not_classifiable"] * 3})
    shares = pattern_shares(patterns).set_index("pattern")
    assert shares["n"].to_dict() == {"no_rupture": 6, "rupture_without_repair": 0,
                                     "rupture_with_repair": 2, "not_classifiable": 3}
    assert shares["share"].iloc[:3].tolist() == [0.75, 0.0, 0.25]
    assert np.isnan(shares.loc["not_classifiable", "share"])
    assert shares["larsson_2018"].iloc[:3].tolist() == [0.745, 0.107, 0.147]
    assert sum(LARSSON_2018.values()) == pytest.approx(1, abs=0.002)  # published shares are rounded


N_PATIENTS, N_SESSIONS, NOISE = 300, 12, 0.1


def stable_cohort(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Patient levels N(3.8, .5) plus session noise N(0, .1): (patients x sessions) totals, sessions."""
    level = rng.normal(3.8, 0.5, size=(N_PATIENTS, 1))
    return level + rng.normal(0, NOISE, size=(N_PATIENTS, N_SESSIONS)), np.arange(1, N_SESSIONS + 1)


def long_table(totals: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"patient_id": np.repeat(np.arange(N_PATIENTS), N_SESSIONS),
                         "session": np.tile(np.arange(1, N_SESSIONS + 1), N_PATIENTS),
                         "attended": True, "alliance_total": totals.ravel()})


@pytest.fixture(scope="module")
def planted():
    """20% of patients drop by 1.5 at a known session (4-10); half of them are repaired 2 sessions later.

    The repair rises 0.5 above the patient's level (5 noise SDs), so that "back to at least the pre-rupture
    score" is decided by the plant rather than by the noise of the pre-rupture session; the others stay
    1.5 lower to the end.
    """
    rng = np.random.default_rng(2018)
    totals, sessions = stable_cohort(rng)
    ruptured = rng.choice(N_PATIENTS, size=N_PATIENTS // 5, replace=False)
    at = np.full(N_PATIENTS, np.inf)
    at[ruptured] = rng.integers(4, 11, size=len(ruptured))
    repaired = ruptured[: len(ruptured) // 2]
    repair_at = np.full(N_PATIENTS, np.inf)
    repair_at[repaired] = at[repaired] + 2
    low = (sessions >= at[:, None]) & (sessions < repair_at[:, None])
    totals = totals - 1.5 * low + 0.5 * (sessions >= repair_at[:, None])
    truth = pd.DataFrame({"patient_id": ruptured, "session": at[ruptured].astype(int),
                          "repair_session": repair_at[ruptured]})
    return long_table(totals), truth


def test_planted_ruptures_are_recovered_exactly(planted):
    """Reliable change with reliability .8: the threshold (cohort SD .64 here, so 0.79) lies over 5 SDs
    of a noise drop (.1 * sqrt(2) = .14) above 0 and 5 below the planted drop of 1.5."""
    scores, truth = planted
    result = detect_ruptures(scores, criterion="reliable_change", reliability=0.8)
    assert 0.7 < result["threshold"].iloc[0] < 0.85
    found = result[result["rupture"]]
    assert found[["patient_id", "session"]].values.tolist() == truth.sort_values("patient_id")[
        ["patient_id", "session"]].values.tolist()
    expected_repair = truth.set_index("patient_id")["repair_session"].reindex(found["patient_id"])
    assert np.array_equal(found["repair_session"].astype(float).fillna(np.inf), expected_repair)
    shares = pattern_shares(rupture_patterns(result, pd.Series(np.arange(N_PATIENTS)))).set_index("pattern")
    assert shares["n"].to_dict() == {"no_rupture": 240, "rupture_without_repair": 30,
                                     "rupture_with_repair": 30, "not_classifiable": 0}
    assert shares["share"].iloc[:3].tolist() == [0.8, 0.1, 0.1]


def test_sd_criterion_flags_every_planted_drop(planted):
    """With c = 1 (Strauss et al.): a patient's SD is at most about 0.8 even with the step in it."""
    scores, truth = planted
    result = detect_ruptures(scores, criterion="sd", c=1.0)
    flagged = set(map(tuple, result.loc[result["rupture"], ["patient_id", "session"]].values.tolist()))
    assert set(map(tuple, truth[["patient_id", "session"]].values.tolist())) <= flagged


def test_false_rupture_rate_without_planted_ruptures():
    """No planted rupture, c = 2 on the within-patient SD criterion.

    Consecutive differences of independent noise have SD sqrt(2) * sigma, so a drop of at least 2 sigma
    has probability P(Z >= sqrt(2)) = 0.079 per transition whatever the noise level: the criterion is
    relative to the patient's own variability. Estimating sigma from 12 sessions moves this a little
    (0.084 on average, SD 0.004, over 50 seeds), so the asserted bound is 0.079 +- 0.02, and no more than
    10% of transitions. Reliable change with reliability .7 (threshold 0.72 here, 5 SDs of a noise drop)
    flags nothing.
    """
    totals, _ = stable_cohort(np.random.default_rng(7))
    scores = long_table(totals)
    transitions = detect_ruptures(scores, criterion="sd", c=2.0).dropna(subset=["drop"])
    rate = transitions["rupture"].mean()
    assert rate == pytest.approx(0.079, abs=0.02) and rate <= 0.10
    assert not detect_ruptures(scores, criterion="reliable_change", reliability=0.7)["rupture"].any()
