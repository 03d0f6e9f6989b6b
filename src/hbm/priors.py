"""Priors in one shape for every chapter: a dict naming a PyMC distribution and its parameters.

A prior is written ``{"dist": "HalfNormal", "sigma": 0.25}``: ``dist`` is the name of a PyMC
distribution and the other keys are that distribution's own (PyMC) parameter names. A model
builder takes ``priors={"sigma_beta": {...}, ...}``, a mapping from parameter name to prior, that
overrides the chapter's ``DEFAULT_PRIORS`` entry by entry. Exact (quadrature) answers evaluate
the same priors with :func:`prior_logpdf`, so a model and its exact reference cannot disagree
about the prior.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

Prior = Mapping[str, Any]
"""``{"dist": <PyMC distribution name>, <parameter>: <value>, ...}``."""

# dist -> (PyMC parameter names, a function of those parameters giving a frozen scipy distribution
# or None for the improper flat priors)
FAMILIES: dict[str, tuple[tuple[str, ...], Any]] = {
    "Normal": (("mu", "sigma"), lambda mu, sigma: stats.norm(mu, sigma)),
    "StudentT": (("nu", "mu", "sigma"), lambda nu, mu, sigma: stats.t(nu, mu, sigma)),
    "Cauchy": (("alpha", "beta"), lambda alpha, beta: stats.cauchy(alpha, beta)),
    "HalfNormal": (("sigma",), lambda sigma: stats.halfnorm(scale=sigma)),
    "HalfCauchy": (("beta",), lambda beta: stats.halfcauchy(scale=beta)),
    "HalfStudentT": (("nu", "sigma"), lambda nu, sigma: _HalfT(nu, sigma)),
    "Exponential": (("lam",), lambda lam: stats.expon(scale=1 / lam)),
    "Gamma": (("alpha", "beta"), lambda alpha, beta: stats.gamma(alpha, scale=1 / beta)),
    "InverseGamma": (("alpha", "beta"), lambda alpha, beta: stats.invgamma(alpha, scale=beta)),
    "LogNormal": (("mu", "sigma"), lambda mu, sigma: stats.lognorm(sigma, scale=np.exp(mu))),
    "Uniform": (("lower", "upper"), lambda lower, upper: stats.uniform(lower, upper - lower)),
    "Flat": ((), None),
    "HalfFlat": ((), None),
}
"""The prior families understood everywhere, with their PyMC parameter names."""

POSITIVE = {"HalfNormal", "HalfCauchy", "HalfStudentT", "Exponential", "Gamma", "InverseGamma", "LogNormal",
            "HalfFlat"}
"""Families whose support is the positive half-line (fit for scale parameters)."""


class _HalfT:
    """Half-Student-t with scale ``sigma`` (scipy has no frozen one)."""

    def __init__(self, nu, sigma):
        self._t = stats.t(nu, 0.0, sigma)

    def logpdf(self, x):
        x = np.asarray(x, float)
        return np.where(x >= 0, np.log(2.0) + self._t.logpdf(x), -np.inf)

    def ppf(self, q):
        return self._t.ppf(0.5 + 0.5 * np.asarray(q, float))


def validate_prior(prior: Prior, *, name: str = "prior", positive: bool = False) -> dict:
    """Validate one prior and return it as a plain dict with float parameters.

    Parameters
    ----------
    prior : mapping
        ``{"dist": "HalfCauchy", "beta": 5}`` and the like (see :data:`FAMILIES`).
    name : str
        The parameter the prior is for, used in error messages.
    positive : bool
        Require a family on the positive half-line (for a scale parameter).

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        Naming the parameter, when the family is unknown, a parameter is missing, extra,
        not finite or out of range, or a scale prior allows negative values.
    """
    if not isinstance(prior, Mapping) or "dist" not in prior:
        raise ValueError(f"the prior of {name!r} must be a dict like {{'dist': 'HalfNormal', 'sigma': 1.0}}, "
                         f"got {prior!r}")
    dist = prior["dist"]
    if dist not in FAMILIES:
        raise ValueError(f"the prior of {name!r}: unknown distribution {dist!r}; choose one of {sorted(FAMILIES)}")
    expected = FAMILIES[dist][0]
    params = {k: v for k, v in prior.items() if k != "dist"}
    if set(params) != set(expected):
        raise ValueError(f"the prior of {name!r}: {dist} takes exactly the parameters {list(expected)}, "
                         f"got {sorted(params)}")
    for key, value in params.items():
        if not isinstance(value, (int, float, np.number)) or not np.isfinite(value):
            raise ValueError(f"the prior of {name!r}: {dist} parameter {key!r} must be a finite number, got {value!r}")
        if key not in ("mu", "alpha" if dist == "Cauchy" else "", "lower", "upper") and value <= 0:
            raise ValueError(f"the prior of {name!r}: {dist} parameter {key!r} must be positive, got {value!r}")
    if dist == "Uniform" and not params["lower"] < params["upper"]:
        raise ValueError(f"the prior of {name!r}: Uniform needs lower < upper, got {params}")
    if positive and not (dist in POSITIVE or (dist == "Uniform" and params["lower"] >= 0)):
        raise ValueError(f"the prior of {name!r} is a scale: it needs a distribution on (0, inf) such as "
                         f"HalfNormal, HalfCauchy or Exponential, got {dist}")
    return {"dist": dist, **{k: float(v) for k, v in params.items()}}


def resolve_priors(defaults: Mapping[str, Prior], priors: Mapping[str, Prior] | None = None) -> dict[str, dict]:
    """Override a builder's default priors entry by entry, and validate every one.

    Parameters
    ----------
    defaults : mapping
        Parameter name -> prior; the chapter's ``DEFAULT_PRIORS``. Parameters whose name
        starts with ``sigma`` or ``tau`` are scales and need a positive family.
    priors : mapping, optional
        The user's overrides; a name that is not in ``defaults`` is an error.

    Returns
    -------
    dict
        Parameter name -> validated prior.
    """
    priors = dict(priors or {})
    unknown = sorted(set(priors) - set(defaults))
    if unknown:
        raise ValueError(f"unknown prior(s) {unknown}; this model's priors are {list(defaults)}")
    return {name: validate_prior(priors.get(name, spec), name=name, positive=name.startswith(("sigma", "tau")))
            for name, spec in defaults.items()}


def prior_rv(name: str, prior: Prior, **kwargs):
    """Create the PyMC random variable ``name`` with this prior (inside a model context).

    ``kwargs`` (``dims``, ``shape``, ...) are passed to the PyMC distribution.
    """
    import pymc as pm

    spec = validate_prior(prior, name=name)
    params = {k: v for k, v in spec.items() if k != "dist"}
    return getattr(pm, spec["dist"])(name, **params, **kwargs)


def prior_logpdf(prior: Prior, x) -> np.ndarray:
    """Log density of the prior at ``x`` (0 for the flat priors on their support), with scipy.

    Used by the exact and quadrature answers, so they evaluate the same prior as the model.
    """
    spec = validate_prior(prior)
    x = np.asarray(x, dtype=float)
    params = [spec[k] for k in FAMILIES[spec["dist"]][0]]
    if spec["dist"] == "Flat":
        return np.zeros_like(x)
    if spec["dist"] == "HalfFlat":
        return np.where(x > 0, 0.0, -np.inf)
    return np.asarray(FAMILIES[spec["dist"]][1](*params).logpdf(x), dtype=float)


def prior_quantile(prior: Prior, q) -> np.ndarray:
    """Quantiles of a proper prior (for plotting ranges and prior summaries)."""
    spec = validate_prior(prior)
    if FAMILIES[spec["dist"]][1] is None:
        raise ValueError(f"{spec['dist']} is improper: it has no quantiles")
    params = [spec[k] for k in FAMILIES[spec["dist"]][0]]
    return np.asarray(FAMILIES[spec["dist"]][1](*params).ppf(q), dtype=float)


def describe_prior(prior: Prior) -> str:
    """A short label such as ``HalfCauchy(5)`` for tables and plots."""
    spec = validate_prior(prior)
    return f"{spec['dist']}({', '.join(f'{v:g}' for k, v in spec.items() if k != 'dist')})"
