"""The student exercise: a hierarchical model of open-cluster distances from Gaia DR2 parallaxes."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from hbm import data as hbm_data
from hbm.priors import Prior, prior_rv, resolve_priors, validate_prior

PARALLAX_ERROR_FLOOR_MAS = 0.01
"""Smallest parallax error used in a likelihood (mas). Gaia DR2 errors are
tabulated to 0.001 mas, so a few bright stars show 0.000."""

GAIA_DR2_ZERO_POINT_MAS = -0.029
"""Global parallax zero point of Gaia DR2 from quasars (Lindegren et al. 2018), mas:
a measured parallax is the true one plus this offset."""

DEFAULT_PRIORS: dict[str, Prior] = {
    "log_plx_pop": {"dist": "Normal", "mu": float(np.log(5.0)), "sigma": 1.5},
    "log_plx_sd": {"dist": "HalfNormal", "sigma": 1.0},
    "depth": {"dist": "HalfNormal", "sigma": 2.0},
    "zero_point": {"dist": "Normal", "mu": GAIA_DR2_ZERO_POINT_MAS, "sigma": 0.01},
}
"""Priors of :func:`build_cluster_model`: population of log parallaxes (clusters within a few
hundred pc, parallaxes of a few mas), each cluster's depth (mas), and the optional global
zero-point offset (mas)."""

COLUMNS = {"cluster": "label", "parallax_mas": "real", "parallax_error_mas": "nonnegative"}
"""Columns of the Gaia table that the model uses (see :func:`hbm.data.validate`)."""


def validate_clusters(df: pd.DataFrame, *, error_floor: float = PARALLAX_ERROR_FLOOR_MAS,
                      source: str = "Gaia cluster table") -> pd.DataFrame:
    """Validate Gaia cluster members and apply an error floor.

    Parameters
    ----------
    df : pandas.DataFrame
        As returned by ``hbm.data.load("gaia_clusters")``.
    error_floor : float, default 0.01
        Parallax errors below this (mas) are raised to it.
    source : str
        What the table is, for error messages.

    Returns
    -------
    pandas.DataFrame
        A new table: ``cluster`` (categorical, clusters sorted by name),
        ``parallax`` and ``parallax_error`` (mas), one row per star.

    Raises
    ------
    ValueError
        Naming the source, column and row, if a column is missing or a value bad;
        or if ``error_floor`` is not positive.
    """
    if not error_floor > 0:
        raise ValueError(f"error_floor must be positive (a zero error makes the likelihood infinite), "
                         f"got {error_floor}")
    clean = hbm_data.validate(df, COLUMNS, source=source, label="cluster")
    clusters = sorted(pd.unique(clean["cluster"]))
    return pd.DataFrame({
        "cluster": pd.Categorical(clean["cluster"], categories=clusters),
        "parallax": clean["parallax_mas"].to_numpy(),
        "parallax_error": np.maximum(clean["parallax_error_mas"].to_numpy(), error_floor),
    })


def build_cluster_model(data: pd.DataFrame, *, zero_point: bool = False,
                        priors: Mapping[str, Prior] | None = None) -> pm.Model:
    """Hierarchical model of open-cluster parallaxes (and so distances) from their members.

    Stars within clusters: a member's measured parallax is
    ``Normal(parallax[c] + offset, sqrt(error**2 + depth[c]**2))``, where ``depth[c]``
    (mas) is the spread of the members' true parallaxes, i.e. the cluster's
    extent along the line of sight, and ``offset`` is 0 or the Gaia zero point.
    Clusters within a population of nearby clusters:
    ``log parallax[c] ~ Normal(log_plx_pop, log_plx_sd)`` (the same as a log-normal
    population of distances). Written centred: hundreds of members pin each cluster
    down, the regime where the centred form samples well.

    Parameters
    ----------
    data : pandas.DataFrame
        Output of :func:`validate_clusters`.
    zero_point : bool, default False
        Add a global parallax offset ``zero_point`` (mas) with the ``zero_point`` prior
        (Gaia DR2: about -0.029 mas, Lindegren et al. 2018). The data cannot measure it
        (it trades off against every cluster's parallax), so it carries its prior's
        uncertainty into the distances: a model for accuracy rather than precision.
    priors : mapping, optional
        Overrides of :data:`DEFAULT_PRIORS`.

    Returns
    -------
    pymc.Model
        With ``parallax`` (mas, dims ``cluster``), ``depth`` (mas), the population
        parameters ``log_plx_pop`` and ``log_plx_sd``, optionally ``zero_point``;
        observed ``parallax_obs`` (dims ``star``).
    """
    p = resolve_priors(DEFAULT_PRIORS, priors)
    for name in ("log_plx_sd", "depth"):
        validate_prior(p[name], name=name, positive=True)
    clean = hbm_data.validate(data, {"cluster": "label", "parallax": "real", "parallax_error": "positive"},
                              source="model input (validate_clusters output)", label="cluster")
    clusters = (list(data["cluster"].cat.categories) if isinstance(data["cluster"].dtype, pd.CategoricalDtype)
                else sorted(pd.unique(clean["cluster"])))
    idx = pd.Categorical(clean["cluster"], categories=clusters).codes
    with pm.Model(coords={"cluster": clusters, "star": np.arange(len(clean))}) as model:
        log_plx_pop = prior_rv("log_plx_pop", p["log_plx_pop"])
        log_plx_sd = prior_rv("log_plx_sd", p["log_plx_sd"])
        log_plx = pm.Normal("log_plx", mu=log_plx_pop, sigma=log_plx_sd, dims="cluster")
        parallax = pm.Deterministic("parallax", pt.exp(log_plx), dims="cluster")
        depth = prior_rv("depth", p["depth"], dims="cluster")
        offset = prior_rv("zero_point", p["zero_point"]) if zero_point else 0.0
        pm.Normal("parallax_obs", mu=parallax[idx] + offset,
                  sigma=pt.sqrt(clean["parallax_error"].to_numpy() ** 2 + depth[idx] ** 2),
                  observed=clean["parallax"].to_numpy(), dims="star")
    return model
