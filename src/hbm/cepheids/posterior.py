"""What the chapter reads off a fitted Leavitt-law model: distances, fitted means, a predictive check."""

from __future__ import annotations

import logging

import arviz as az
import astropy.units as u
import numpy as np
import pandas as pd
import pymc as pm
from astropy.coordinates import Distance

import hbm

def distance_table(idata: az.InferenceData, *, hdi_prob: float = 0.94) -> pd.DataFrame:
    """Distance moduli and distances of every host, with central credible intervals.

    Parameters
    ----------
    idata : arviz.InferenceData
        Posterior of :func:`hbm.cepheids.build_leavitt_model`.
    hdi_prob : float, default 0.94
        Probability of the central credible intervals.

    Returns
    -------
    pandas.DataFrame
        Indexed by host: ``mu`` (posterior mean, mag), ``mu_sd``, ``mu_lo``,
        ``mu_hi`` and ``d_Mpc``, ``d_lo_Mpc``, ``d_hi_Mpc`` (distance in Mpc,
        converted with :class:`astropy.coordinates.Distance`, posterior median
        and the interval's ends; the conversion is monotonic so the quantiles
        carry over exactly).
    """
    if not 0 < hdi_prob < 1:
        raise ValueError(f"hdi_prob must be between 0 and 1, got {hdi_prob}")
    mu = idata.posterior["mu"].stack(sample=("chain", "draw")).transpose("host", "sample")
    q = np.quantile(mu.values, [(1 - hdi_prob) / 2, 0.5, (1 + hdi_prob) / 2], axis=1)

    def mpc(m):
        return Distance(distmod=m * u.mag).to_value(u.Mpc)

    return pd.DataFrame({
        "mu": mu.mean("sample").values, "mu_sd": mu.std("sample").values,
        "mu_lo": q[0], "mu_hi": q[2],
        "d_Mpc": mpc(q[1]), "d_lo_Mpc": mpc(q[0]), "d_hi_Mpc": mpc(q[2]),
    }, index=pd.Index(mu["host"].values, name="host"))


def predicted_means(idata: az.InferenceData, data: pd.DataFrame) -> np.ndarray:
    """Posterior-mean magnitude of every Cepheid under the fitted relation (mag).

    ``data`` is the :func:`hbm.cepheids.validate_cepheids` output the model was built from.
    """
    post = idata.posterior
    hosts = list(post["host"].values)
    idx = pd.Categorical(data["host"], categories=hosts).codes
    zp = post["zp"].mean(("chain", "draw")).values[idx]
    slope = post["slope"].mean(("chain", "draw")).values
    slope = slope[idx] if slope.ndim else slope
    mean = zp + slope * data["log_p"].to_numpy()
    if "gamma" in post:
        mean = mean + float(post["gamma"].mean()) * data["metal"].to_numpy()
    return mean


def host_residual_ppc(idata: az.InferenceData, model: pm.Model, data: pd.DataFrame, *,
                      draws: int = 400, random_seed: int) -> pd.DataFrame:
    """Posterior predictive check per host: the scatter of the Cepheids about the law.

    For each host the test statistic is the standard deviation of the
    magnitudes about the posterior-mean relation. It is computed for the
    observed data and for data replicated from the posterior predictive
    distribution.

    Parameters
    ----------
    idata : arviz.InferenceData
        Posterior of ``model``.
    model : pymc.Model
        The model built by :func:`hbm.cepheids.build_leavitt_model` from ``data``.
    data : pandas.DataFrame
        Output of :func:`hbm.cepheids.validate_cepheids`.
    draws : int, default 400
        About this many posterior draws (thinned evenly over all chains) are replicated.
    random_seed : int
        Seed of the replication (shifted by :func:`hbm.seed`).

    Returns
    -------
    pandas.DataFrame
        Indexed by host: ``n``, ``observed`` (mag), ``rep_lo``, ``rep_median``,
        ``rep_hi`` (5%, 50%, 95% of the replicated statistic) and ``p_value``
        (fraction of replications with a larger scatter than observed).
    """
    n_chain, n_draw = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    step = max(1, (n_chain * n_draw) // draws)
    thinned = idata.posterior.isel(draw=slice(None, None, step))
    # PyMC logs the names of the variables it samples to stderr (INFO); keep the output clean.
    pymc_log = logging.getLogger("pymc")
    level = pymc_log.level
    pymc_log.setLevel(logging.WARNING)
    try:
        rep = pm.sample_posterior_predictive(thinned, model=model, random_seed=hbm.seed(random_seed),
                                             progressbar=False)
    finally:
        pymc_log.setLevel(level)
    y_rep = rep.posterior_predictive["m_W"].stack(sample=("chain", "draw")).transpose("cepheid", "sample").values
    fitted = predicted_means(idata, data)
    obs_res = data["m_W"].to_numpy() - fitted
    rep_res = y_rep - fitted[:, None]
    rows = {}
    for host, idx in data.groupby("host", observed=True).indices.items():
        t_obs = obs_res[idx].std()
        t_rep = rep_res[idx].std(axis=0)
        rows[host] = {"n": len(idx), "observed": t_obs, "rep_lo": np.quantile(t_rep, 0.05),
                      "rep_median": np.median(t_rep), "rep_hi": np.quantile(t_rep, 0.95),
                      "p_value": float(np.mean(t_rep >= t_obs))}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("host")
