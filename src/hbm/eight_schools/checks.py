"""Self-checks of chapter 1: each compares a student's answer with a reference computed here
(the exact posterior or a large simulation) and never prints the reference."""

from __future__ import annotations

import numpy as np

import hbm
from hbm.checks import CheckResult, check_close, check_statements
from hbm.priors import describe_prior, validate_prior

from .exact import (exact_mu_quantiles, exact_posterior_means, exact_tau_quantiles, pooled_estimate,
                    pooled_ppc, tau_posterior)
from .models import BDA3_PRIORS, SIM_TRUTH, simulated_schools

SENSITIVITY_PRIOR = {"dist": "HalfCauchy", "beta": 25.0}
"""The prior on tau whose posterior median the sensitivity exercise checks."""

DENSITY_TOLERANCE = 0.02
"""Largest difference allowed between a student's normalised p(tau | y) and the exact one, as a
fraction of the exact density's peak (leaving out the factor V_mu^(1/2) is off by about 17%)."""

# "Check your understanding" (exercise 1.8): statement -> whether it is true. Each is backed by an
# assertion of the worked solutions (see the notebook).
_STATEMENTS = {"a": False, "b": True, "c": False, "d": True, "e": False, "f": False}


def _schools():
    df = hbm.data.load("eight_schools")
    return df["y"].to_numpy(float), df["sigma"].to_numpy(float)


def check_pooled_estimate(pooled_mean, pooled_sd) -> CheckResult:
    """Exercise 1.1: the inverse-variance weighted mean and its standard error, within 0.01."""
    ref = pooled_estimate(*_schools())
    return check_close("pooled estimate", [pooled_mean, pooled_sd], ref, atol=0.01,
                       what="pooled mean and standard error")


def check_pooled_extremes(p_min, p_max) -> CheckResult:
    """Exercise 1.1: the fractions of complete-pooling replications whose minimum is at most, and
    whose maximum is at least, the observed one, within 0.03 of a 200,000-replication reference."""
    ref = pooled_ppc(*_schools(), 200_000, random_seed=1)
    return check_close("pooled extremes", [p_min, p_max], [ref["p_min"], ref["p_max"]], atol=0.03,
                       what="tail fractions of the replicated minimum and maximum")


def check_tau_density(tau_values, tau_density) -> CheckResult:
    """Exercise 1.2: the marginal posterior p(tau | y) under BDA3's flat priors on a grid.

    ``tau_values`` is the student's grid (increasing, at least 50 points, from at most 1 to at
    least 30) and ``tau_density`` their density at those values. Both the answer and the exact
    density (:func:`~.exact.tau_posterior`) are normalised over the student's grid (trapezoid
    rule) and must agree within :data:`DENSITY_TOLERANCE` of the exact density's peak.
    """
    name = "p(tau | y)"
    try:
        tau, dens = np.asarray(tau_values, float), np.asarray(tau_density, float)
    except (TypeError, ValueError):
        return CheckResult(name, False, "give tau_values and tau_density as arrays of numbers")
    if tau.ndim != 1 or dens.shape != tau.shape:
        return CheckResult(name, False, "give tau_density as a 1-D array with one value per entry of tau_values")
    if (tau.size < 50 or not np.all(np.isfinite(tau)) or np.any(np.diff(tau) <= 0) or not 0 <= tau[0] <= 1
            or tau[-1] < 30):
        return CheckResult(name, False, "tau_values must be an increasing grid of at least 50 points that "
                                        "starts between 0 and 1 and reaches at least 30")
    if not np.all(np.isfinite(dens)) or np.any(dens < 0) or not np.any(dens > 0):
        return CheckResult(name, False, "tau_density must be finite, non-negative and not all zero "
                                        "(work with logarithms and subtract the maximum before exponentiating)")
    ref = tau_posterior(*_schools(), tau, priors=BDA3_PRIORS)
    ref = ref / np.trapezoid(ref, tau)
    dens = dens / np.trapezoid(dens, tau)
    peak = ref.max()
    return check_close(name, dens / peak, ref / peak, atol=DENSITY_TOLERANCE,
                       what="density (normalised over your grid, in units of the exact density's peak)")


def check_tau_quantiles(q025, q50, q975) -> CheckResult:
    """Exercises 1.3 and 1.5: the 2.5%, 50% and 97.5% quantiles of tau under BDA3's flat priors,
    against the exact posterior (Monte Carlo error allowed for: 0.3 + 8%)."""
    ref = exact_tau_quantiles(*_schools(), [0.025, 0.5, 0.975], priors=BDA3_PRIORS)
    return check_close("tau quantiles", [q025, q50, q975], ref, atol=0.3, rtol=0.08,
                       what="quantiles of tau (flat priors)")


def check_posterior_means(mu_mean, tau_mean) -> CheckResult:
    """Exercise 1.4: posterior means of mu and tau with the chapter's priors (mu ~ Normal(0, 5),
    tau ~ HalfCauchy(5)), against the exact posterior by quadrature, within 0.35."""
    ref = exact_posterior_means(*_schools())
    return check_close("posterior means", [mu_mean, tau_mean], [ref["mu"], ref["tau"]], atol=0.35,
                       what="posterior means of mu and tau")


def check_tau_median(tau_prior, median) -> CheckResult:
    """Exercise 1.6: the posterior median of tau under the prior the exercise asks for,
    ``HalfCauchy(25)`` (:data:`SENSITIVITY_PRIOR`), with mu ~ Normal(0, 5) and a normal population.

    ``tau_prior`` is the prior the student used; the check fails unless it is the one asked for,
    and compares the median with the exact posterior's under that prior (0.4 + 10%).
    """
    name = "tau median, " + describe_prior(SENSITIVITY_PRIOR)
    try:
        used = validate_prior(tau_prior, name="tau", positive=True)
    except ValueError as err:
        return CheckResult(name, False, f"could not read the prior you used: {err}")
    if used != SENSITIVITY_PRIOR:
        return CheckResult(name, False, f"the exercise asks for the median under {describe_prior(SENSITIVITY_PRIOR)}"
                                        f", but the prior you passed is {describe_prior(used)}")
    ref = exact_tau_quantiles(*_schools(), [0.5], priors={"tau": SENSITIVITY_PRIOR})[0]
    return check_close(name, median, ref, atol=0.4, rtol=0.1, what="posterior median of tau")


def check_recovery(mu_interval, tau_interval) -> CheckResult:
    """Exercise 1.7: the non-centred fit's central 90% intervals (5% and 95% quantiles) of mu and tau
    for the simulated schools (``simulated_schools()``: seed 31, :data:`~.models.SIM_TRUTH`).

    The reference is the exact posterior of the same simulated schools with the chapter's priors:
    each end must lie within 15% of the reference interval's width of the reference end, and no
    interval may be more than 30% wider than the reference (so a very wide interval, which would
    contain any truth, fails).
    """
    name = "recovery"
    try:
        intervals = {"mu": np.asarray(mu_interval, float), "tau": np.asarray(tau_interval, float)}
    except (TypeError, ValueError):
        return CheckResult(name, False, "give each interval as two numbers (lower, upper)")
    if any(v.shape != (2,) or not np.all(np.isfinite(v)) or not v[0] < v[1] for v in intervals.values()):
        return CheckResult(name, False, "give each interval as two finite numbers (lower, upper), lower < upper")
    sim = simulated_schools()
    ref = {"mu": exact_mu_quantiles(sim["y"], sim["sigma"], [0.05, 0.95]),
           "tau": exact_tau_quantiles(sim["y"], sim["sigma"], [0.05, 0.95])}
    too_wide = [k for k, v in intervals.items() if np.ptp(v) > 1.3 * np.ptp(ref[k])]
    if too_wide:
        return CheckResult(name, False, f"the interval(s) for {', '.join(too_wide)} are more than 30% wider than "
                                        "the exact posterior's 90% interval; use the 5% and 95% quantiles")
    off = [k for k, v in intervals.items() if np.any(np.abs(v - ref[k]) > 0.15 * np.ptp(ref[k]))]
    if off:
        return CheckResult(name, False, f"the interval(s) for {', '.join(off)} do not match the exact posterior's "
                                        "90% interval (tolerance: 15% of its width); check the simulation, the "
                                        "priors and the fit's convergence")
    covered = [k for k, v in intervals.items() if v[0] <= SIM_TRUTH[k] <= v[1]]
    return CheckResult(name, True, "both 90% intervals agree with the exact posterior of the simulated schools "
                                   f"(15% of its width); {len(covered)} of 2 contain the true value")


def check_understanding(answers) -> CheckResult:
    """Exercise 1.8: "check your understanding", a dict mapping each statement ``"a"`` to ``"f"`` to
    ``True`` (the statement is true) or ``False``. The message says how many are judged wrongly,
    not which."""
    return check_statements("check your understanding", answers, _STATEMENTS)
