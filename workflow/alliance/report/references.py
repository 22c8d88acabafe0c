"""The works the report cites and their full references: the report's and methods.md's reference lists
hold exactly the works their text cites (`cited_references`), found in the text as written, so that a
sentence that gains or loses a citation changes the list with it."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from html import escape
from html.parser import HTMLParser

from alliance.i18n import SOURCE_LANGUAGE, _
from alliance.report.words import CONJUNCTIONS, local_authors, parenthetical

# Every work the report, its Methods and methods.md can cite, keyed as cited in running text (APA narrative
# form), with its full reference as published (APA; *italics* in Markdown). A test holds every citation in
# the message catalogue, the benchmarks and the shipped instruments to an entry here.
REFERENCES = {
    "Azen & Budescu (2003)": (
        "Azen, R., & Budescu, D. V. (2003). The dominance analysis approach for comparing predictors in "
        "multiple regression. *Psychological Methods, 8*(2), 129-148."),
    "Azen & Traxel (2009)": (
        "Azen, R., & Traxel, N. (2009). Using dominance analysis to determine predictor importance in "
        "logistic regression. *Journal of Educational and Behavioral Statistics, 34*(3), 319-347."),
    "Bakdash & Marusich (2017)": (
        "Bakdash, J. Z., & Marusich, L. R. (2017). Repeated measures correlation. *Frontiers in "
        "Psychology, 8*, 456."),
    "Baldwin & Imel (2013)": (
        "Baldwin, S. A., & Imel, Z. E. (2013). Therapist effects: Findings and methods. In M. J. Lambert "
        "(Ed.), *Bergin and Garfield's handbook of psychotherapy and behavior change* (6th ed., pp. "
        "258-297). Wiley."),
    "Baldwin, Wampold & Imel (2007)": (
        "Baldwin, S. A., Wampold, B. E., & Imel, Z. E. (2007). Untangling the alliance-outcome "
        "correlation: Exploring the relative importance of therapist and patient variability in the "
        "alliance. *Journal of Consulting and Clinical Psychology, 75*(6), 842-852."),
    "Bell & McCaffrey (2002)": (
        "Bell, R. M., & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear regression "
        "with multi-stage samples. *Survey Methodology, 28*(2), 169-181."),
    "Benjamini & Hochberg (1995)": (
        "Benjamini, Y., & Hochberg, Y. (1995). Controlling the false discovery rate: A practical and "
        "powerful approach to multiple testing. *Journal of the Royal Statistical Society: Series B, "
        "57*(1), 289-300."),
    "Bland & Altman (1986)": (
        "Bland, J. M., & Altman, D. G. (1986). Statistical methods for assessing agreement between two "
        "methods of clinical measurement. *The Lancet, 327*(8476), 307-310."),
    "Bland & Altman (2007)": (
        "Bland, J. M., & Altman, D. G. (2007). Agreement between methods of measurement with multiple "
        "observations per individual. *Journal of Biopharmaceutical Statistics, 17*(4), 571-582."),
    "Bordin (1979)": (
        "Bordin, E. S. (1979). The generalizability of the psychoanalytic concept of the working "
        "alliance. *Psychotherapy: Theory, Research & Practice, 16*(3), 252-260."),
    "Budescu (1993)": (
        "Budescu, D. V. (1993). Dominance analysis: A new approach to the problem of relative importance "
        "of predictors in multiple regression. *Psychological Bulletin, 114*(3), 542-551."),
    "Cameron & Miller (2015)": (
        "Cameron, A. C., & Miller, D. L. (2015). A practitioner's guide to cluster-robust inference. "
        "*Journal of Human Resources, 50*(2), 317-372."),
    "Chinn (2000)": (
        "Chinn, S. (2000). A simple method for converting an odds ratio to effect size for use in "
        "meta-analysis. *Statistics in Medicine, 19*(22), 3127-3131."),
    "Deeks, Higgins & Altman (2022)": (
        "Deeks, J. J., Higgins, J. P. T., & Altman, D. G. (2022). Analysing data and undertaking "
        "meta-analyses. In J. P. T. Higgins, J. Thomas, J. Chandler, M. Cumpston, T. Li, M. J. Page, & V. "
        "A. Welch (Eds.), *Cochrane handbook for systematic reviews of interventions* (version 6.3, "
        "chapter 10). Cochrane."),
    "Duncan et al. (2003)": (
        "Duncan, B. L., Miller, S. D., Sparks, J. A., Claud, D. A., Reynolds, L. R., Brown, J., & "
        "Johnson, L. D. (2003). The Session Rating Scale: Preliminary psychometric properties of a "
        "\"working\" alliance measure. *Journal of Brief Therapy, 3*(1), 3-12."),
    "Flückiger, Del Re, Wampold & Horvath (2018)": (
        "Flückiger, C., Del Re, A. C., Wampold, B. E., & Horvath, A. O. (2018). The alliance in adult "
        "psychotherapy: A meta-analytic synthesis. *Psychotherapy, 55*(4), 316-340."),
    "Gumz et al. (2012)": (
        "Gumz, A., Brähler, E., Geyer, M., & Erices, R. (2012). Crisis-repair sequences: Considerations "
        "on the classification and assessment of breaches in the therapeutic relationship. *BMC Medical "
        "Research Methodology, 12*, 10."),
    "Hamaker et al. (2015)": (
        "Hamaker, E. L., Kuiper, R. M., & Grasman, R. P. P. P. (2015). A critique of the cross-lagged "
        "panel model. *Psychological Methods, 20*(1), 102-116."),
    "Harrell (2015)": (
        "Harrell, F. E. (2015). *Regression modeling strategies* (2nd ed.). Springer."),
    "Hartung & Knapp (2001)": (
        "Hartung, J., & Knapp, G. (2001). A refined method for the meta-analysis of controlled clinical "
        "trials with binary outcome. *Statistics in Medicine, 20*(24), 3875-3889."),
    "Hatcher & Gillaspy (2006)": (
        "Hatcher, R. L., & Gillaspy, J. A. (2006). Development and validation of a revised short version "
        "of the Working Alliance Inventory. *Psychotherapy Research, 16*(1), 12-25."),
    "Higgins & Thompson (2002)": (
        "Higgins, J. P. T., & Thompson, S. G. (2002). Quantifying heterogeneity in a meta-analysis. "
        "*Statistics in Medicine, 21*(11), 1539-1558."),
    "Higgins, Thompson & Spiegelhalter (2009)": (
        "Higgins, J. P. T., Thompson, S. G., & Spiegelhalter, D. J. (2009). A re-evaluation of "
        "random-effects meta-analysis. *Journal of the Royal Statistical Society: Series A, 172*(1), "
        "137-159."),
    "Hu & Bentler (1999)": (
        "Hu, L., & Bentler, P. M. (1999). Cutoff criteria for fit indexes in covariance structure "
        "analysis: Conventional criteria versus new alternatives. *Structural Equation Modeling, 6*(1), "
        "1-55."),
    "Jacobson & Truax (1991)": (
        "Jacobson, N. S., & Truax, P. (1991). Clinical significance: A statistical approach to defining "
        "meaningful change in psychotherapy research. *Journal of Consulting and Clinical Psychology, "
        "59*(1), 12-19."),
    "Kline & Santos (2012)": (
        "Kline, P., & Santos, A. (2012). A score based approach to wild bootstrap inference. *Journal of "
        "Econometric Methods, 1*(1), 23-41."),
    "Larsen et al. (1979)": (
        "Larsen, D. L., Attkisson, C. C., Hargreaves, W. A., & Nguyen, T. D. (1979). Assessment of "
        "client/patient satisfaction: Development of a general scale. *Evaluation and Program Planning, "
        "2*(3), 197-207."),
    "Larsson et al. (2018)": (
        "Larsson, M. H., Falkenström, F., Andersson, G., & Holmqvist, R. (2018). Alliance ruptures and "
        "repairs in psychotherapy in primary care. *Psychotherapy Research, 28*(1), 123-136."),
    "Lord & Novick (1968)": (
        "Lord, F. M., & Novick, M. R. (1968). *Statistical theories of mental test scores*. "
        "Addison-Wesley."),
    "Luborsky et al. (1996)": (
        "Luborsky, L., Barber, J. P., Siqueland, L., Johnson, S., Najavits, L. M., Frank, A., & Daley, D. "
        "(1996). The Revised Helping Alliance Questionnaire (HAq-II). *Journal of Psychotherapy Practice "
        "and Research, 5*(3), 260-271."),
    "Mancl & DeRouen (2001)": (
        "Mancl, L. A., & DeRouen, T. A. (2001). A covariance estimator for GEE with improved small-sample "
        "properties. *Biometrics, 57*(1), 126-134."),
    "McKelvey & Zavoina (1975)": (
        "McKelvey, R. D., & Zavoina, W. (1975). A statistical model for the analysis of ordinal level "
        "dependent variables. *Journal of Mathematical Sociology, 4*(1), 103-120."),
    "Mölder et al. (2021)": (
        "Mölder, F., Jablonski, K. P., Letcher, B., Hall, M. B., Tomkins-Tinch, C. H., Sochat, V., ... "
        "Köster, J. (2021). Sustainable data analysis with Snakemake. *F1000Research, 10*, 33."),
    "Paule & Mandel (1982)": (
        "Paule, R. C., & Mandel, J. (1982). Consensus values and weighting factors. *Journal of Research "
        "of the National Bureau of Standards, 87*(5), 377-385."),
    "Peduzzi et al. (1996)": (
        "Peduzzi, P., Concato, J., Kemper, E., Holford, T. R., & Feinstein, A. R. (1996). A simulation "
        "study of the number of events per variable in logistic regression analysis. *Journal of Clinical "
        "Epidemiology, 49*(12), 1373-1379."),
    "Rubin (1987)": (
        "Rubin, D. B. (1987). *Multiple imputation for nonresponse in surveys*. Wiley."),
    "Seabold & Perktold (2010)": (
        "Seabold, S., & Perktold, J. (2010). Statsmodels: Econometric and statistical modeling with "
        "Python. *Proceedings of the 9th Python in Science Conference*, 92-96."),
    "Sharf, Primavera & Diener (2010)": (
        "Sharf, J., Primavera, L. H., & Diener, M. J. (2010). Dropout and therapeutic alliance: A "
        "meta-analysis of adult individual psychotherapy. *Psychotherapy: Theory, Research, Practice, "
        "Training, 47*(4), 637-645."),
    "Sidik & Jonkman (2002)": (
        "Sidik, K., & Jonkman, J. N. (2002). A simple confidence interval for meta-analysis. *Statistics "
        "in Medicine, 21*(21), 3153-3159."),
    "Stiles et al. (2004)": (
        "Stiles, W. B., Glick, M. J., Osatuke, K., Hardy, G. E., Shapiro, D. A., Agnew-Davies, R., Rees, "
        "A., & Barkham, M. (2004). Patterns of alliance development and the rupture-repair hypothesis: "
        "Are productive relationships U-shaped or V-shaped? *Journal of Counseling Psychology, 51*(1), "
        "81-92."),
    "Terwee et al. (2007)": (
        "Terwee, C. B., Bot, S. D. M., de Boer, M. R., van der Windt, D. A. W. M., Knol, D. L., Dekker, "
        "J., Bouter, L. M., & de Vet, H. C. W. (2007). Quality criteria were proposed for measurement "
        "properties of health status questionnaires. *Journal of Clinical Epidemiology, 60*(1), 34-42."),
    "Tracey & Kokotovic (1989)": (
        "Tracey, T. J., & Kokotovic, A. M. (1989). Factor structure of the Working Alliance Inventory. "
        "*Psychological Assessment, 1*(3), 207-210."),
    "Vickers & Elkin (2006)": (
        "Vickers, A. J., & Elkin, E. B. (2006). Decision curve analysis: A novel method for evaluating "
        "prediction models. *Medical Decision Making, 26*(6), 565-574."),
    "Viechtbauer (2007)": (
        "Viechtbauer, W. (2007). Confidence intervals for the amount of heterogeneity in meta-analysis. "
        "*Statistics in Medicine, 26*(1), 37-52."),
    "Wooldridge (2005)": (
        "Wooldridge, J. M. (2005). Simple solutions to the initial conditions problem in dynamic, "
        "nonlinear panel data models with unobserved heterogeneity. *Journal of Applied Econometrics, "
        "20*(1), 39-54."),
    "Zilcha-Mano et al. (2015)": (
        "Zilcha-Mano, S., Solomonov, N., Chui, H., McCarthy, K. S., Barrett, M. S., & Barber, J. P. "
        "(2015). Therapist-reported alliance: Is it really a predictor of outcome? *Journal of Counseling "
        "Psychology, 62*(4), 568-578."),
    "IntHout et al. (2014)": (
        "IntHout, J., Ioannidis, J. P. A., & Borm, G. F. (2014). The Hartung-Knapp-Sidik-Jonkman method for "
        "random effects meta-analysis is straightforward and considerably outperforms the standard "
        "DerSimonian-Laird method. *BMC Medical Research Methodology, 14*, 25."),
    "Partlett & Riley (2017)": (
        "Partlett, C., & Riley, R. D. (2017). Random effects meta-analysis: Coverage performance of 95% "
        "confidence and prediction intervals following REML estimation. *Statistics in Medicine, 36*(2), "
        "301-317."),
    "Riley et al. (2020)": (
        "Riley, R. D., Ensor, J., Snell, K. I. E., Harrell, F. E., Jr., Martin, G. P., Reitsma, J. B., "
        "Moons, K. G. M., Collins, G., & van Smeden, M. (2020). Calculating the sample size required for "
        "developing a clinical prediction model. *BMJ, 368*, m441."),
    "Röver, Knapp & Friede (2015)": (
        "Röver, C., Knapp, G., & Friede, T. (2015). Hartung-Knapp-Sidik-Jonkman approach and its "
        "modification for random-effects meta-analysis with few studies. *BMC Medical Research "
        "Methodology, 15*, 99."),
}


def cites(text: str, citation: str) -> bool:
    """Whether `text` cites a work cited as `citation` (narrative) in either form, in any of the report's
    languages: "Hatcher & Gillaspy (2006)" or, inside parentheses, "Hatcher & Gillaspy, 2006", the authors
    joined by "&", "y" (or "e") or "i" (`local_authors`)."""
    if not citation:
        return False
    forms = {citation, *(local_authors(citation, code) for code in CONJUNCTIONS)}
    forms |= {parenthetical(form, SOURCE_LANGUAGE) for form in forms}  # each keeps its conjunction
    return any(form in text for form in forms)


def _alphabetical(reference: str) -> str:
    """The sort key of a reference: APA's alphabetical order by its letters, accents aside ("Mölder" as
    "Molder")."""
    return unicodedata.normalize("NFKD", reference).encode("ascii", "ignore").decode().casefold()


def cited_references(text: str, works: Iterable[tuple[str, str]] = ()) -> list[str]:
    """The full reference of every work `text` cites (`REFERENCES`), in alphabetical order; a measure of
    `works` ((name, citation): a user's instrument, the symptom measure) cited in `text` by a citation
    the pipeline holds no reference for is listed by its name and citation, to be completed by hand."""
    cited = [reference for key, reference in REFERENCES.items() if cites(text, key)]
    cited += [_("{name}: {citation} (a user-defined instrument; complete this reference)").format(
                  name=name, citation=citation)
              for name, citation in works
              if citation and citation not in REFERENCES and (citation in text or cites(text, citation))]
    return sorted(dict.fromkeys(cited), key=_alphabetical)


class _TextReader(HTMLParser):
    """Character data outside the `hidden` elements, entities resolved."""

    def __init__(self, hidden: tuple[str, ...]) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden, self._depth = hidden, 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._depth += tag in self._hidden

    def handle_endtag(self, tag: str) -> None:
        self._depth -= tag in self._hidden and self._depth > 0

    def handle_data(self, data: str) -> None:
        if not self._depth:
            self.parts.append(data)


def visible_text(html: str, hidden: tuple[str, ...] = ("script", "style")) -> str:
    """The text of `html` as a reader sees it, whitespace collapsed ("Hatcher &amp; Gillaspy" is
    "Hatcher & Gillaspy"); without the elements `hidden`."""
    reader = _TextReader(hidden)
    reader.feed(html)
    reader.close()
    return " ".join(" ".join(reader.parts).split())


def cited_text(html: str) -> str:
    """The text whose citations a report's reference list holds: what a reader sees but the configuration
    printed as it is (<pre>), where a configured citation is a setting, not a citation of the text."""
    return visible_text(html, hidden=("script", "style", "pre"))


def reference_html(reference: str) -> str:
    """A reference (Markdown: `*italics*`) as HTML, escaped."""
    return re.sub(r"\*(.+?)\*", r"<em>\1</em>", escape(reference, quote=False))


def reference_item(reference: str) -> str:
    """A reference as an item of the report's list: a published one marked as English (`lang="en"`: it
    stays as published in a Spanish or Catalan report); a user's instrument to complete, in the report's
    language."""
    marked = ' lang="en"' if reference in REFERENCES.values() else ""
    return f"<li{marked}>{reference_html(reference)}</li>"
