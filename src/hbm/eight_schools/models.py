"""The Eight Schools data check, the PyMC model and the simulated schools of the chapter.

The hierarchical model of Rubin (1981) and Gelman et al. (BDA3, section 5.5) is
``y_j ~ N(theta_j, sigma_j)``, ``theta_j ~ N(mu, tau)``, with the standard errors ``sigma_j``
known. Priors follow the book's one shape (:mod:`hbm.priors`): ``{"dist": "HalfCauchy", "beta": 5}``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pymc as pm

import hbm
from hbm.priors import Prior, prior_rv, resolve_priors

DEFAULT_PRIORS: dict[str, dict] = {
    "mu": {"dist": "Normal", "mu": 0.0, "sigma": 5.0},
    "tau": {"dist": "HalfCauchy", "beta": 5.0},
}
"""The chapter's priors: ``mu ~ Normal(0, 5)`` and ``tau ~ HalfCauchy(5)``."""

BDA3_PRIORS: dict[str, dict] = {"mu": {"dist": "Flat"}, "tau": {"dist": "HalfFlat"}}
"""BDA3's choice (section 5.4): flat on ``mu`` and uniform on ``tau > 0``."""

POPULATIONS = ("normal", "student_t")
"""Population distributions of the school effects ``theta``."""

SIM_TRUTH = {"mu": 5.0, "tau": 3.5, "sigma": 12.0}
"""The known parameters of the chapter's simulated-data exercise."""

SIM_SEED = 31
"""The seed of the simulated schools of the exercise (shifted by ``hbm.seed``)."""


def validate_schools(y, sigma, *, source: str = "schools") -> tuple[np.ndarray, np.ndarray]:
    """Validate estimated effects and their standard errors; return clean float copies.

    Raises
    ------
    ValueError
        Naming ``source``, the array (``y`` or ``sigma``) and the offending school (row), when the
        arrays are not one-dimensional, differ in length, hold fewer than two schools, or hold
        non-finite effects or standard errors that are not strictly positive.
    """
    y = np.array(y, dtype=float)
    sigma = np.array(sigma, dtype=float)
    if y.ndim != 1 or sigma.ndim != 1:
        raise ValueError(f"{source}: y and sigma must be one-dimensional, got shapes {y.shape} and {sigma.shape}")
    if y.shape != sigma.shape:
        raise ValueError(f"{source}: y and sigma must have the same length, got {y.size} and {sigma.size}")
    if y.size < 2:
        raise ValueError(f"{source}: need at least two schools, got {y.size}")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise ValueError(f"{source}: y contains NaN or infinite values (row {bad[0]})")
    bad = np.flatnonzero(~(np.isfinite(sigma) & (sigma > 0)))
    if bad.size:
        raise ValueError(f"{source}: sigma must be finite and strictly positive (standard errors); "
                         f"row {bad[0]} is {sigma[bad[0]]!r}")
    return y, sigma


def build_model(y, sigma, *, centred: bool, priors: Mapping[str, Prior] | None = None,
                population: str = "normal", nu: float = 4.0, schools=None) -> pm.Model:
    """The Eight Schools hierarchical model in PyMC.

    Parameters
    ----------
    y, sigma : array_like
        Estimated effects and their known standard errors (same length J >= 2, sigma > 0).
    centred : bool
        ``True``: ``theta ~ population(mu, tau)`` directly (the centred form, which has a
        funnel). ``False``: ``theta = mu + tau * z`` with ``z ~ population(0, 1)``.
    priors : mapping, optional
        Overrides of :data:`DEFAULT_PRIORS` by parameter (``"mu"``, ``"tau"``), e.g.
        ``{"tau": {"dist": "HalfNormal", "sigma": 10}}``.
    population : {"normal", "student_t"}, default "normal"
        Distribution of the school effects around mu.
    nu : float, default 4
        Degrees of freedom of the Student-t population (ignored for "normal").
    schools : sequence of str, optional
        School labels for the ``school`` coordinate; default A, B, C, ...

    Returns
    -------
    pymc.Model
        Variables ``mu``, ``tau``, ``theta`` (dim ``school``), ``z`` when non-centred,
        and the observed ``y``.
    """
    y, sigma = validate_schools(y, sigma)
    if not isinstance(centred, (bool, np.bool_)):
        raise ValueError(f"centred must be True or False, got {centred!r}")
    spec = resolve_priors(DEFAULT_PRIORS, priors)
    if population not in POPULATIONS:
        raise ValueError(f"population must be one of {POPULATIONS}, got {population!r}")
    if population == "student_t" and not (np.isfinite(nu) and nu > 0):
        raise ValueError(f"nu must be positive and finite, got {nu!r}")
    if schools is None:
        schools = [chr(ord("A") + j) for j in range(y.size)] if y.size <= 26 else list(range(y.size))
    if len(schools) != y.size:
        raise ValueError(f"schools has {len(schools)} labels for {y.size} schools")

    def pop(name, loc, scale):
        if population == "normal":
            return pm.Normal(name, mu=loc, sigma=scale, dims="school")
        return pm.StudentT(name, nu=nu, mu=loc, sigma=scale, dims="school")

    with pm.Model(coords={"school": list(schools)}) as model:
        mu = prior_rv("mu", spec["mu"])
        tau = prior_rv("tau", spec["tau"])
        if centred:
            theta = pop("theta", mu, tau)
        else:
            z = pop("z", 0.0, 1.0)
            theta = pm.Deterministic("theta", mu + tau * z, dims="school")
        pm.Normal("y", mu=theta, sigma=sigma, observed=y, dims="school")
    return model


def benchmark_model() -> tuple[pm.Model, str]:
    """The chapter's main model for the sampler benchmark: non-centred, on the Eight Schools data."""
    df = hbm.data.load("eight_schools")
    model = build_model(df["y"], df["sigma"], centred=False, schools=df["school"].tolist())
    return model, "non-centred hierarchical normal, J = 8"


def simulate_schools(n_schools: int, *, mu: float, tau: float, sigma: float, random_seed: int) -> dict:
    """Draw schools from the hierarchical model with known parameters.

    ``random_seed`` is shifted by :func:`hbm.seed`. Returns a dict with the true ``theta``,
    the observed ``y`` and the ``sigma`` array.
    """
    if n_schools < 2:
        raise ValueError(f"n_schools must be at least 2, got {n_schools}")
    if not (tau >= 0 and sigma > 0):
        raise ValueError(f"need tau >= 0 and sigma > 0, got tau={tau}, sigma={sigma}")
    rng = np.random.default_rng(hbm.seed(random_seed))
    theta = rng.normal(mu, tau, size=n_schools)
    sig = np.full(n_schools, float(sigma))
    return {"theta": theta, "y": rng.normal(theta, sig), "sigma": sig}


def simulated_schools() -> dict:
    """The simulated schools of the chapter's exercise: eight schools, :data:`SIM_TRUTH`, seed 31."""
    return simulate_schools(8, mu=SIM_TRUTH["mu"], tau=SIM_TRUTH["tau"], sigma=SIM_TRUTH["sigma"],
                            random_seed=SIM_SEED)
