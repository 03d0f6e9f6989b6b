"""The posterior distribution of every school's rank: a league table with its uncertainty."""

from __future__ import annotations

import arviz as az
import pandas as pd


def school_ranks(idata: az.InferenceData, *, var_name: str = "alpha", coef: int = 0,
                 prob: float = 0.95) -> pd.DataFrame:
    """Posterior distribution of each school's rank by one of its coefficients.

    Rank 1 is the school with the **highest** coefficient (for the intercept: the best expected
    result for a pupil of average LRT in VR band 3, other covariates at zero); rank M the lowest.
    The rank is computed in every posterior draw, so its distribution carries the uncertainty of
    all the schools at once.

    Parameters
    ----------
    idata : arviz.InferenceData
        Posterior with ``var_name`` of dims (chain, draw, school, coef).
    var_name : str, default "alpha"
        The school-level variable.
    coef : int, default 0
        Which coefficient to rank (0 = intercept ``alpha[j, 1]``).
    prob : float, default 0.95
        Probability of the equal-tailed interval.

    Returns
    -------
    pandas.DataFrame
        One row per school, sorted by mean rank: ``school``, ``mean_rank``, ``median_rank``,
        ``lower`` and ``upper`` (the ends of the equal-tailed interval, as ranks). The ranks of
        every draw are :func:`rank_draws`.
    """
    ranks = rank_draws(idata, var_name=var_name, coef=coef)
    if not 0 < prob < 1:
        raise ValueError(f"prob must be between 0 and 1, got {prob}")
    tail = (1 - prob) / 2
    table = pd.DataFrame({
        "school": ranks.columns,
        "mean_rank": ranks.mean().to_numpy(),
        "median_rank": ranks.median().to_numpy(),
        "lower": ranks.quantile(tail, interpolation="lower").to_numpy(),
        "upper": ranks.quantile(1 - tail, interpolation="higher").to_numpy(),
    })
    return table.sort_values("mean_rank", kind="stable").reset_index(drop=True)


def rank_draws(idata: az.InferenceData, *, var_name: str = "alpha", coef: int = 0) -> pd.DataFrame:
    """The rank of every school in every posterior draw (1 = highest), one column per school.

    Parameters
    ----------
    idata : arviz.InferenceData
        Posterior with ``var_name`` of dims (chain, draw, school, coef).
    var_name : str, default "alpha"
    coef : int, default 0

    Returns
    -------
    pandas.DataFrame
        Rows are draws (chains stacked), columns the school labels.

    Raises
    ------
    ValueError
        If ``idata`` is not an InferenceData with a posterior holding ``var_name`` of four
        dims, or ``coef`` is out of range.
    """
    if not isinstance(idata, az.InferenceData) or "posterior" not in idata.groups():
        raise ValueError("idata must be an arviz.InferenceData with a posterior group, "
                         f"got {type(idata).__name__}")
    post = idata.posterior
    if var_name not in post:
        raise ValueError(f"the posterior has no variable {var_name!r}")
    var = post[var_name]
    if var.ndim != 4:
        raise ValueError(f"{var_name!r} must have dims (chain, draw, school, coef), got {var.dims}")
    if not 0 <= coef < var.shape[3]:
        raise ValueError(f"coef must be in 0..{var.shape[3] - 1}, got {coef}")
    values = var.values[..., coef].reshape(-1, var.shape[2])
    ranks = (-values).argsort(axis=1).argsort(axis=1) + 1
    return pd.DataFrame(ranks, columns=var[var.dims[2]].values)
