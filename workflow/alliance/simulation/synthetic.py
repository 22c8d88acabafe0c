"""A synthetic multidisciplinary cohort with known alliance effects, and its truth.

The cohort follows the data contract (docs/data-contract.md). Alliance is latent on the 1-5 item scale:
therapist and patient levels, dimension-specific deviations (bond, goal, task), growth over log(session),
session noise and ruptures that are repaired by half at each following session. WAI-SR answers are the
latent value plus item noise, rounded and clipped to 1-5, which gives the ceiling and negative skew of
real data. Outcomes depend on the *observed* alliance scores, with the configured effects per SD:
attendance after the early window and dropout on early alliance, the CSQ-8 total on mean alliance.

Symptoms (optional, `synthetic.symptoms`; higher = worse) start from baseline severity and move each
session a share `rate` of the way towards the patient's end level, baseline severity minus an
improvement that grows with the patient's alliance level (`improvement_points_per_sd`, per SD of the
latent alliance level) and varies between therapists and patients; alliance at a session above the
patient's own mean (the person mean of the observed totals, per SD of these deviations) shifts the next
session's score by `within_points_per_sd`. The score is a whole number >= 0 recorded at attended sessions.
By default there is no reverse path (symptom change does not feed back into alliance), so the reverse
model's generating effect is zero. `process: joint` plants both directions (H4c's reciprocal dynamics):
latent alliance and symptoms are drawn session by session (`draw_joint`), the forward path per
`alliance.session_sd` of the latent alliance's within-patient deviation and a reverse path of
`reverse_points_per_point` alliance points per symptom point; it uses the
same draws, so with both paths at zero it gives the default cohort. Every symptom number
comes from a separate stream (the caller's generator jumped ahead, never advanced), so all other columns
are byte-identical with and without symptoms.

Sites (`n_sites`) are assigned to therapists at random. With `site_effect_sd` > 0 each site's effects of
early alliance on attendance and on dropout (log-odds per SD) deviate from `effects` by the site's own
normal draws with that SD (one per effect), drawn from a separate stream (a copy of the caller's generator
jumped twice, never advanced); with 0 nothing is drawn and the cohort is the one without site effects,
byte for byte. This is the between-site heterogeneity that pooling across sites estimates as tau
(`alliance.network`, `make check-pooling`).

`truth.json` gives, for each primary estimand (and each symptom estimand, ANALYSIS_PLAN.md H4), the
model, the generating coefficient and the estimand itself: the same model fitted to a population
`truth_multiplier` times the cohort (at most `truth_max_patients` patients) drawn from the same
generator (this absorbs what the generating
coefficient cannot: CSQ-8 rounding and ceiling, and therapist effects averaged over in the marginal
logistic models).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from alliance.configuration import sessions_planned_problem
from alliance.errors import ConfigError
from alliance.features.build import patient_features, session_features
from alliance.instruments import load_instrument
from alliance.scoring.scores import score_patients, score_sessions
from alliance.simulation.conditions import truth_scale

DIMENSIONS = ("task", "bond", "goal")
AGE_BANDS = ("18-29", "30-44", "45-59", "60-74", "75+")
AGE_WEIGHTS = (0.2, 0.3, 0.28, 0.17, 0.05)
SEVERITY_MEAN, SEVERITY_SD = 20.0, 6.0


def _z(values: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Standardise observed scores; patients without one get the fallback (already standardised)."""
    ok = ~np.isnan(values)
    z = (values - values[ok].mean()) / values[ok].std(ddof=1)
    return np.where(ok, z, fallback)


def _allocate(shares: np.ndarray, total: int) -> np.ndarray:
    """Whole counts proportional to `shares` that sum to `total` (largest remainder)."""
    exact = shares / shares.sum() * total
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def _session_means(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-patient mean of the scored sessions selected by `mask` (NaN where none)."""
    use = mask & ~np.isnan(scores)
    total = np.where(use, scores, 0.0).sum(axis=1)
    count = use.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _symptom_stream(rng: np.random.Generator) -> np.random.Generator:
    """A generator independent of `rng` that leaves `rng` untouched: a jumped copy of its PCG64 bit
    generator (2^127 draws ahead)."""
    return np.random.Generator(rng.bit_generator.jumped())


def _symptom_draws(sym: dict, severity: np.ndarray, alliance_level: np.ndarray, *, therapist: np.ndarray,
                   n_t: int, hi: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The symptom process's random parts, in their fixed order: each patient's end level, the session
    noise (patients x sessions) and the first session's score."""
    n = len(severity)
    therapist_effect = rng.normal(0, sym["therapist_sd"], size=n_t)[therapist]
    improvement = (rng.normal(sym["improvement_mean"], sym["improvement_sd"], size=n) + therapist_effect
                   + sym["improvement_points_per_sd"] * alliance_level)
    noise = rng.normal(0, sym["session_sd"], size=(n, hi))
    first = np.clip(np.round(severity + rng.normal(0, sym["start_sd"], size=n)), 0, None)
    return severity - improvement, noise, first


def _step(sym: dict, previous: np.ndarray, end_level: np.ndarray, within_z: np.ndarray,
          noise: np.ndarray) -> np.ndarray:
    """The next session's score: a share `rate` of the way to the end level, moved by the alliance's
    within-patient deviation at the previous session, plus noise; a whole number >= 0."""
    step = sym["rate"] * (end_level - previous) + sym["within_points_per_sd"] * within_z + noise
    return np.clip(np.round(previous + step), 0, None)


def _recorded(score: np.ndarray, recorded: np.ndarray, missing: float,
              rng: np.random.Generator) -> np.ndarray:
    """The scores kept at the cells where one may be recorded (each missing with chance `missing`)."""
    kept = recorded & (rng.random(score.shape) >= missing)
    return np.where(kept, score, np.nan)


def draw_symptoms(
    sym: dict, severity: np.ndarray, alliance_level: np.ndarray, *, therapist: np.ndarray, n_t: int,
    observed: np.ndarray, scored: np.ndarray, recorded: np.ndarray, rng: np.random.Generator,
) -> np.ndarray:
    """Symptom scores on the patients x sessions grid, NaN where not recorded (see the module docstring).

    `alliance_level` is the standardised latent alliance level of each patient, `observed` the observed
    alliance totals, `scored` the grid cells whose total counts (attended, scheduled, scored) and
    `recorded` the cells where a score may be recorded (attended and scheduled). All draws come from `rng`.
    """
    n, hi = observed.shape
    person_mean = _session_means(observed, scored)
    within = np.where(scored & ~np.isnan(observed), observed - person_mean[:, None], np.nan)
    spread = np.nanstd(within, ddof=1) if np.isfinite(within).sum() > 1 else 0.0
    within_z = np.nan_to_num(within / spread) if spread > 0 else np.zeros((n, hi))
    end_level, noise, first = _symptom_draws(sym, severity, alliance_level, therapist=therapist, n_t=n_t,
                                             hi=hi, rng=rng)
    score = np.empty((n, hi))
    score[:, 0] = first
    for t in range(1, hi):
        score[:, t] = _step(sym, score[:, t - 1], end_level, within_z[:, t - 1], noise[:, t])
    return _recorded(score, recorded, sym["missing"], rng)


def draw_joint(
    sym: dict, severity: np.ndarray, alliance_level: np.ndarray, *, general: np.ndarray, level: np.ndarray,
    spread: float, therapist: np.ndarray, n_t: int, rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Latent alliance and symptoms drawn together session by session (`synthetic.symptoms.process:
    joint`): the planted reciprocal dynamics of H4c.

    The alliance's within-patient deviation at session t (its latent value minus the patient's expected
    level `level`, in units of `spread`, the SD of the session noise) moves the symptoms at t + 1 by
    `within_points_per_sd`; the symptoms' deviation at t from the patient's expected course (the
    noise-free path from baseline severity towards the end level) moves the latent alliance at t + 1 by
    `reverse_points_per_point` (alliance points per symptom point; negative: more symptoms than expected,
    a lower alliance next). Returns the latent alliance (patients x sessions: `general` plus the reverse
    shifts) and every symptom score on the grid (before `_recorded`). The draws are `draw_symptoms`'s,
    from `rng` only.
    """
    n, hi = general.shape
    end_level, noise, first = _symptom_draws(sym, severity, alliance_level, therapist=therapist, n_t=n_t,
                                             hi=hi, rng=rng)
    general, score, course = general.copy(), np.empty((n, hi)), np.empty((n, hi))
    score[:, 0], course[:, 0] = first, severity
    for t in range(1, hi):
        course[:, t] = course[:, t - 1] + sym["rate"] * (end_level - course[:, t - 1])
        general[:, t] += sym["reverse_points_per_point"] * (score[:, t - 1] - course[:, t - 1])
        within_z = (general[:, t - 1] - level[:, t - 1]) / spread if spread > 0 else np.zeros(n)
        score[:, t] = _step(sym, score[:, t - 1], end_level, within_z, noise[:, t])
    return general, score


def generate_cohort(
    cfg: dict, early_window: int, rng: np.random.Generator, *, scale: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Draw the patients, sessions and outcomes tables; `scale` multiplies patients and therapists.

    The fourth table lists the planted ruptures (patient_id, session) at scheduled sessions; one at a
    missed session shows at the next attended one. With `cfg['symptoms']['enabled']` the sessions table
    has a `symptoms` column, drawn from a separate stream so that every other column is unchanged.
    """
    symptom_rng = _symptom_stream(rng)
    site_rng = np.random.Generator(rng.bit_generator.jumped(2))  # site effects: their own stream
    wai, csq = load_instrument("wai_sr"), load_instrument("csq8")
    al, miss, out, eff = cfg["alliance"], cfg["missing"], cfg["outcomes"], cfg["effects"]
    lo, hi = cfg["sessions_planned"]
    problem = sessions_planned_problem(lo, early_window)  # the workflow's config check says it first
    if problem:
        raise ConfigError(problem)
    n, n_t = cfg["n_patients"] * scale, cfg["n_therapists"] * scale

    # Therapists, sites and patients.
    names = list(cfg["disciplines"])
    chosen = al.get("noninvariance", {}).get("discipline", "")
    if chosen and chosen not in names:
        raise ConfigError(f"synthetic.alliance.noninvariance.discipline is '{chosen}', not one of the "
                          f"generated disciplines ({', '.join(names)}): name one of them, or \"\" for none")
    shares = np.array([cfg["disciplines"][k] for k in names], dtype=float)
    t_discipline = rng.permutation(np.repeat(names, _allocate(shares, n_t)))
    t_site = rng.integers(0, cfg["n_sites"], size=n_t)
    therapist = np.sort(rng.integers(0, n_t, size=n))
    site_sd = cfg.get("site_effect_sd", 0.0)
    if site_sd > 0:  # each site's deviation of the attendance and dropout effects (log-odds per SD)
        site_of = t_site[therapist]
        attendance_slope = (eff["attendance_log_odds_per_sd"]
                            + site_rng.normal(0, site_sd, size=cfg["n_sites"])[site_of])
        dropout_slope = (eff["dropout_log_odds_per_sd"]
                         + site_rng.normal(0, site_sd, size=cfg["n_sites"])[site_of])
    else:
        attendance_slope, dropout_slope = eff["attendance_log_odds_per_sd"], eff["dropout_log_odds_per_sd"]
    planned = rng.integers(lo, hi + 1, size=n)
    severity = np.round(rng.normal(SEVERITY_MEAN, SEVERITY_SD, size=n), 1)
    sev_z = (severity - SEVERITY_MEAN) / SEVERITY_SD
    patients = pd.DataFrame({
        "patient_id": [f"P{i + 1:05d}" for i in range(n)],
        "therapist_id": [f"T{t + 1:03d}" for t in therapist],
        "site": [f"S{s + 1}" for s in t_site[therapist]],
        "discipline": t_discipline[therapist],
        "age_band": rng.choice(AGE_BANDS, size=n, p=AGE_WEIGHTS),
        "gender": rng.choice(["female", "male", "other"], size=n, p=[0.56, 0.42, 0.02]),
        "baseline_severity": severity,
        "sessions_planned": planned,
    })

    # Latent alliance on a patients x sessions grid, one layer per dimension.
    t_idx = np.arange(1, hi + 1)
    u = rng.normal(0, np.sqrt(al["therapist_share"]) * al["patient_sd"], size=n_t)[therapist]
    v = rng.normal(0, np.sqrt(1 - al["therapist_share"]) * al["patient_sd"], size=n)
    general_z = (u + v) / al["patient_sd"] if al["patient_sd"] > 0 else np.zeros(n)
    growth = rng.normal(al["growth"], al["growth_sd"], size=n)
    noise = rng.normal(0, al["session_sd"], size=(n, hi))
    shocks = (rng.random((n, hi)) < al["rupture_rate"]) & (t_idx >= 2)
    rupture = np.zeros((n, hi))
    for t in range(1, hi):
        rupture[:, t] = 0.5 * rupture[:, t - 1] + al["rupture_size"] * shocks[:, t]
    level = al["mean"] + (u + v)[:, None] + growth[:, None] * np.log(t_idx)
    general = level + noise - rupture
    sym = cfg.get("symptoms", {})
    joint = sym.get("enabled", False) and sym.get("process", "observed") == "joint"
    if joint:  # the reciprocal dynamics: alliance and symptoms session by session (H4c)
        general, joint_scores = draw_joint(sym, severity, general_z, general=general, level=level,
                                           spread=al["session_sd"], therapist=therapist, n_t=n_t,
                                           rng=symptom_rng)
    specific = {d: rng.normal(0, al["dimension_sd"], size=n) for d in DIMENSIONS}
    latent = {d: general + specific[d][:, None] for d in DIMENSIONS}
    # Dimension-specific effects (H5): per SD of a dimension's patient-specific deviation.
    specific_z = {d: specific[d] / al["dimension_sd"] if al["dimension_sd"] > 0 else np.zeros(n)
                  for d in DIMENSIONS}
    dropout_specific = sum(eff.get(f"dropout_{d}_log_odds_per_sd", 0.0) * specific_z[d] for d in DIMENSIONS)
    satisfaction_specific = sum(eff.get(f"satisfaction_{d}_points_per_sd", 0.0) * specific_z[d]
                                for d in DIMENSIONS)

    # Who ends treatment when: early dropouts first; later dropouts depend on early alliance.
    early_drop = rng.random(n) < out["dropout_early"]
    last = np.where(early_drop, rng.integers(1, early_window + 1, size=n), planned)
    tau = rng.normal(0, out["therapist_sd"], size=n_t)[therapist]
    tau_satisfaction = rng.normal(0, out["satisfaction_therapist_sd"], size=n_t)[therapist]
    in_window = t_idx <= early_window
    p_early = expit(logit(out["attendance_base"]) + 0.3 * general_z + out["severity_log_odds"] * sev_z)
    attended = rng.random((n, hi)) < p_early[:, None]

    # Questionnaires (answered at attended sessions only): rounded latent values with missing items; one
    # item answered differently in one discipline where `noninvariance` names it.
    completes = rng.random((n, hi)) >= miss["questionnaire"]
    answers = np.full((n, hi, wai.n_items), np.nan)
    shifted = noninvariant_response(al.get("noninvariance", {}), patients["discipline"].to_numpy(),
                                    al["mean"])
    for name, members in wai.subscales.items():
        for item in members:
            response = shifted(item, latent[name])
            raw = np.clip(np.round(response + rng.normal(0, al["item_sd"], size=(n, hi))), 1, 5)
            keep = completes & (rng.random((n, hi)) >= miss["item"])
            answers[:, :, item - 1] = np.where(keep, raw, np.nan)
    flat = pd.DataFrame(answers.reshape(n * hi, wai.n_items), columns=wai.item_columns)
    observed = score_sessions(
        flat.assign(patient_id="", session=0, attended=True), wai
    )["alliance_total"].to_numpy().reshape(n, hi)

    early_z = _z(_session_means(observed, attended & in_window & (t_idx[None, :] <= last[:, None])),
                 general_z)
    p_drop = expit(logit(out["dropout_base"]) + dropout_slope * early_z + dropout_specific
                   - out["severity_log_odds"] * sev_z - tau)
    late_drop = ~early_drop & (rng.random(n) < p_drop)
    drop_at = early_window + 1 + np.floor(rng.random(n) * (planned - early_window - 1)).astype(int)
    last = np.where(late_drop, drop_at, last)
    p_late = expit(logit(out["attendance_base"]) + attendance_slope * early_z
                   + out["severity_log_odds"] * sev_z + tau)
    attended = np.where(in_window, attended, rng.random((n, hi)) < p_late[:, None])
    scheduled = t_idx[None, :] <= last[:, None]
    dropout = early_drop | late_drop

    # Home practice (from session 2): a beta share whose mean follows the current alliance.
    hp_mean = expit(0.4 + 1.0 * (general - al["mean"]))
    home = np.round(rng.beta(hp_mean * 8, (1 - hp_mean) * 8), 2)
    home = np.where(attended & (t_idx >= 2), home, np.nan)

    if joint:
        symptoms = _recorded(joint_scores, attended & scheduled, sym["missing"], symptom_rng)
    elif sym.get("enabled", False):
        scored = attended & scheduled & ~np.isnan(observed)
        symptoms = draw_symptoms(sym, severity, general_z, therapist=therapist, n_t=n_t, observed=observed,
                                 scored=scored,
                                 recorded=attended & scheduled, rng=symptom_rng)

    rows = np.nonzero(scheduled)
    sessions = pd.DataFrame({
        "patient_id": patients["patient_id"].to_numpy()[rows[0]],
        "session": t_idx[rows[1]],
        "attended": attended[rows].astype(int),
    })
    for j, column in enumerate(wai.item_columns):
        values = np.where(attended, answers[:, :, j], np.nan)[rows]
        sessions[column] = pd.array(values, dtype="Int64")
    sessions["home_practice"] = home[rows]
    if sym.get("enabled", False):
        sessions["symptoms"] = pd.array(symptoms[rows], dtype="Int64")

    # Satisfaction at the end of treatment, from the observed mean alliance.
    mean_z = _z(_session_means(observed, attended & scheduled), general_z)
    latent_total = (out["satisfaction_mean"] + eff["satisfaction_points_per_sd"] * mean_z
                    + satisfaction_specific + tau_satisfaction - 0.5 * sev_z
                    + rng.normal(0, out["satisfaction_sd"], size=n))
    items = np.clip(np.round(latent_total[:, None] / csq.n_items
                             + rng.normal(0, 0.35, size=(n, csq.n_items))), 1, 4)
    missing_rate = np.where(dropout, miss["satisfaction_dropout"], miss["satisfaction_completer"])
    returned = rng.random(n) >= missing_rate
    items[~returned] = np.nan
    items[rng.random(items.shape) < miss["item"]] = np.nan
    outcomes = pd.DataFrame({"patient_id": patients["patient_id"], "dropout": dropout.astype(int)})
    for j, column in enumerate(csq.item_columns):
        outcomes[column] = pd.array(items[:, j], dtype="Int64")
    planted = np.nonzero(shocks & scheduled)
    ruptures = pd.DataFrame({"patient_id": patients["patient_id"].to_numpy()[planted[0]],
                             "session": t_idx[planted[1]]})
    return patients, sessions, outcomes, ruptures


def noninvariant_response(setting: dict, discipline: np.ndarray, mean: float):
    """The latent response to an item (item number, patients x sessions latent values -> values): the latent
    value itself, except for `setting["item"]` in the patients of `setting["discipline"]`, whose deviation
    from the latent `mean` is multiplied by `loading` and shifted by `intercept` (a discipline in which the
    item is not measured alike: metric or scalar non-invariance)."""
    chosen = setting.get("discipline", "")
    rows = (discipline == chosen)[:, None] if chosen else None

    def response(item: int, latent: np.ndarray) -> np.ndarray:
        if rows is None or item != setting.get("item", 7):
            return latent
        changed = mean + setting.get("loading", 1.0) * (latent - mean) + setting.get("intercept", 0.0)
        return np.where(rows, changed, latent)

    return response


def generated_features(patients: pd.DataFrame, sessions: pd.DataFrame, outcomes: pd.DataFrame,
                       early_window: int, with_sessions: bool = False):
    """The pipeline's own scoring and features, applied to generated tables (patient features, and with
    `with_sessions` also the session features)."""
    typed = sessions.assign(attended=sessions["attended"].astype(bool))
    session_scores = score_sessions(typed, load_instrument("wai_sr"))
    patient_scores = score_patients(outcomes, load_instrument("csq8"))
    features = patient_features(patients, session_scores, patient_scores,
                                outcomes=outcomes.assign(dropout=outcomes["dropout"].astype(bool)),
                                early_window=early_window)
    if with_sessions:
        return features, session_features(session_scores, patients, early_window)
    return features


def _symptom_generating(sym: dict) -> dict[tuple[str, str], float | None]:
    """The generating value behind each symptom estimand, keyed by (outcome, predictor).

    Improvement: per SD of the *latent* alliance level, on the end level (the estimand, per SD of
    observed early alliance from the first to the last score, is smaller). Next symptoms, within: exact.
    Next symptoms, between: the per-session pull of the end-level effect, -rate * improvement (a guide:
    the predictor is the observed person mean). Reverse direction: none is generated (zero). Under
    `process: joint` the within paths are planted on other scales (the latent deviation; alliance points
    per symptom point), so those rows have none (null; `make check-dynamics` sets the RI-CLPM beside them).
    """
    joint = sym.get("process", "observed") == "joint"
    return {
        ("symptom_improvement", "alliance_early"): sym["improvement_points_per_sd"],
        ("symptoms_next", "alliance_within"): None if joint else sym["within_points_per_sd"],
        ("symptoms_next", "alliance_between"): -sym["rate"] * sym["improvement_points_per_sd"],
        ("alliance_next", "symptom_improvement_within"): None if joint else 0.0,
        ("alliance_next", "symptom_improvement_between"): None if joint else 0.0,
    }


def population_scale(cfg: dict) -> int:
    """The truth population's multiple of the cohort (`truth_multiplier`, capped at `truth_max_patients`)."""
    return truth_scale(cfg["n_patients"], cfg["truth_multiplier"], cfg["truth_max_patients"])


def true_effects(cfg: dict, early_window: int, covariates: list[str]) -> list[dict]:
    """Estimands of the primary models (and, with symptoms, of the symptom models), fitted to a large
    population from the same generator. Each row: outcome, model, predictor, scale, generating,
    estimand, estimand_se."""
    # The models here, not at the top: the cohort's own job (`synthesize`) needs none of them (statsmodels,
    # about 2 s of its start).
    import statsmodels.formula.api as smf

    from alliance.models.adherence import MODEL as ATTENDANCE_MODEL
    from alliance.models.adherence import attendance_design
    from alliance.models.common import fit_logit_glm
    from alliance.models.dropout import MODEL as DROPOUT_MODEL
    from alliance.models.dropout import dropout_design
    from alliance.models.satisfaction import MODEL as SATISFACTION_MODEL
    from alliance.models.satisfaction import satisfaction_design
    from alliance.models.symptoms import symptom_estimands

    rng = np.random.default_rng([cfg["seed"], 1])
    population = generate_cohort(cfg, early_window, rng, scale=population_scale(cfg))
    features, sessions = generated_features(*population[:3], early_window, with_sessions=True)
    del population  # the raw tables of up to `truth_max_patients` patients: their memory serves the fits
    eff = cfg["effects"]
    attendance = fit_logit_glm(attendance_design(features, covariates), cluster=False)
    dropout = fit_logit_glm(dropout_design(features, covariates), cluster=False)
    design = satisfaction_design(features, covariates)
    satisfaction = smf.ols(design.formula, design.data).fit()
    rows = []
    for outcome, model, predictor, scale, generating, fit in (
        ("attendance", ATTENDANCE_MODEL, "alliance_early", "log_odds", eff["attendance_log_odds_per_sd"],
         attendance),
        ("dropout", DROPOUT_MODEL, "alliance_early", "log_odds", eff["dropout_log_odds_per_sd"], dropout),
        ("satisfaction", SATISFACTION_MODEL, "alliance_mean", "points", eff["satisfaction_points_per_sd"],
         satisfaction),
    ):
        term = f"{predictor}_z"
        rows.append({
            "outcome": outcome, "model": model, "predictor": predictor, "scale": scale,
            "generating": generating, "estimand": float(fit.params[term]),
            "estimand_se": float(fit.bse[term]),
        })
    sym = cfg.get("symptoms", {})
    if sym.get("enabled", False):
        generating = _symptom_generating(sym)
        for row in symptom_estimands(features, sessions, covariates):
            rows.append({**row, "generating": generating[(row["outcome"], row["predictor"])]})
    return rows


def synthesize(
    cfg: dict, early_window: int, covariates: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """The default cohort and its truth (deterministic in `cfg['seed']`)."""
    rng = np.random.default_rng(cfg["seed"])
    patients, sessions, outcomes, ruptures = generate_cohort(cfg, early_window, rng)
    truth = {
        "description": (
            "True effects of the synthetic cohort. 'generating' is the coefficient used to draw the "
            "outcomes; 'estimand' is the estimate of the row's model in a population "
            f"{population_scale(cfg)} times the cohort from the same generator (its 'estimand_se' "
            "is the Monte Carlo error), and is what the cohort's estimates should recover."
        ),
        "seed": cfg["seed"],
        "n_patients": cfg["n_patients"],
        "n_therapists": cfg["n_therapists"],
        "population_patients": cfg["n_patients"] * population_scale(cfg),
        "early_window": early_window,
        "covariates": list(covariates),
        "therapist_share_of_alliance_variance": cfg["alliance"]["therapist_share"],
        "dropout_rate": float(outcomes["dropout"].mean()),
        "effects": true_effects(cfg, early_window, covariates),
        "planted_ruptures": {
            "size": cfg["alliance"]["rupture_size"],
            "patients_with_rupture": int(ruptures["patient_id"].nunique()),
            "sessions": ruptures.to_dict(orient="records"),
        },
    }
    return patients, sessions, outcomes, truth


def oracle_risk(rows: pd.DataFrame, patients: pd.DataFrame, sessions: pd.DataFrame, cfg: dict,
                early_window: int) -> np.ndarray:
    """The generator's own dropout risk of each decision row (`alliance.prediction.decision_points`:
    session k, patient_id), from what is knowable at session k: the best risk any model of those data
    can reach, whose AUC bounds the pipeline's (ANALYSIS_PLAN.md, section 10, "Validation").

    `generate_cohort` ends a patient early with chance `dropout_early` (at a session uniform in
    1..early_window), and otherwise drops them out with chance p = expit(logit(dropout_base) + effect x
    z - severity_log_odds x severity_z - tau + dimension terms) at a session uniform in early_window + 1
    .. planned - 1, z the standardised observed early mean (sessions 1..early_window). At k =
    early_window a patient in treatment is either an early leaver at their last session or not an early
    leaver: risk = (e / w + (1 - e) p) / (e / w + 1 - e); at k > early_window only a patient who has not
    left yet is in treatment: risk = p q / (p q + 1 - p), q = (planned - k) / (planned - early_window - 1)
    the chance that a drop falls after k. The therapist effect tau and the dimension-specific terms are
    not known at k: p is averaged over them (normal, Gauss-Hermite quadrature); so is z for a patient
    without a score in the early window (its standard normal spread). What later attendance says about
    tau is ignored. Before the early window (k < early_window) the early mean is not yet known: NaN.
    """
    out, eff = cfg["outcomes"], cfg["effects"]
    wai = load_instrument("wai_sr")
    typed = sessions.assign(attended=sessions["attended"].astype(bool))
    scores = score_sessions(typed, wai)
    early = scores[scores["attended"] & (scores["session"] <= early_window)].groupby("patient_id")[
        "alliance_total"].mean()
    early = early.reindex(patients["patient_id"]).to_numpy(dtype=float)
    known = ~np.isnan(early)
    z_all = np.where(known, (early - np.nanmean(early)) / np.nanstd(early, ddof=1), 0.0)
    by_patient = pd.Series(np.arange(len(patients)), index=patients["patient_id"])
    index = by_patient.reindex(rows["patient_id"]).to_numpy()
    z, has_z = z_all[index], known[index]
    sev_z = (patients["baseline_severity"].to_numpy(dtype=float)[index] - SEVERITY_MEAN) / SEVERITY_SD
    planned = patients["sessions_planned"].to_numpy(dtype=float)[index]
    k = rows["session"].to_numpy(dtype=float)
    spread = np.sqrt(out["therapist_sd"] ** 2 + sum(eff.get(f"dropout_{d}_log_odds_per_sd", 0.0) ** 2
                                                    for d in DIMENSIONS)
                     + np.where(has_z, 0.0, eff["dropout_log_odds_per_sd"] ** 2))
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    eta = logit(out["dropout_base"]) + eff["dropout_log_odds_per_sd"] * z - out["severity_log_odds"] * sev_z
    p = (expit(eta[:, None] + spread[:, None] * nodes[None, :]) @ weights) / weights.sum()
    e, w = out["dropout_early"], early_window
    at_window = (e / w + (1 - e) * p) / (e / w + 1 - e)
    q = np.clip((planned - k) / (planned - w - 1), 0.0, 1.0)
    later = p * q / (p * q + 1 - p)
    return np.where(k < w, np.nan, np.where(k == w, at_window, later))
