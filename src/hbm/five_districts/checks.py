"""Self-checks of chapter 2, each comparing a student's answer with a reference computed here.

The references are the quadrature posteriors of :mod:`hbm.five_districts.quadrature` for the
book's data (``hbm.data.load("five_districts")``), never the student's own posterior. Every
check returns a :class:`hbm.checks.CheckResult` whose message does not reveal the reference.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from hbm.checks import CheckResult, check_close, check_statements

POPULATION = ("mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "sigma_school")
"""The population parameters whose recovery :func:`check_true_value_inside` checks."""

WIDTH_RATIO = (0.75, 1.33)
"""Accepted ratio of a student's 94% interval width to the reference posterior's."""

END_TOLERANCE = 0.2
"""Largest distance of each end of a student's 94% interval from the reference interval's, as a
fraction of the reference interval's width."""

# "Check your understanding" (exercise 2.9): statement -> whether it is true. Each is backed by the
# worked solutions (see the notebook).
_STATEMENTS = {"a": False, "b": True, "c": False, "d": False, "e": True, "f": False}


def _data():
    from hbm import data

    return data.load("five_districts")


@lru_cache(maxsize=None)
def _posterior(pooling: str, prior_set: str = "default"):
    """Quadrature posterior of the lines for the book's data (computed once per model)."""
    from hbm.five_districts.models import PRIOR_SETS
    from hbm.five_districts.quadrature import quadrature_posterior

    return quadrature_posterior(_data(), pooling=pooling, priors=PRIOR_SETS[prior_set])


@lru_cache(maxsize=None)
def _interval(name: str) -> tuple[float, float]:
    from hbm.five_districts.quadrature import quadrature_interval

    return quadrature_interval(_data(), name, pooling="partial")


def check_district_sizes(sizes) -> CheckResult:
    """Number of schools per district, in district order A-E (a Series, dict or list)."""
    reference = _data()["district"].value_counts().sort_index()
    if isinstance(sizes, dict):
        sizes = [sizes.get(d, np.nan) for d in reference.index]
    try:
        sizes = np.asarray(sizes, dtype=float)
    except (TypeError, ValueError):
        return CheckResult("fd-sizes", False, "give the counts as a Series, dict or list of numbers")
    return check_close("fd-sizes", sizes, reference.to_numpy(), what="schools per district")


def check_pooled_slope(slope) -> CheckResult:
    """Posterior mean slope of the completely pooled model (points per hour), within 0.01."""
    reference = _posterior("complete")["lines"].loc["beta", "mean"]
    return check_close("fd-pooled-slope", slope, reference, atol=0.01, what="pooled slope")


def check_district_slopes(slopes, *, pooling: str) -> CheckResult:
    """Posterior mean slopes of districts A-E with ``pooling="none"`` or ``"partial"``, within 0.03."""
    if pooling not in ("none", "partial"):
        raise ValueError(f"pooling must be 'none' or 'partial', got {pooling!r}")
    lines = _posterior(pooling)["lines"]
    reference = lines.loc[[i for i in lines.index if i.startswith("beta[")], "mean"].to_numpy()
    label = {"none": "unpooled", "partial": "partially pooled"}[pooling]
    return check_close(f"fd-slopes-{pooling}", slopes, reference, atol=0.03, what=f"{label} district slopes")


def check_school_slopes(slopes) -> CheckResult:
    """Posterior mean slope of each of the 27 schools (file order) with partial pooling, within 0.03."""
    lines = _posterior("partial")["lines"]["mean"]
    reference = lines.loc[[f"beta[{d}]" for d in _data()["district"]]].to_numpy()
    return check_close("fd-school-slopes", slopes, reference, atol=0.03, what="per-school slopes")


def check_prior_predictive_sd(sds) -> CheckResult:
    """Prior predictive standard deviation of each school's score change (27 values, file order),
    within 10% (simulation error of 2000 prior draws allowed for)."""
    from hbm.five_districts.quadrature import prior_predictive_sd

    reference = prior_predictive_sd(_data()).to_numpy()
    return check_close("fd-prior-sd", sds, reference, rtol=0.1, what="prior predictive standard deviations")


def check_prior_sensitivity(mu_beta_means, sigma_beta_means) -> CheckResult:
    """Posterior means of mu_beta and sigma_beta under the "wide" and "heavy-tailed" prior sets of
    ``hbm.five_districts.PRIOR_SETS``: mu_beta within 0.03, sigma_beta within 10%.

    Both are dicts keyed by prior set. The population slope barely moves with the priors, so the
    spread of the slopes, which does, shows whether the refits used the sets asked for.
    """
    names = ["wide", "heavy-tailed"]
    answers = {"mu_beta": mu_beta_means, "sigma_beta": sigma_beta_means}
    if any(not isinstance(a, dict) or any(n not in a for n in names) for a in answers.values()):
        return CheckResult("fd-sensitivity", False, f"give two dicts (mu_beta, sigma_beta) with keys {names}")
    mu_ref = [_posterior("partial", n)["lines"].loc["mu_beta", "mean"] for n in names]
    mu = check_close("fd-sensitivity", [mu_beta_means[n] for n in names], mu_ref, atol=0.03,
                     what="population slopes under the alternative priors")
    if not mu:
        return mu
    sigma_ref = [_posterior("partial", n)["scales"].loc["sigma_beta", "mean"] for n in names]
    return check_close("fd-sensitivity", [sigma_beta_means[n] for n in names], sigma_ref, rtol=0.1,
                       what="spreads of the slopes (sigma_beta) under the alternative priors")


def check_true_value_inside(interval, name: str) -> CheckResult:
    """Whether a 94% posterior interval ``(low, high)`` of a population parameter (partial pooling,
    default priors) contains the simulation's true value.

    The interval must be a 94% interval of this model's posterior: its width must lie within
    :data:`WIDTH_RATIO` of the width of the reference 94% highest-density interval computed by
    quadrature (so ``(-100, 100)`` does not pass), and each end must lie within
    :data:`END_TOLERANCE` of that width of the reference interval's end (so an interval of the
    right width moved to cover the truth does not pass either).
    """
    from hbm import data

    if name not in POPULATION:
        raise ValueError(f"unknown population parameter {name!r}; choose one of {list(POPULATION)}")
    try:
        low, high = (float(v) for v in np.asarray(interval, dtype=float).ravel())
    except (TypeError, ValueError):
        return CheckResult("fd-recovery", False, "the interval must be two numbers (low, high)")
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        return CheckResult("fd-recovery", False, "the interval must be two finite numbers with low < high")
    ref_low, ref_high = _interval(name)
    ratio = (high - low) / (ref_high - ref_low)
    if not WIDTH_RATIO[0] <= ratio <= WIDTH_RATIO[1]:
        side = "wider" if ratio > 1 else "narrower"
        return CheckResult("fd-recovery", False,
                           f"your interval for {name} is much {side} than a 94% interval of the partially pooled "
                           f"model's posterior (accepted: {WIDTH_RATIO[0]:g} to {WIDTH_RATIO[1]:g} times its "
                           "width); use the 3% and 97% HDI bounds of the default-prior fit")
    if max(abs(low - ref_low), abs(high - ref_high)) > END_TOLERANCE * (ref_high - ref_low):
        return CheckResult("fd-recovery", False,
                           f"your interval for {name} does not match the 94% interval of the partially pooled "
                           f"model's posterior (tolerance: {END_TOLERANCE:.0%} of its width at each end); use "
                           "the 3% and 97% HDI bounds of the default-prior, non-centred fit")
    inside = low <= data.load_truth("five_districts")["population"][name] <= high
    verdict = "contains" if inside else "does not contain"
    return CheckResult("fd-recovery", inside, f"your 94% interval for {name} {verdict} the true value")


def check_understanding(answers) -> CheckResult:
    """Exercise 2.9: "check your understanding", a dict mapping each statement ``"a"`` to ``"f"`` to
    ``True`` (the statement is true) or ``False``. The message says how many are judged wrongly,
    not which."""
    return check_statements("fd-understanding", answers, _STATEMENTS)
