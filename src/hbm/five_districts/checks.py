"""Self-checks of chapter 2, each comparing a student's answer with a reference computed here.

The references are the quadrature posteriors of :mod:`hbm.five_districts.quadrature` for the
book's data (``hbm.data.load("five_districts")``), never the student's own posterior. Every
check returns a :class:`hbm.checks.CheckResult` whose message does not reveal the reference.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from hbm.checks import CheckResult, check_close

POPULATION = ("mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "sigma_school")
"""The population parameters whose recovery :func:`check_true_value_inside` checks."""

WIDTH_RATIO = (0.75, 1.33)
"""Accepted ratio of a student's 94% interval width to the reference posterior's."""


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


def check_prior_sensitivity(mu_beta_means) -> CheckResult:
    """Posterior mean of mu_beta under the "wide" and "heavy-tailed" prior sets of
    ``hbm.five_districts.PRIOR_SETS``, within 0.03."""
    names = ["wide", "heavy-tailed"]
    if not isinstance(mu_beta_means, dict) or any(n not in mu_beta_means for n in names):
        return CheckResult("fd-sensitivity", False, f"give a dict with keys {names}")
    reference = [_posterior("partial", n)["lines"].loc["mu_beta", "mean"] for n in names]
    return check_close("fd-sensitivity", [mu_beta_means[n] for n in names], reference, atol=0.03,
                       what="population slopes under the alternative priors")


def check_true_value_inside(interval, name: str) -> CheckResult:
    """Whether a 94% posterior interval ``(low, high)`` of a population parameter (partial pooling,
    default priors) contains the simulation's true value.

    The interval must be a 94% interval of this model's posterior: its width must lie within
    :data:`WIDTH_RATIO` of the width of the reference 94% highest-density interval computed by
    quadrature (so ``(-100, 100)`` does not pass).
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
    inside = low <= data.load_truth("five_districts")["population"][name] <= high
    verdict = "contains" if inside else "does not contain"
    return CheckResult("fd-recovery", inside, f"your 94% interval for {name} {verdict} the true value")
