"""The generator of chapter 2's data: 27 schools in five districts, with their true parameters.

Called by ``python -m hbm.simulate`` (see :mod:`hbm.simulate`), which writes
``data/five_districts.csv`` and ``data/five_districts_truth.json`` bit for bit reproducibly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DISTRICT_SIZES = {"A": 9, "B": 7, "C": 5, "D": 4, "E": 2}
"""Schools per district: uneven on purpose, two districts with few schools."""

FIVE_DISTRICTS_POPULATION = {
    "mu_alpha": 2.0,  # mean district intercept: score change at zero hours (points)
    "sigma_alpha": 1.5,  # spread of district intercepts (points)
    "mu_beta": 0.35,  # mean district slope (points per hour studied)
    "sigma_beta": 0.12,  # spread of district slopes (points per hour)
    "sigma_school": 1.0,  # school-to-school scatter about the district line (points)
}
"""The population the districts are drawn from."""


def five_districts(rng: np.random.Generator, sizes: dict[str, int] | None = None) -> tuple[pd.DataFrame, dict]:
    """Draw schools in districts from a hierarchical linear model.

    District ``d`` has intercept ``alpha_d ~ Normal(mu_alpha, sigma_alpha)`` and slope
    ``beta_d ~ Normal(mu_beta, sigma_beta)``. School ``i`` in district ``d`` has
    ``hours_i ~ Uniform(5, 40)``, a true mean improvement
    ``alpha_d + beta_d hours_i + Normal(0, sigma_school)``, a standard error
    ``err_i ~ Uniform(1.5, 4)`` and an observed ``score_change ~ Normal(true, err_i)``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (not shifted by ``HBM_SEED_OFFSET``: the shipped data are fixed).
    sizes : dict, optional
        Schools per district label; default :data:`DISTRICT_SIZES` (27 schools in A to E).

    Returns
    -------
    (pandas.DataFrame, dict)
        The data (columns ``district, hours_studied, score_change, score_change_err``) and the
        true parameters.
    """
    p = FIVE_DISTRICTS_POPULATION
    sizes = dict(DISTRICT_SIZES if sizes is None else sizes)
    districts = list(sizes)
    alpha = rng.normal(p["mu_alpha"], p["sigma_alpha"], len(districts))
    beta = rng.normal(p["mu_beta"], p["sigma_beta"], len(districts))
    label = np.repeat(districts, list(sizes.values()))
    d = np.repeat(np.arange(len(districts)), list(sizes.values()))
    hours = np.round(rng.uniform(5, 40, d.size), 1)
    true_mean = alpha[d] + beta[d] * hours + rng.normal(0, p["sigma_school"], d.size)
    err = np.round(rng.uniform(1.5, 4.0, d.size), 2)
    score = true_mean + rng.normal(0, err)
    df = pd.DataFrame({"district": label, "hours_studied": hours, "score_change": score, "score_change_err": err})
    truth = {
        "description": "Simulated by hbm.simulate.five_districts; see its docstring for the model.",
        "seed": None,
        "population": p,
        "districts": districts,
        "schools_per_district": sizes,
        "alpha": dict(zip(districts, alpha.round(6).tolist())),
        "beta": dict(zip(districts, beta.round(6).tolist())),
        "school_true_mean": true_mean.round(6).tolist(),
    }
    return df, truth
