"""The posterior as BUGS reports it, and side by side with the published OpenBUGS and MultiBUGS runs."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd

from hbm.school_rankings.design import NODES


def mcse_sd(draws: np.ndarray) -> float:
    """Monte Carlo standard error of a posterior sd from draws of shape (chain, draw).

    The delta method on the variance, with the ESS of the squared deviations (the estimator of
    ``arviz.mcse(..., method="sd")``, which fails on this NumPy version).
    """
    c2 = (draws - draws.mean()) ** 2
    var = c2.mean()
    var_of_var = ((c2**2).mean() - var**2) / np.asarray(az.ess(c2, method="mean")).item()
    return float(np.sqrt(var_of_var / var / 4))


def bugs_summary(idata: az.InferenceData) -> pd.DataFrame:
    """Posterior mean, sd, 95% interval and Monte Carlo errors of the 13 published nodes, with BUGS names.

    Parameters
    ----------
    idata : arviz.InferenceData
        A posterior with ``beta`` (8), ``gamma`` (3), ``theta`` and ``phi`` of dims
        (chain, draw, ...).

    Returns
    -------
    pandas.DataFrame
        Indexed by BUGS node name (``beta[1]`` ... ``theta``), columns ``mean``, ``sd``,
        ``q2.5``, ``median``, ``q97.5``, and ``mcse_mean``, ``mcse_sd`` (ArviZ's Monte Carlo
        standard errors of the mean and the sd).
    """
    post = idata.posterior
    missing = [v for v in ("beta", "gamma", "theta", "phi") if v not in post]
    if missing:
        raise ValueError(f"the posterior lacks the variable(s) {missing}")
    draws = {}
    for name in ("beta", "gamma"):
        values = post[name].values
        draws.update({f"{name}[{k + 1}]": values[..., k] for k in range(values.shape[-1])})
    for name in ("phi", "theta"):
        draws[name] = post[name].values
    rows = {}
    for node, v in draws.items():
        flat = v.ravel()
        rows[node] = {"mean": flat.mean(), "sd": flat.std(ddof=1), "q2.5": np.quantile(flat, 0.025),
                      "median": np.median(flat), "q97.5": np.quantile(flat, 0.975),
                      "mcse_mean": np.asarray(az.mcse(v, method="mean")).item(), "mcse_sd": mcse_sd(v)}
    return pd.DataFrame.from_dict(rows, orient="index").loc[NODES]


def compare_with_published(idata: az.InferenceData, published: pd.DataFrame, *,
                           source: str = "OpenBUGS-3.2.3") -> pd.DataFrame:
    """Side-by-side table of a posterior and a published BUGS run, node by node.

    Parameters
    ----------
    idata : arviz.InferenceData
        The posterior (see :func:`bugs_summary`).
    published : pandas.DataFrame
        ``hbm.data.load("london_published")``.
    source : str
        Which published run to compare with (a value of ``published["source"]``).

    Returns
    -------
    pandas.DataFrame
        One row per node: ``mean``, ``sd`` (ours), ``bugs_mean``, ``bugs_sd``,
        ``z = (mean - bugs_mean) / bugs_sd``, the difference in published posterior sds, and
        ``z_mcse``, the Monte Carlo error of ``z`` from our draws.
    """
    sources = set(published["source"])
    if source not in sources:
        raise ValueError(f"unknown source {source!r}; the table has {sorted(sources)}")
    pub = published[published["source"] == source].set_index("node")
    ours = bugs_summary(idata)
    missing = [n for n in NODES if n not in pub.index]
    if missing:
        raise ValueError(f"the published table lacks the node(s) {missing}")
    table = pd.DataFrame({"mean": ours["mean"], "sd": ours["sd"],
                          "bugs_mean": pub.loc[NODES, "mean"].astype(float),
                          "bugs_sd": pub.loc[NODES, "sd"].astype(float)})
    table["z"] = (table["mean"] - table["bugs_mean"]) / table["bugs_sd"]
    table["z_mcse"] = ours["mcse_mean"] / table["bugs_sd"]
    table.index.name = "node"
    return table
