"""Self-checks of chapter 1: each compares a student's answer with a reference computed here
(the exact posterior or a large simulation) and never prints the reference."""

from __future__ import annotations

import numpy as np

import hbm
from hbm.checks import CheckResult, check_close
from hbm.priors import describe_prior, validate_prior

from .exact import (exact_mu_quantiles, exact_posterior_means, exact_tau_quantiles, pooled_estimate,
                    pooled_ppc)
from .models import BDA3_PRIORS, SIM_TRUTH, simulated_schools

SENSITIVITY_PRIOR = {"dist": "HalfCauchy", "beta": 25.0}
"""The prior on tau whose posterior median the sensitivity exercise checks."""


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


def check_tau_quantiles(q025, q50, q975) -> CheckResult:
    """Exercises 1.2 and 1.4: the 2.5%, 50% and 97.5% quantiles of tau under BDA3's flat priors,
    against the exact posterior (Monte Carlo error allowed for: 0.3 + 8%)."""
    ref = exact_tau_quantiles(*_schools(), [0.025, 0.5, 0.975], priors=BDA3_PRIORS)
    return check_close("tau quantiles", [q025, q50, q975], ref, atol=0.3, rtol=0.08,
                       what="quantiles of tau (flat priors)")


def check_posterior_means(mu_mean, tau_mean) -> CheckResult:
    """Exercise 1.3: posterior means of mu and tau with the chapter's priors (mu ~ Normal(0, 5),
    tau ~ HalfCauchy(5)), against the exact posterior by quadrature, within 0.35."""
    ref = exact_posterior_means(*_schools())
    return check_close("posterior means", [mu_mean, tau_mean], [ref["mu"], ref["tau"]], atol=0.35,
                       what="posterior means of mu and tau")


def check_tau_median(tau_prior, median) -> CheckResult:
    """Exercise 1.5: the posterior median of tau under the prior the exercise asks for,
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
    """Exercise 1.6: the non-centred fit's central 90% intervals (5% and 95% quantiles) of mu and tau
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
