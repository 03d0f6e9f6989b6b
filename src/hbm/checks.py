"""Self-checks a student calls on their own answer.

Each check compares the student's value with the worked solution's within a
stated tolerance and returns a :class:`CheckResult` whose message says pass or
fail and why, without revealing the reference value.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a self-check; prints as one line, and is truthy when it passed."""

    name: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} [{self.name}] {self.message}"

    def _repr_html_(self) -> str:
        # Explicit text and background colours (dark text on a pale tint), so the result reads the
        # same on the book's light and dark themes and in Jupyter; long messages wrap.
        text, background, edge = ("#0f5323", "#dafbe1", "#1a7f37") if self.passed else ("#82071e", "#ffebe9", "#cf222e")
        style = (f"color:{text};background:{background};border-left:4px solid {edge};padding:0.35em 0.8em;"
                 "margin:0;font-family:monospace;white-space:pre-wrap;overflow-wrap:anywhere")
        return f'<div class="hbm-check" style="{style}">{html.escape(str(self))}</div>'

    __repr__ = __str__


def check_close(name: str, answer, reference, *, atol: float = 0.0, rtol: float = 0.0, what: str = "value") -> CheckResult:
    """Compare an answer with a reference within ``atol + rtol * |reference|``.

    Parameters
    ----------
    name : str
        Name of the check, shown in the message.
    answer : float or array_like
        The student's value(s).
    reference : float or array_like
        The reference value(s); never printed.
    atol, rtol : float
        Absolute and relative tolerance.
    what : str
        What the value is, for the message ("pooled mean", "slopes", ...).

    Returns
    -------
    CheckResult
    """
    reference = np.asarray(reference, dtype=float)
    try:
        answer = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        return CheckResult(name, False, f"the {what} must be a number or an array of numbers")
    if answer.shape != reference.shape:
        return CheckResult(name, False, f"the {what} should have shape {reference.shape}, got {answer.shape}")
    if not np.all(np.isfinite(answer)):
        return CheckResult(name, False, f"the {what} contains NaN or infinite values")
    tol = atol + rtol * np.abs(reference)
    off = np.abs(answer - reference) > tol
    tolerance = f"tolerance {atol:g}" + (f" + {rtol:.0%} relative" if rtol else "")
    if not off.any():
        return CheckResult(name, True, f"the {what} agrees with the worked solution ({tolerance})")
    where = "" if reference.ndim == 0 else f" at position(s) {np.flatnonzero(off.ravel()).tolist()}"
    return CheckResult(name, False, f"the {what} is off by more than the {tolerance}{where}; check your working")


# ---------------------------------------------------------------------------
# Chapter 1: Eight Schools
# ---------------------------------------------------------------------------


def _eight_schools():
    from hbm import data, eight_schools

    df = data.load_eight_schools()
    return eight_schools, df["y"].to_numpy(), df["sigma"].to_numpy()


def check_pooled_estimate(mean, sd) -> CheckResult:
    """Chapter 1, exercise a: the inverse-variance weighted mean and its standard error."""
    es, y, sigma = _eight_schools()
    return check_close("pooled estimate", [mean, sd], es.pooled_estimate(y, sigma), atol=0.01,
                       what="pooled mean and standard error")


def check_pooled_extremes(p_min, p_max) -> CheckResult:
    """Chapter 1, exercise a: the fractions of complete-pooling replications whose minimum is at
    most, and whose maximum is at least, the observed one (simulation error allowed for)."""
    es, y, sigma = _eight_schools()
    ref = es.pooled_predictive_check(y, sigma, 200_000, random_seed=1)
    return check_close("pooled extremes", [p_min, p_max], [ref["p_min"], ref["p_max"]], atol=0.03,
                       what="tail fractions of the replicated minimum and maximum")


def check_tau_quantiles(q025, q50, q975) -> CheckResult:
    """Chapter 1, exercise b: 2.5%, 50% and 97.5% quantiles of tau under BDA3's uniform prior
    (flat mu), from exact draws (Monte Carlo error allowed for)."""
    es, y, sigma = _eight_schools()
    ref = es.exact_tau_quantiles(y, sigma, [0.025, 0.5, 0.975])
    return check_close("tau quantiles", [q025, q50, q975], ref, atol=0.3, rtol=0.08,
                       what="quantiles of tau (uniform prior)")


def check_posterior_means(mu_mean, tau_mean) -> CheckResult:
    """Chapter 1, exercise c: posterior means of mu and tau with mu ~ Normal(0, 5) and
    tau ~ HalfCauchy(5), against the model's exact posterior by quadrature."""
    es, y, sigma = _eight_schools()
    ref = es.exact_posterior_means(y, sigma, tau_prior=es.DEFAULT_TAU_PRIOR, mu_prior=es.DEFAULT_MU_PRIOR)
    return check_close("posterior means", [mu_mean, tau_mean], [ref["mu"], ref["tau"]], atol=0.35,
                       what="posterior means of mu and tau")


def check_tau_median(tau_prior: dict, median) -> CheckResult:
    """Chapter 1, exercise e: the posterior median of tau under a given tau prior (with
    mu ~ Normal(0, 5) and a normal population), against the exact posterior on a grid."""
    es, y, sigma = _eight_schools()
    ref = es.exact_tau_quantiles(y, sigma, [0.5], tau_prior=tau_prior, mu_prior=es.DEFAULT_MU_PRIOR)[0]
    return check_close(f"tau median, {es.describe_prior(tau_prior)}", median, ref, atol=0.4, rtol=0.1,
                       what="posterior median of tau")


def check_recovery(mu_interval, tau_interval) -> CheckResult:
    """Chapter 1, exercise f: the non-centred fit's posterior intervals of mu and tau for the
    simulated schools should contain the true values (hbm.eight_schools.SIM_TRUTH)."""
    from hbm.eight_schools import SIM_TRUTH

    try:
        (mu_lo, mu_hi), (tau_lo, tau_hi) = np.asarray(mu_interval, float), np.asarray(tau_interval, float)
    except (TypeError, ValueError):
        return CheckResult("recovery", False, "give each interval as two numbers (lower, upper)")
    if not (mu_lo < mu_hi and 0 <= tau_lo < tau_hi):
        return CheckResult("recovery", False, "each interval must be (lower, upper) with lower < upper, tau >= 0")
    missed = [name for name, lo, hi in [("mu", mu_lo, mu_hi), ("tau", tau_lo, tau_hi)]
              if not lo <= SIM_TRUTH[name] <= hi]
    if missed:
        return CheckResult("recovery", False, f"the interval(s) for {', '.join(missed)} miss the true value; "
                                              "check the simulation and the fit's convergence")
    return CheckResult("recovery", True, "both intervals contain the true values used in the simulation")


# ---------------------------------------------------------------------------
# Chapter 2: Five Districts
# ---------------------------------------------------------------------------


from functools import lru_cache  # noqa: E402


@lru_cache(maxsize=None)
def _five_districts_exact(model: str):
    """Exact posterior of the lines for the book's data (computed once per model)."""
    from hbm import data, districts

    return districts.exact_posterior(data.load_five_districts(), model)["lines"]


def check_district_sizes(sizes) -> CheckResult:
    """Number of schools per district, in district order A-E (a Series, dict or list)."""
    from hbm import data

    reference = data.load_five_districts()["district"].value_counts().sort_index()
    if isinstance(sizes, dict):
        sizes = [sizes.get(d, np.nan) for d in reference.index]
    return check_close("fd-sizes", np.asarray(sizes, dtype=float), reference.to_numpy(), what="schools per district")


def check_pooled_slope(slope: float) -> CheckResult:
    """Posterior mean slope of the fully pooled model (points per hour), within 0.01."""
    reference = _five_districts_exact("pooled").loc["beta", "mean"]
    return check_close("fd-pooled-slope", slope, reference, atol=0.01, what="pooled slope")


def check_district_slopes(slopes, *, model: str) -> CheckResult:
    """Posterior mean slopes of districts A-E under the "unpooled" or "hierarchical" model, within 0.03."""
    if model not in ("unpooled", "hierarchical"):
        raise ValueError(f"model must be 'unpooled' or 'hierarchical', got {model!r}")
    exact = _five_districts_exact(model)
    reference = exact.loc[[i for i in exact.index if i.startswith("beta[")], "mean"].to_numpy()
    return check_close(f"fd-{model}-slopes", slopes, reference, atol=0.03, what=f"{model} district slopes")


def check_school_slopes(slopes) -> CheckResult:
    """Posterior mean slope of each of the 27 schools (file order) under the hierarchical model, within 0.03."""
    from hbm import data, districts

    df = data.load_five_districts()
    exact = _five_districts_exact("hierarchical")["mean"]
    reference = exact.loc[[f"beta[{d}]" for d in districts.validate(df)["district"]]].to_numpy()
    return check_close("fd-school-slopes", slopes, reference, atol=0.03, what="per-school slopes")


def check_prior_predictive_sd(sds) -> CheckResult:
    """Prior predictive standard deviation of each school's score change (27 values, file order), within 10%."""
    from hbm import data, districts

    reference = districts.prior_predictive_sd(data.load_five_districts()).to_numpy()
    return check_close("fd-prior-sd", sds, reference, rtol=0.1, what="prior predictive standard deviations")


def check_prior_sensitivity(mu_beta_means: dict) -> CheckResult:
    """Posterior mean of mu_beta under the "wide" and "heavy-tailed" prior sets of ``hbm.districts.PRIOR_SETS``, within 0.03."""
    from hbm import data, districts

    names = ["wide", "heavy-tailed"]
    if not isinstance(mu_beta_means, dict) or any(n not in mu_beta_means for n in names):
        return CheckResult("fd-sensitivity", False, f"give a dict with keys {names}")
    df = data.load_five_districts()
    reference = [districts.exact_posterior(df, "hierarchical", priors=districts.PRIOR_SETS[n])["lines"].loc["mu_beta", "mean"]
                 for n in names]
    return check_close("fd-sensitivity", [mu_beta_means[n] for n in names], reference, atol=0.03,
                       what="population slopes under the alternative priors")


def check_true_value_inside(interval, name: str) -> CheckResult:
    """Whether the simulation's true value of a population parameter lies inside ``interval = (low, high)``."""
    from hbm import data

    population = data.load_truth("five_districts")["population"]
    if name not in population:
        raise ValueError(f"unknown population parameter {name!r}; choose one of {list(population)}")
    try:
        low, high = (float(v) for v in np.asarray(interval, dtype=float).ravel())
    except (TypeError, ValueError):
        return CheckResult("fd-recovery", False, "the interval must be two numbers (low, high)")
    inside = low <= population[name] <= high
    verdict = "contains" if inside else "does not contain"
    return CheckResult("fd-recovery", inside, f"your interval for {name} {verdict} the true value")


# ---------------------------------------------------------------------------
# Chapter 3: Dyson Spheres
# ---------------------------------------------------------------------------


def _dyson():
    from hbm import data, dyson

    df = data.load_dyson_spheres()
    return df, dyson


def check_rel_amplitude_estimates(estimates) -> CheckResult:
    """Excess-variance relative amplitudes of the eight objects, in object order (DS-01 first)."""
    df, dyson = _dyson()
    reference = dyson.light_curve_summary(df)["rel_amplitude_estimate"].to_numpy()
    return check_close("ds-amplitudes", estimates, reference, atol=0.005, what="relative amplitude estimates")


def check_top_frequencies(frequencies) -> CheckResult:
    """Highest Lomb-Scargle peak of each object (cycles/day), in object order."""
    df, dyson = _dyson()
    reference = dyson.top_peaks(df, n_peaks=1)["frequency"].to_numpy()
    return check_close("ds-top-peaks", frequencies, reference, atol=0.002, what="top-peak frequencies")


def _exact_frequency_summaries():
    df, dyson = _dyson()
    windows = dyson.frequency_windows(df)
    rows = []
    for name, g in df.groupby("object_id"):
        f = np.linspace(windows.loc[name, "lower"], windows.loc[name, "upper"], 4001)
        density = dyson.frequency_posterior(g["time"], g["flux"], g["flux_err"], f) / f
        cdf = np.cumsum(density) / density.sum()
        rows.append((np.sum(f * density) / density.sum(), *np.interp([0.03, 0.97], cdf, f)))
    return np.array(rows), df, dyson, windows


def check_frequency_means(means) -> CheckResult:
    """Posterior mean frequency of each object (cycles/day), in object order.

    The reference is the exact single-object posterior in the object's window
    (flat priors on the sinusoid's linear coefficients, log-uniform frequency);
    a hierarchical fit agrees with it to well within the tolerance.
    """
    summaries, *_ = _exact_frequency_summaries()
    return check_close("ds-frequency-means", means, summaries[:, 0], atol=0.001,
                       what="posterior mean frequencies")


def check_frequency_intervals(lower, upper) -> CheckResult:
    """Lower and upper ends of each object's 94% posterior frequency interval, in object order.

    The reference is the exact single-object posterior; a hierarchical fit's
    intervals differ from it by up to about one posterior sd, hence the tolerance.
    """
    summaries, *_ = _exact_frequency_summaries()
    try:
        answer = np.concatenate([np.asarray(lower, float), np.asarray(upper, float)])
    except (TypeError, ValueError):
        return CheckResult("ds-frequency-intervals", False, "the interval ends must be arrays of numbers")
    return check_close("ds-frequency-intervals", answer, np.concatenate([summaries[:, 1], summaries[:, 2]]),
                       atol=0.003, what="94% frequency interval ends")


def check_window_mass(masses) -> CheckResult:
    """Posterior probability (no pooling, log-uniform frequency) that each frequency is in its window."""
    df, dyson = _dyson()
    reference = dyson.window_mass(df, dyson.frequency_windows(df)).to_numpy()
    return check_close("ds-window-mass", masses, reference, atol=0.005, what="window probabilities")


# ---------------------------------------------------------------------------
# Chapter 4: Cepheids
# ---------------------------------------------------------------------------


def check_wesenheit(m_W, sigma_W) -> CheckResult:
    """Check the Wesenheit magnitudes and their uncertainties of all 1858 Cepheids.

    Parameters
    ----------
    m_W, sigma_W : array_like
        ``H - 0.386 (V - I)`` and its uncertainty, in the row order of
        :func:`hbm.data.load_cepheids` (mag).
    """
    from hbm.cepheids import wesenheit
    from hbm.data import load_cepheids

    reference = wesenheit(load_cepheids())
    for name, answer in (("m_W", m_W), ("sigma_W", sigma_W)):
        try:
            answer = np.asarray(answer, dtype=float)
        except (TypeError, ValueError):
            return CheckResult("wesenheit", False, f"{name} must be an array of numbers")
        ref = reference[name].to_numpy()
        if answer.shape != ref.shape:
            return CheckResult("wesenheit", False, f"{name} should have one value per Cepheid, shape {ref.shape}, got {answer.shape}")
        off = ~(np.abs(answer - ref) <= 1e-6)
        if off.any():
            return CheckResult("wesenheit", False, f"{name} differs from the worked solution for {off.sum()} of {off.size} "
                               f"Cepheids (first at row {np.flatnonzero(off)[0]}); check your formula")
    return CheckResult("wesenheit", True, "m_W and sigma_W agree with the worked solution (tolerance 1e-06 mag)")


def _reference_distance_moduli():
    from hbm.cepheids import ANCHOR, ANCHOR_MU, pooled_least_squares, prepare
    from hbm.data import load_cepheids

    exact = pooled_least_squares(prepare(load_cepheids()))["mean"]
    zp = exact[exact.index.str.startswith("zp[")]
    zp.index = zp.index.str[3:-1]
    return zp - zp[ANCHOR] + ANCHOR_MU, exact["slope"]


def check_population_slope(slope) -> CheckResult:
    """Check a population (or pooled) slope of the Leavitt law fitted to all 22 hosts.

    The reference is the exact posterior mean of the pooled model without
    intrinsic scatter; a partially pooled population slope lies within the
    tolerance of 0.1 mag per dex.
    """
    _, reference = _reference_distance_moduli()
    return check_close("population_slope", slope, reference, atol=0.1, what="slope (mag per dex of period)")


def check_distance_moduli(mu) -> CheckResult:
    """Check distance moduli of any of the 22 hosts, anchored on NGC 4258.

    Parameters
    ----------
    mu : dict or pandas.Series
        Posterior mean distance modulus (mag) by host name, e.g.
        ``{"M101": 29.2, "N4424": 30.8}``.

    Notes
    -----
    The tolerance, 0.1 mag, accepts models with a shared or partially pooled
    slope; the reference is the pooled model's exact posterior.
    """
    import pandas as pd

    reference, _ = _reference_distance_moduli()
    try:
        mu = pd.Series(mu, dtype=float)
    except (TypeError, ValueError):
        return CheckResult("distance_moduli", False, "give the distance moduli as a dict or Series of numbers by host")
    unknown = [h for h in mu.index if h not in reference.index]
    if unknown or mu.empty:
        return CheckResult("distance_moduli", False,
                           f"unknown host name(s) {unknown}; use the names in the data: {list(reference.index)}")
    return check_close("distance_moduli", mu.to_numpy(), reference[mu.index].to_numpy(), atol=0.1,
                       what=f"distance moduli of {list(mu.index)}")


def check_cluster_distances(distances) -> CheckResult:
    """Check the distances (pc) of the nine Gaia DR2 open clusters.

    Parameters
    ----------
    distances : dict or pandas.Series
        Posterior mean or median distance in parsec by cluster name (or an
        astropy Quantity-valued mapping converted to pc).

    Notes
    -----
    The reference is the maximum-likelihood distance of each cluster under
    the same star-level likelihood; the tolerance is 0.5%.
    """
    import pandas as pd

    from hbm.cepheids import cluster_distance_mle, prepare_clusters
    from hbm.data import load_gaia_clusters

    reference = cluster_distance_mle(prepare_clusters(load_gaia_clusters()))
    try:
        distances = pd.Series(distances, dtype=float)
    except (TypeError, ValueError):
        return CheckResult("cluster_distances", False, "give the distances as a dict or Series of numbers (pc) by cluster")
    if sorted(distances.index) != sorted(reference.index):
        return CheckResult("cluster_distances", False, f"give one distance for each cluster: {list(reference.index)}")
    return check_close("cluster_distances", distances[reference.index].to_numpy(), reference.to_numpy(), rtol=0.005,
                       what="cluster distances (pc)")


# ---------------------------------------------------------------------------
# Chapter 5: Ranking London schools
# ---------------------------------------------------------------------------


def check_schools_posterior(idata, *, source: str = "OpenBUGS-3.2.3") -> CheckResult:
    """Chapter 5: posterior means of the 13 published nodes (beta[1..8], gamma[1..3], phi, theta)
    within 0.25 published posterior sd of the published BUGS run."""
    from hbm import data, rankings

    try:
        table = rankings.compare_with_published(idata, data.load_london_published(), source=source)
    except (ValueError, KeyError, AttributeError, IndexError) as err:
        return CheckResult("Schools posterior", False, f"could not read the posterior: {err}")
    return check_close("Schools posterior", table["z"].to_numpy(), np.zeros(len(table)), atol=0.25,
                       what="posterior means (in published posterior sds) of the 13 BUGS nodes")


def check_school_ranks(ranks, idata) -> CheckResult:
    """Chapter 5: mean rank of each school's intercept (1 = highest) from the posterior ``idata``."""
    import pandas as pd

    from hbm import rankings

    if not isinstance(ranks, pd.DataFrame) or not {"school", "mean_rank"} <= set(ranks.columns):
        return CheckResult("school ranks", False, "ranks must be a DataFrame with columns 'school' and 'mean_rank'")
    if ranks["school"].duplicated().any():
        return CheckResult("school ranks", False, "ranks must have one row per school (a school appears twice)")
    try:
        ref = rankings.school_ranks(idata).set_index("school")["mean_rank"].sort_index()
    except ValueError as err:
        return CheckResult("school ranks", False, f"could not read the posterior: {err}")
    got = ranks.set_index("school")["mean_rank"].reindex(ref.index)
    return check_close("school ranks", got.to_numpy(), ref.to_numpy(), atol=0.01, what="mean ranks")


def check_slope_sd(sd_slope_wishart, sd_slope_lkj, idata_wishart, idata_lkj) -> CheckResult:
    """Chapter 5: posterior medians of the between-school sd of the LRT slope under the Wishart
    prior (from ``Sigma``) and the LKJ prior (from ``sigma_alpha``), within 2%."""
    try:
        sigma = idata_wishart.posterior["Sigma"].values[..., 1, 1]
        ref = [np.median(np.sqrt(sigma)), np.median(idata_lkj.posterior["sigma_alpha"].values[..., 1])]
    except (KeyError, AttributeError, IndexError) as err:
        return CheckResult("slope sd", False, f"could not read the posteriors: {err}")
    return check_close("slope sd", [sd_slope_wishart, sd_slope_lkj], ref, rtol=0.02,
                       what="between-school sds of the LRT slope (Wishart, LKJ)")


def check_gibbs_agreement(idata_gibbs, idata_nuts) -> CheckResult:
    """Chapter 5: the hand-written sampler's means of the 13 nodes within 0.25 posterior sd of NUTS'."""
    from hbm import rankings

    try:
        gibbs = rankings.bugs_summary(idata_gibbs)
    except (ValueError, KeyError, AttributeError, IndexError) as err:
        return CheckResult("Gibbs sampler", False, f"could not read the Gibbs posterior: {err}")
    nuts = rankings.bugs_summary(idata_nuts)
    z = ((gibbs["mean"] - nuts["mean"]) / nuts["sd"]).to_numpy()
    return check_close("Gibbs sampler", z, np.zeros(len(z)), atol=0.25,
                       what="Gibbs posterior means (in NUTS posterior sds) of the 13 nodes")
