"""Rupture detection and rupture-repair patterns: hand-computed trajectories and planted ruptures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance.ruptures import LARSSON_2018, detect_ruptures, pattern_shares, rupture_patterns


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


def test_two_sd_drop_repaired_within_two_sessions():
    r = by_session(detect_ruptures(HAND, c=2.0), "repaired")
    assert 5 not in r.index  # missed: no row
    assert r["threshold"].iloc[0] == pytest.approx(2 * np.sqrt(3.875 / 7))  # 1.488
    assert r["drop"].tolist()[:4] == pytest.approx([np.nan, 0, 0, 2.0], nan_ok=True)
    assert r.index[r["rupture"]].tolist() == [4]
    # pre-rupture value 4 (session 3); scored sessions after: 6 (3.0), 7 (4.0) -> repaired at 7
    assert r.loc[4, "repaired"] and r.loc[4, "repair_session"] == 7
    assert not r["repaired"].drop(4).any() and r["repair_session"].drop(4).isna().all()


def test_drop_never_repaired():
    r = by_session(detect_ruptures(HAND, c=2.0), "never")
    assert r["threshold"].iloc[0] == pytest.approx(2 * np.sqrt(6.4 / 9))  # 1.687 < 2
    assert r.index[r["rupture"]].tolist() == [9]
    assert not r.loc[9, "repaired"] and pd.isna(r.loc[9, "repair_session"])


def test_repair_after_the_window_does_not_count():
    hand = detect_ruptures(HAND, c=2.0, repair_window=3)
    r = by_session(hand, "late")
    assert r["threshold"].iloc[0] == pytest.approx(2 * np.sqrt(2640 / 225 / 14))  # 1.831
    assert r.index[r["rupture"]].tolist() == [11]
    assert not r.loc[11, "repaired"]  # sessions 12-14 stay at 2; 4 again at 15, the 4th after
    wider = by_session(detect_ruptures(HAND, c=2.0, repair_window=4), "late")
    assert wider.loc[11, "repaired"] and wider.loc[11, "repair_session"] == 15
    patterns = rupture_patterns(hand, pd.Series(["repaired", "never", "late", "two_sessions", "stable"]))
    assert patterns.set_index("patient_id")["pattern"].to_dict() == {
        "repaired": "rupture_with_repair", "never": "rupture_without_repair",
        "late": "rupture_without_repair", "two_sessions": "not_classifiable", "stable": "no_rupture"}


def test_fewer_than_three_scored_sessions_cannot_rupture_on_the_sd_criterion():
    result = detect_ruptures(HAND, c=0.5)
    r = by_session(result, "two_sessions")
    assert r["threshold"].isna().all() and not r["rupture"].any()  # a drop of 3 points
    assert not by_session(result, "stable")["rupture"].any()  # SD 0: no drop, no rupture
    patterns = rupture_patterns(result, pd.Series(["two_sessions", "stable", "unseen"]))
    assert patterns["pattern"].tolist() == ["not_classifiable", "no_rupture", "not_classifiable"]
    assert patterns[["n_ruptures", "n_repaired"]].to_numpy().sum() == 0


def test_a_long_drop_inflates_the_sd_it_is_measured_against():
    """A drop of D lasting half of n sessions gives SD = D * sqrt(n / (4 (n - 1))) > D / 2: never 2 SD."""
    scores = trajectories({"P": [4] * 6 + [2.5] * 6})
    assert not detect_ruptures(scores, c=2.0)["rupture"].any()  # threshold 2 * 0.783 = 1.567 > 1.5
    assert detect_ruptures(scores, c=1.0)["rupture"].sum() == 1


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
