"""The site bundle's tables by hand: small counts and small samples suppressed, per-point effects, the
labels, deterministic zips read back (the bundle of a whole run: tests/workflow/test_workflow.py)."""

from __future__ import annotations

import json
import subprocess
import zipfile

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alliance.errors import NOT_ESTIMABLE, REFUSED, ConfigError, InputError, status_record
from alliance.i18n import Count, Message, Plural, Term, message_text
from alliance.network.bundle import (
    BUNDLE_FORMAT,
    EFFECT_COLUMNS,
    ENTRIES,
    benchmarks_table,
    check_site,
    csv_bytes,
    effects_table,
    read_bundle,
    reliability_table,
    scrub_message,
    scrub_text,
    statuses_table,
    what_leaves,
    zip_bytes,
)


def effect(n_patients: int, n_therapists: int, analysis: str = "primary") -> dict:
    return {"outcome": "dropout", "model": "logistic_glm_cluster_therapist", "predictor": "alliance_early",
            "scale": "log_odds", "estimate": 0.5, "std_error": 0.1, "ci_low": 0.3, "ci_high": 0.7,
            "p_value": 0.01, "n_obs": n_patients, "n_patients": n_patients, "n_therapists": n_therapists,
            "analysis": analysis}


def test_effects_per_point_and_small_samples_without_numbers():
    """Per point: b / s and SE_z / s with SE_z^2 = SE^2 - b^2 Var(s)/s^2 = .01 - .25 x .01 (by hand)."""
    scales = pd.DataFrame([{"outcome": "dropout", "predictor": "alliance_early", "predictor_mean": 3.9,
                            "predictor_sd": 0.5, "relative_variance": 0.01}])
    rows = pd.DataFrame([effect(120, 12), effect(5, 2), effect(120, 8, "secondary")])
    table = effects_table(rows, scales, 10)
    big, small, other = table.to_dict(orient="records")
    assert big["estimate_per_point"] == pytest.approx(1.0)
    assert big["std_error_per_point"] == pytest.approx(np.sqrt(0.01 - 0.0025) / 0.5)
    assert (big["status"], big["n_patients"], big["n_therapists"]) == ("estimated", "120", "12")
    assert small["status"] == "suppressed" and (small["n_patients"], small["n_therapists"]) == ("<10", "<10")
    assert np.isnan([small[c] for c in ("estimate", "std_error", "ci_low", "predictor_sd",
                                        "estimate_per_point")]).all()
    assert np.isnan(other["estimate_per_point"]) and other["n_therapists"] == "<10"


def test_hidden_therapists_are_not_in_the_interval_over_the_se():
    """A discipline's effect on 5 therapists: its CI is b +/- t(4) SE, so (high - b) / SE = 2.776 told G = 5
    though n_therapists read "<10". The bundle sends the SE widened to the CI, (high - low) / (2 x 1.96),
    and the per-point SE as that SE over the SD (SE_z / SD widened by the same factor told the factor: SE^2 -
    (SD SE_point)^2 = factor^2 b^2 Var(SD) / SD^2); with 12 therapists, or a CI that is not a Wald interval
    on the estimate (a bootstrap's), the SEs are sent as they are. The pooling weighs the site as before."""
    from alliance.network.pooling import interval_ratio

    t4, z = stats.t.ppf(0.975, 4), stats.norm.ppf(0.975)
    scales = pd.DataFrame([{"outcome": "dropout", "predictor": "alliance_early", "predictor_mean": 3.9,
                            "predictor_sd": 0.5, "relative_variance": 0.01}])
    few, many, bootstrap = effect(60, 5), effect(120, 12), effect(60, 5, "sensitivity")
    for row, crit in ((few, t4), (many, stats.t.ppf(0.975, 11))):
        row.update(ci_low=0.5 - crit * 0.1, ci_high=0.5 + crit * 0.1)
    bootstrap.update(ci_low=0.35, ci_high=0.9)  # percentile: not centred on the estimate
    rows = pd.DataFrame([few, many, bootstrap])
    table = effects_table(rows, scales, 10)
    sent_few, sent_many, sent_boot = table.to_dict(orient="records")
    assert (sent_few["ci_high"] - sent_few["estimate"]) / sent_few["std_error"] == pytest.approx(z, rel=1e-12)
    assert sent_few["std_error"] == pytest.approx(0.1 * t4 / z, rel=1e-12)
    assert sent_few["std_error_per_point"] == pytest.approx(0.1 * t4 / z / 0.5, rel=1e-12)
    # nothing left between the two SEs (SE^2 - (SD SE_point)^2 gave the factor when both were widened)
    assert sent_few["std_error"] == pytest.approx(0.5 * sent_few["std_error_per_point"], rel=1e-15)
    assert sent_many["std_error"] == 0.1 and sent_many["n_therapists"] == "12"
    assert sent_many["std_error_per_point"] == pytest.approx(np.sqrt(0.01 - 0.0025) / 0.5, rel=1e-12)
    assert sent_boot["std_error"] == 0.1 and sent_boot["n_therapists"] == "<10"
    # the pooling's SE of each site is what it was: the SE the site's own CI implies
    before = 0.1 * interval_ratio(0.5, 0.1, few["ci_low"], few["ci_high"])
    after = sent_few["std_error"] * interval_ratio(0.5, sent_few["std_error"], sent_few["ci_low"],
                                                   sent_few["ci_high"])
    assert after == pytest.approx(before, rel=1e-12)


def test_reasons_and_reliability_keep_no_small_number():
    text = "only 3 patients dropped out; 2 therapists; t(31); 0.5 points; 95% CI; 10 patients"
    expected = "only <10 patients dropped out; <10 therapists; t(31); 0.5 points; 95% CI; 10 patients"
    assert scrub_text(text, 10) == expected
    # names, a formula's constants and the plan's thresholds are not counts (a 3-therapist site's reasons
    # once read "CR<10" and "fewer than <10"; "therapists - 1" read "therapists - <10"); degrees of
    # freedom are (t(2): 3 therapists); a threshold below k beside a hidden count would bound it ("<10
    # therapists (fewer than 3)": 1 or 2), so it reads as the plan's minimum there; and a hidden count
    # takes the plural ("<10 therapist" told it was 1)
    text = ("Few clusters: 3 therapists (fewer than 50); jackknife (CR3) standard errors with t(2) "
            "intervals; nutrition has 1 therapist (fewer than 3); H2 needs at least 5 dropouts; F(2, 40); "
            "t on its own therapists - 1 (4 to 12 degrees of freedom)")
    expected = ("Few clusters: <10 therapists (fewer than 50); jackknife (CR3) standard errors with t(<10) "
                "intervals; nutrition has <10 therapists (fewer than the plan's minimum); H2 needs at least "
                "the plan's minimum dropouts; F(<10, 40); t on its own therapists - 1")
    assert scrub_text(text, 10) == expected
    # session numbers are labels (the bundle once sent "the early window (sessions <10-<10)")
    text = ("no patient has a scored alliance in the early window (sessions 1-3); at session 4, 3 patients; "
            "sessions 1, 4 and 7 of 2 therapists; sessions 1-3, 3 patients; 3 sessions")
    expected = ("no patient has a scored alliance in the early window (sessions 1-3); at session 4, <10 "
                "patients; sessions 1, 4 and 7 of <10 therapists; sessions 1-3, <10 patients; <10 sessions")
    assert scrub_text(text, 10) == expected
    kept = "nutrition has 12 therapists (at least 3 needed); t on therapists - 1"
    assert scrub_text(kept, 10) == kept  # nothing hidden: thresholds and constants as written
    assert scrub_text(np.nan, 10) == ""
    reliability = pd.DataFrame([{"role": "alliance", "instrument": "wai_sr", "scale": "total", "n": 7,
                                 "n_items": 12, "alpha": 0.9, "alpha_ci_low": 0.8, "alpha_ci_high": 0.95,
                                 "omega": 0.9}])
    row = reliability_table(reliability, 10).iloc[0]
    assert row["n"] == "<10" and np.isnan(row["alpha"]) and np.isnan(row["omega"])


def test_a_disciplines_therapists_leave_neither_by_their_degrees_of_freedom():
    """The moderation model's flag gives each discipline's slope t on its own therapists - 1 and says the
    range; with its lowest hidden, the highest beside the therapists of the model told the other
    discipline's count (20 therapists, "<10 to 14 degrees of freedom": 15 and 5, a reviewer's probe)."""
    from alliance.models.common import FEW_CLUSTERS
    from alliance.models.levels import discipline_t_flags

    few = Message(FEW_CLUSTERS, g=20, minimum=50, method="jackknife (CR3) standard errors", df=19)
    flags = discipline_t_flags([few], pd.Series({"psychotherapy": 15, "nutrition": 5}))
    sent = scrub_message(json.dumps(flags[0].to_json()), 10)
    assert "degrees of freedom" not in sent and "14" not in sent and "<10" not in sent
    assert sent.startswith("Few clusters: 20 therapists") and sent.endswith("on its own therapists - 1.")
    wide = discipline_t_flags([few], pd.Series({"psychotherapy": 15, "nutrition": 11}))  # nothing to hide
    assert scrub_message(json.dumps(wide[0].to_json()), 10).endswith("(10 to 14 degrees of freedom).")


def test_counts_in_words_are_hidden_too():
    """A solo practice's flags said it had one therapist in words, past the scrub of digits, while
    effects.csv sent "<10" (a reviewer's probe); a ratio ("one patient per therapist") is not a count."""
    from alliance.models.random_intercept import NOT_IDENTIFIED_WORDS, ONE_GROUP_WORDS

    one = Message("One therapist: model-based standard errors (no therapist level to cluster on; the results "
                  "describe this therapist's patients).")
    assert scrub_message(json.dumps(one.to_json()), 10) == (
        "<10 therapists: model-based standard errors (no therapist level to cluster on; the results describe "
        "these therapists' patients).")
    only = Message("only one patient in the {outcome} analysis sample", outcome="satisfaction")
    assert scrub_message(json.dumps(only.to_json()), 10) == "<10 patients in the satisfaction analysis sample"
    assert scrub_text(ONE_GROUP_WORDS["patient_id"].render(), 10).startswith("<10 patients: there is no")
    ratio = NOT_IDENTIFIED_WORDS["therapist_id"].render()
    assert scrub_text(ratio, 10) == ratio
    assert scrub_text("Three sessions scored", 2) == "Three sessions scored"  # not below k = 2


def test_site_labels():
    assert check_site("clinic_a") == "clinic_a"
    with pytest.raises(ConfigError, match=r"network\.site is empty"):
        check_site("")
    with pytest.raises(ConfigError, match=r"network\.site is '\.\./x'"):
        check_site("../x")


def test_zip_is_deterministic_and_read_back(tmp_path):
    files = {name: b"a,b\n1,2\n" for name in ENTRIES if name.endswith(".csv")}
    effects = pd.DataFrame(columns=EFFECT_COLUMNS)
    files |= {"provenance.json": json.dumps({"bundle_format": BUNDLE_FORMAT, "site": "x"}).encode(),
              "WHAT_LEAVES_THE_SITE.md": b"# what\n", "effects.csv": csv_bytes(effects),
              "aggregates.json": b"{}"}
    data = zip_bytes(files)
    assert data == zip_bytes(dict(reversed(list(files.items()))))
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as archive:  # a zip that is not a bundle
        archive.writestr("notes.txt", "hello")
    (tmp_path / "b.zip").write_bytes(data)
    bundle = read_bundle(tmp_path / "b.zip")
    assert bundle.site == "x" and list(bundle.effects.columns) == EFFECT_COLUMNS
    with pytest.raises(InputError, match="not a site bundle"):
        read_bundle(tmp_path / "x.zip")
    (tmp_path / "old.zip").write_bytes(zip_bytes(files | {"effects.csv": b"outcome,estimate\n"}))
    with pytest.raises(InputError, match="lacks model, predictor"):
        read_bundle(tmp_path / "old.zip")
    # a missing file and a file that is not a zip, in words and with what a bundle is (they read "not a
    # readable bundle zip (FileNotFoundError)" and "(BadZipFile)")
    (tmp_path / "c.zip").write_text("not a zip")
    where = r"\(a site's bundle is results/share/<site>\.zip, made by make share\)$"
    with pytest.raises(InputError, match=r"c\.zip: not a zip file " + where):
        read_bundle(tmp_path / "c.zip")
    with pytest.raises(InputError, match=r"nothere\.zip: no such file " + where):
        read_bundle(tmp_path / "nothere.zip")


# The split model's reason as alliance.models.levels writes it (clinic e of a reviewer's network: 60 patients,
# 5 therapists, 58 analysed)
SPLIT = ("the therapist means of {predictor} do not vary beyond chance (F({df1}, {df2}) = {f:.2f}, p = "
         "{p:.3u}): they are too unreliable to identify a therapist-level slope")


def status_rows(records: list[dict]) -> pd.DataFrame:
    """status.csv's rows of `status_record`s (the messages as JSON text, as the workflow writes them)."""
    rows = [record | {"reason_message": message_text(record["reason_message"]),
                      "flags_message": message_text(record["flags_message"]), "hypothesis": "H1",
                      "family": "adherence", "analysis": "secondary", "outcome": "attendance",
                      "model": "binomial_glm_cluster_therapist", "title": ""} for record in records]
    return pd.DataFrame(rows)


def test_a_hidden_number_of_therapists_is_not_given_away_by_a_reasons_statistic():
    """Clinic e's bundle read "do not vary beyond chance (F(<10, 53) = 0.55, p = .703)" beside 58 patients
    analysed: 58 - 53 = 5 therapists, and F = 0.55 with p = .703 on 53 df pins the numerator df to 4. Where a
    reason holds a count of 1 to k - 1, its test statistics leave the site without their numbers, the words
    kept; from the message's data (status.csv's reason_message, its counts typed: a count with its share is
    "<k" whole, as the report writes it) and, without it, from the text. A statistic beside no hidden count
    stays. A count of disciplines is not a count of people: "1 discipline" is written as it is ("<10
    discipline" gave it away and read wrong)."""
    name = Term("predictor", "early alliance")
    split = Message(SPLIT, predictor=name, df1=4, df2=53, f=0.5453662, p=0.7031338)
    shown = Message(SPLIT, predictor=name, df1=14, df2=53, f=0.5453662, p=0.7031338)
    ceiling = Message("{count} patients answered every item at the maximum.", count=Count(3, of=58))
    one = Plural("{n} discipline in the analysis sample: nothing to compare",
                 "{n} disciplines in the analysis sample: nothing to compare", n=1)
    # a reviewer's bundles read "nutrition has <10 therapist": the singular told the hidden number is 1
    therapist = Plural("{discipline} has {n} therapist (fewer than {minimum}): too few clusters",
                       "{discipline} has {n} therapists (fewer than {minimum}): too few clusters",
                       n=1, discipline=Term("discipline", "nutrition"), minimum=3)
    records = [status_record("H1-split", NOT_ESTIMABLE, split),
               status_record("H2-split", NOT_ESTIMABLE, shown), status_record("H3", NOT_ESTIMABLE, ceiling),
               status_record("H1-moderation", REFUSED, one),
               status_record("H2-moderation", REFUSED, therapist)]
    words = ("the therapist means of early alliance do not vary beyond chance: they are too unreliable to "
             "identify a therapist-level slope")
    expected = [words, str(shown), "<10 patients answered every item at the maximum.",
                "1 discipline in the analysis sample: nothing to compare",
                "nutrition has <10 therapists (fewer than the plan's minimum): too few clusters"]
    table = status_rows(records)
    assert statuses_table(table, 10)["reason"].tolist() == expected
    # without the messages' data (an earlier status.csv), from the text
    plain = table.drop(columns=["reason_message", "flags_message"])
    assert statuses_table(plain, 10)["reason"].tolist() == expected
    assert scrub_text("a slope of 3 disciplines (t(4) = 2.10, p = .10) at session 2 (chi\u00b2(2) = 7.1)",
                      10) == "a slope of 3 disciplines at session 2"
    kept = "a slope of 3 disciplines (t(14) = 2.10, p = .10) at session 2 (\u03c7\u00b2(12) = 7.1)"
    assert scrub_text(kept, 10) == kept
    # the flags' few-cluster note keeps its words ("t(<10) intervals" is no statistic)
    few = Message("Few clusters: {g} therapists (fewer than {minimum}); {method}, with t({df}) intervals and "
                  "p-values.", g=5, minimum=50, method=Message("CR1"), df=4)
    flagged = status_rows([status_record("H1", "fitted", flags=[few])])
    assert statuses_table(flagged, 10)["flags"].iloc[0] == (
        "Few clusters: <10 therapists (fewer than 50); CR1, with t(<10) intervals and p-values.")
    summary = what_leaves("e", {"effects.csv": pd.DataFrame(columns=EFFECT_COLUMNS), "statuses.csv": table,
                                "flows.csv": table, "reliability.csv": table, "benchmarks.csv": table}, 10)
    assert "nor by a reason's test statistic" in summary


def test_a_suppressed_disciplines_patients_are_not_the_difference_of_the_others():
    """The per-discipline rows of a model sum to its row: 112 - (33 + 29 + 43) gave the suppressed
    osteopathy's 7 patients. The report withholds the next smallest discipline's counts too (plan version
    26, section 8); a site's bundle withholds every discipline's counts (a reviewer found a hidden
    discipline's 7 patients and 4 therapists as one model's total minus another model's disciplines),
    their estimates sent, and their SEs as wide as their CIs, their therapists hidden."""
    scales = pd.DataFrame([{"outcome": "dropout", "predictor": "alliance_early", "predictor_mean": 3.9,
                            "predictor_sd": 0.5, "relative_variance": 0.01}])
    rows = [effect(112, 20, "exploratory") | {"predictor": "alliance_early"}]
    t11 = stats.t.ppf(0.975, 11)
    for discipline, n, g in (("psychology", 33, 6), ("physiotherapy", 29, 12), ("nutrition", 43, 6),
                             ("osteopathy", 7, 3)):
        rows.append(effect(n, g, "exploratory") | {"predictor": f"alliance_early [{discipline}]",
                                                   "ci_low": 0.5 - t11 * 0.1, "ci_high": 0.5 + t11 * 0.1})
    table = effects_table(pd.DataFrame(rows), scales, 10).set_index("predictor")
    assert table["n_patients"].tolist() == ["112", "suppressed", "suppressed", "suppressed", "<10"]
    assert table["n_therapists"].tolist() == ["20", "suppressed", "suppressed", "suppressed", "<10"]
    physiotherapy = table.loc["alliance_early [physiotherapy]"]
    assert physiotherapy["n_therapists"] == "suppressed" and physiotherapy["estimate"] == 0.5
    # its 12 therapists withheld, its SE is sent as wide as its CI on t(11), which would tell them
    assert physiotherapy["std_error"] == pytest.approx(0.1 * t11 / stats.norm.ppf(0.975), rel=1e-12)
    whole = effects_table(pd.DataFrame(rows[:4]), scales, 10)
    assert whole["n_patients"].tolist() == ["112", "suppressed", "suppressed", "suppressed"]
    assert (whole["estimate"].iloc[1:] == 0.5).all()


def test_share_names_a_missing_input_and_the_fix(tmp_path, capsys, monkeypatch):
    """`python -m alliance.network.share` in a run's folder outside the repository ended in a traceback
    (FileNotFoundError: 'ANALYSIS_PLAN.md'); each missing input is now one message naming the file and the
    fix, exit status 1, nothing written."""
    from alliance.network.share import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "results/manifest.json").write_text(json.dumps({"inputs": {"plan": {"sha256": "0" * 64}}}))
    (tmp_path / "unfinished").mkdir()

    def refusal(*argv: str) -> str:
        assert main(list(argv)) == 1
        err = capsys.readouterr().err.strip()
        assert "Error" not in err and "Traceback" not in err and "\n" not in err
        return err

    assert refusal() == ("ANALYSIS_PLAN.md: no such file (the analysis plan the run followed): run make "
                         "share in the repository's folder, or pass --plan PATH/ANALYSIS_PLAN.md")
    (tmp_path / "plan.md").write_text("# plan\n")
    assert refusal("--plan", "plan.md", "--results", "nothere") == (
        "nothere: no such folder (a finished run's results/): run the workflow first (make run), or pass "
        "--results PATH")
    assert refusal("--plan", "plan.md", "--results", "unfinished") == (
        "unfinished/manifest.json is missing: run the workflow to the end first (make run)")
    written = sorted(p.name for p in tmp_path.rglob("*"))
    assert written == ["manifest.json", "plan.md", "results", "unfinished"]


def test_a_d_resting_on_few_dropouts_or_completers_is_sent_without_numbers():
    """A site with 6 dropouts among 103 patients: d and its CI gave the 6 away (a reviewer solved them for
    it; tests/models/test_inference.py), so d goes without numbers, as with fewer than k patients; a site
    with 43 dropouts, and an r (no groups), keep theirs. The number of dropouts itself never leaves."""
    d = {"benchmark": "alliance_dropout", "metric": "d", "estimate": 1.02, "ci_low": -0.43, "ci_high": 2.60,
         "n": 103, "n_dropouts": 6.0, "benchmark_value": 0.55, "benchmark_ci_low": np.nan,
         "benchmark_ci_high": np.nan, "verdict": "compatible with", "source": "Sharf et al. (2010)"}
    r = d | {"benchmark": "alliance_outcome", "metric": "r", "estimate": 0.2, "ci_low": 0.1, "ci_high": 0.3,
             "n_dropouts": np.nan}
    for dropouts, sent in ((6.0, False), (97.0, False), (43.0, True)):
        table = benchmarks_table({"dropout": {"extra": {"benchmark": d | {"n_dropouts": dropouts}}},
                                  "symptoms": {"extra": {"benchmark": r}}}, 10).set_index("benchmark")
        assert "n_dropouts" not in table.columns and table["n"].tolist() == ["103", "103"]
        assert bool(table.loc["alliance_dropout", ["estimate", "ci_low", "ci_high"]].notna().all()) is sent
        assert table.loc["alliance_outcome", "estimate"] == 0.2


def test_make_share_checks_the_site_label_before_the_run(root, tmp_path, capsys):
    """Without a label `make share` ran the whole workflow and then refused (a reviewer's network check):
    the label is checked first, from SITE or the config merged over config.yaml, as Snakemake merges it."""
    from alliance.network.share import configured_site, main

    done = subprocess.run(["make", "-n", "share", "CONFIG=my.yaml"], cwd=root, capture_output=True, text=True,
                          check=True)
    commands = [line for line in done.stdout.splitlines() if "alliance.network.share" in line or
                "snakemake --cores" in line]
    assert "--check-site --config my.yaml" in commands[0] and "snakemake --cores" in commands[1]
    mine = tmp_path / "my.yaml"
    mine.write_text("models: {covariates: [baseline_severity]}\n")
    assert configured_site(mine, root / "config.yaml") == ""
    assert main(["--check-site", "--config", str(mine)]) == 1
    assert "network.site is empty" in capsys.readouterr().err
    assert main(["--check-site", "--config", str(mine), "--site", "clinic_a"]) == 0
    mine.write_text("network: {site: clinic_b}\n")
    assert configured_site(mine, root / "config.yaml") == "clinic_b"
    assert main(["--check-site", "--config", str(mine), "--site", "no spaces"]) == 1


def test_a_bundle_whose_sums_are_not_of_this_version_is_refused(tmp_path):
    """`make pool` read aggregates.json without looking: a sent entry without its clusters' count, a
    withheld one without a reason or with an unknown one crashed with a KeyError (a reviewer); such a
    bundle is refused with the fix."""
    files = {name: b"a,b\n1,2\n" for name in ENTRIES if name.endswith(".csv")}
    files |= {"provenance.json": json.dumps({"bundle_format": BUNDLE_FORMAT, "site": "x"}).encode(),
              "WHAT_LEAVES_THE_SITE.md": b"# what\n",
              "effects.csv": csv_bytes(pd.DataFrame(columns=EFFECT_COLUMNS))}
    for broken in ({"dropout": {"status": "withheld"}}, {"dropout": {"status": "withheld", "reason": "new"}},
                   {"dropout": {"status": "sent", "estimate": [0.0]}}, {"other": {"status": "sent"}}, []):
        (tmp_path / "b.zip").write_bytes(zip_bytes(files | {"aggregates.json": json.dumps(broken).encode()}))
        with pytest.raises(InputError, match=r"aggregates\.json is not of this version's form: share again"):
            read_bundle(tmp_path / "b.zip")
    fine = {"dropout": {"status": "withheld", "reason": "not_enabled"}}
    (tmp_path / "b.zip").write_bytes(zip_bytes(files | {"aggregates.json": json.dumps(fine).encode()}))
    assert read_bundle(tmp_path / "b.zip").aggregates == fine
    # version 34's satisfaction sums (its estimate and information at the site's own variances) are not
    # version 36's within- and between-therapist cross-products; a logistic model's are what they were;
    # version 37 says which covariates' small categories a site collapsed ("merged")
    common = {"status": "sent", "predictor": "alliance_mean", "parameters": [], "references": {},
              "n_patients": 400, "n_therapists": 20, "n_clusters": 20, "merged": [], "meat": []}
    old = {"satisfaction": common | {"estimate": [], "information": []}}
    new = {"satisfaction": common | {"within": [], "between": []},
           "dropout": common | {"estimate": [], "information": [], "third": []}}
    unmerged = {"dropout": {key: value for key, value in new["dropout"].items() if key != "merged"}}
    for aggregates, readable in ((old, False), (new, True), ({"dropout": new["satisfaction"]}, False),
                                 (unmerged, False)):
        sums = {"aggregates.json": json.dumps(aggregates).encode()}
        (tmp_path / "b.zip").write_bytes(zip_bytes(files | sums))
        if readable:
            assert read_bundle(tmp_path / "b.zip").aggregates == aggregates
        else:
            with pytest.raises(InputError, match=r"aggregates\.json is not of this version's form"):
                read_bundle(tmp_path / "b.zip")


def test_make_share_says_what_became_of_each_models_one_stage_sums():
    """A withheld model with its reason and a collapsed category are printed after the bundle's path (a
    reviewer found a withheld model only in WHAT_LEAVES_THE_SITE.md); nothing where the sums are off."""
    from alliance.network.share import one_stage_lines

    sent = {"status": "sent", "merged": []}
    assert one_stage_lines({"attendance": sent, "dropout": {"status": "withheld", "reason": "few_therapists"},
                            "satisfaction": sent | {"merged": ["discipline"]}}) == [
        "One-stage sums of the dropout model: not sent, fewer therapists than its minimum cell size.",
        "One-stage sums of the satisfaction model: sent, a category of fewer than 10 patients (or the "
        "minimum cell size) of discipline counted with the largest."]
    assert one_stage_lines({"dropout": {"status": "withheld", "reason": "not_enabled"}}) == []
