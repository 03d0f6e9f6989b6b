"""Chapter 4: the Cepheid period-luminosity (Leavitt) law across 22 galaxies.

Cepheids sit within host galaxies, and the galaxies within one population
that shares the Leavitt law. The builders here write that hierarchy in PyMC:

* per Cepheid ``i`` in host ``j``, the near-infrared Wesenheit magnitude
  ``m_W = H - 0.386 (V - I)`` (Riess et al. 2022) is

  ``m_W[i] ~ Normal(zp[j] + slope[j] * (log10 P[i] - 1) + gamma * [O/H][i],
  sqrt(sigma_W[i]**2 + sigma_int**2))``,

  with the measurement error ``sigma_W`` and an intrinsic scatter
  ``sigma_int`` of the law;
* ``zp[j]`` is the host's apparent zero point (the magnitude of a 10-day
  Cepheid of solar metallicity) and equals its distance modulus ``mu[j]``
  plus the absolute zero point ``M_W`` shared by all hosts;
* the slopes are pooled (one slope), independent (one per host) or partially
  pooled (drawn from a population ``Normal(slope_pop, slope_sd)``);
* the geometric distance modulus of the anchor NGC 4258 (Reid et al. 2019)
  fixes ``M_W`` and so turns every zero point into a distance modulus.

The chapter's student exercise (Gaia DR2 open clusters) is at the end.
"""

from __future__ import annotations

import logging

import arviz as az
import astropy.units as u
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from astropy.coordinates import Distance
from scipy import optimize

from hbm.data import DATA_DIR

WESENHEIT_R = 0.386
"""Colour coefficient of the near-infrared Wesenheit magnitude (Riess et al. 2022)."""

ANCHOR = "N4258"
"""The anchor galaxy: NGC 4258, with a geometric (water megamaser) distance."""

ANCHOR_MU = 29.397
"""Distance modulus of NGC 4258 in mag (Reid, Pesce and Riess 2019)."""

ANCHOR_SIGMA = 0.032
"""Its uncertainty in mag (Reid, Pesce and Riess 2019)."""

SLOPES = ("pooled", "independent", "partial")
"""The three ways :func:`build_leavitt_model` can treat the slopes."""

PUBLISHED_FILE = DATA_DIR / "cepheid_host_distances.csv"
"""Published distance moduli of the hosts (see ``data/README.md``)."""


def wesenheit(df: pd.DataFrame, *, R: float = WESENHEIT_R) -> pd.DataFrame:
    """Near-infrared Wesenheit magnitudes and their uncertainties.

    Parameters
    ----------
    df : pandas.DataFrame
        Cepheids with the columns of :func:`hbm.data.load_cepheids`
        (``H_mag``, ``sigma_H``, ``v_minus_i``, ``sigma_v_minus_i``).
    R : float, default 0.386
        Colour coefficient.

    Returns
    -------
    pandas.DataFrame
        Columns ``m_W = H - R (V - I)`` and
        ``sigma_W = sqrt(sigma_H**2 + (R sigma_{V-I})**2)`` (mag), same index as ``df``.
    """
    _require_columns(df, ["H_mag", "sigma_H", "v_minus_i", "sigma_v_minus_i"])
    return pd.DataFrame({
        "m_W": df["H_mag"] - R * df["v_minus_i"],
        "sigma_W": np.hypot(df["sigma_H"], R * df["sigma_v_minus_i"]),
    }, index=df.index)


def prepare(df: pd.DataFrame, hosts: list[str] | None = None) -> pd.DataFrame:
    """Select hosts and compute the model's inputs.

    Parameters
    ----------
    df : pandas.DataFrame
        Cepheids as returned by :func:`hbm.data.load_cepheids`.
    hosts : list of str, optional
        Hosts to keep, in this order; default all hosts in order of appearance.

    Returns
    -------
    pandas.DataFrame
        One row per Cepheid with ``host`` (categorical, in host order), ``n_host``
        (the host's number of Cepheids), ``log_p = log10(P / day) - 1``,
        ``m_W``, ``sigma_W`` and ``metal`` (``12 + log(O/H) - 8.69``, dex).

    Raises
    ------
    ValueError
        If a column is missing, a requested host is absent or repeated, or a
        period is not positive.
    """
    _require_columns(df, ["host", "period_days", "metal_minus_8.69"])
    available = list(pd.unique(df["host"].astype(str)))
    if hosts is None:
        hosts = available
    hosts = [str(h) for h in hosts]
    if not hosts:
        raise ValueError("hosts is empty: choose at least one host")
    if len(set(hosts)) != len(hosts):
        raise ValueError(f"hosts has repeated names: {hosts}")
    missing = [h for h in hosts if h not in available]
    if missing:
        raise ValueError(f"host(s) {missing} not in the data; available: {available}")
    sel = df[df["host"].astype(str).isin(hosts)]
    if (sel["period_days"] <= 0).any():
        raise ValueError("period_days must be positive (log10 of the period is the predictor)")
    out = pd.DataFrame({
        "host": pd.Categorical(sel["host"].astype(str), categories=hosts),
        "log_p": np.log10(sel["period_days"].to_numpy(float)) - 1.0,
        "metal": sel["metal_minus_8.69"].to_numpy(float),
    })
    out = pd.concat([out, wesenheit(sel).reset_index(drop=True)], axis=1)
    out = out.sort_values("host", kind="stable").reset_index(drop=True)
    out["n_host"] = out.groupby("host", observed=True)["m_W"].transform("size").astype(int)
    return out


def build_leavitt_model(
    data: pd.DataFrame,
    *,
    slopes: str = "partial",
    metallicity: bool = True,
    anchor: str = ANCHOR,
    anchor_mu: float = ANCHOR_MU,
    anchor_sigma: float = ANCHOR_SIGMA,
    noncentred: bool = True,
) -> pm.Model:
    """The hierarchical Leavitt-law model of Cepheids in several hosts.

    Parameters
    ----------
    data : pandas.DataFrame
        Output of :func:`prepare`.
    slopes : {"pooled", "independent", "partial"}, default "partial"
        One slope for all hosts; one slope per host with a weak prior
        ``Normal(-3, 2)``; or per-host slopes drawn from a population
        ``Normal(slope_pop, slope_sd)``.
    metallicity : bool, default True
        Include the term ``gamma * [O/H]`` (mag per dex).
    anchor : str, default "N4258"
        Host whose distance modulus is known geometrically; must be in ``data``.
    anchor_mu, anchor_sigma : float
        Its distance modulus and uncertainty (mag); default Reid et al. (2019).
    noncentred : bool, default True
        With ``slopes="partial"``, write ``slope = slope_pop + slope_sd * slope_z``
        with ``slope_z ~ Normal(0, 1)`` rather than ``slope ~ Normal(slope_pop, slope_sd)``.

    Returns
    -------
    pymc.Model
        Free variables ``level`` (each host's magnitude at its own mean
        log-period and metallicity, where level and slope are uncorrelated),
        the slope(s), ``gamma``, ``sigma_int`` and ``mu_anchor``;
        deterministics ``zp`` (apparent zero point at P = 10 d and solar
        metallicity), ``M_W`` (absolute zero point) and ``mu`` (distance
        modulus per host); observed ``m_W`` (dims cepheid).

    Raises
    ------
    ValueError
        If ``slopes`` is unknown, the anchor is not among the hosts,
        ``anchor_sigma`` is not positive, or ``data`` lacks a column.
    """
    if slopes not in SLOPES:
        raise ValueError(f"slopes must be one of {SLOPES}, got {slopes!r}")
    _require_columns(data, ["host", "log_p", "metal", "m_W", "sigma_W"])
    hosts = list(data["host"].cat.categories) if isinstance(data["host"].dtype, pd.CategoricalDtype) \
        else list(pd.unique(data["host"]))
    if anchor not in hosts:
        raise ValueError(f"the anchor {anchor!r} must be among the hosts {hosts}: it fixes the absolute zero point")
    if not anchor_sigma > 0:
        raise ValueError(f"anchor_sigma must be positive, got {anchor_sigma}")
    if not (data["sigma_W"] > 0).all():
        raise ValueError("sigma_W must be positive for every Cepheid")
    host_idx = pd.Categorical(data["host"], categories=hosts).codes
    centres = data.groupby(pd.Categorical(data["host"], categories=hosts), observed=False)[["log_p", "metal"]].mean()
    coords = {"host": hosts, "cepheid": np.arange(len(data))}
    with pm.Model(coords=coords) as model:
        idx = pm.Data("host_idx", host_idx, dims="cepheid")
        log_p = pm.Data("log_p", data["log_p"].to_numpy(float), dims="cepheid")
        metal = pm.Data("metal", data["metal"].to_numpy(float), dims="cepheid")
        sigma_w = pm.Data("sigma_W", data["sigma_W"].to_numpy(float), dims="cepheid")
        log_p_centre = pm.Data("log_p_centre", centres["log_p"].to_numpy(), dims="host")
        metal_centre = pm.Data("metal_centre", centres["metal"].to_numpy(), dims="host")

        # Sampled at each host's own mean log-period and metallicity, where
        # the intercept and the slope are uncorrelated; zp is derived.
        level = pm.Normal("level", mu=25.0, sigma=10.0, dims="host")
        if slopes == "pooled":
            slope = pm.Normal("slope", mu=-3.0, sigma=2.0)
            slope_i = slope
        else:
            if slopes == "independent":
                slope = pm.Normal("slope", mu=-3.0, sigma=2.0, dims="host")
            else:
                slope_pop = pm.Normal("slope_pop", mu=-3.0, sigma=2.0)
                slope_sd = pm.HalfNormal("slope_sd", sigma=0.5)
                if noncentred:
                    slope_z = pm.Normal("slope_z", 0.0, 1.0, dims="host")
                    slope = pm.Deterministic("slope", slope_pop + slope_sd * slope_z, dims="host")
                else:
                    slope = pm.Normal("slope", mu=slope_pop, sigma=slope_sd, dims="host")
            slope_i = slope[idx]
        mean = level[idx] + slope_i * (log_p - log_p_centre[idx])
        zp = level - slope * log_p_centre
        if metallicity:
            gamma = pm.Normal("gamma", mu=0.0, sigma=0.5)
            mean = mean + gamma * (metal - metal_centre[idx])
            zp = zp - gamma * metal_centre
        zp = pm.Deterministic("zp", zp, dims="host")
        sigma_int = pm.HalfNormal("sigma_int", sigma=0.2)
        pm.Normal("m_W", mu=mean, sigma=pt.sqrt(sigma_w**2 + sigma_int**2),
                  observed=data["m_W"].to_numpy(float), dims="cepheid")

        mu_anchor = pm.Normal("mu_anchor", mu=anchor_mu, sigma=anchor_sigma)
        m_w = pm.Deterministic("M_W", zp[hosts.index(anchor)] - mu_anchor)
        pm.Deterministic("mu", zp - m_w, dims="host")
    return model


def fit(model: pm.Model, *, random_seed: int, **overrides) -> az.InferenceData:
    """Sample a model of this chapter with nutpie through :func:`hbm.sampling.sample`.

    nutpie (compiled with numba) samples these models in a fraction of PyMC's
    time (see the sampler-performance appendix).

    Parameters
    ----------
    model : pymc.Model
        A model from :func:`build_leavitt_model` or :func:`build_cluster_model`.
    random_seed : int
        Seed of the run.
    **overrides
        Passed to :func:`hbm.sampling.sample` (``draws``, ``target_accept``, ...).

    Returns
    -------
    arviz.InferenceData
    """
    from hbm.sampling import sample

    return sample(model, random_seed=random_seed, **{"nuts_sampler": "nutpie", **overrides})


def distance_table(idata: az.InferenceData, *, hdi_prob: float = 0.94) -> pd.DataFrame:
    """Distance moduli and distances of every host, with credible intervals.

    Parameters
    ----------
    idata : arviz.InferenceData
        Posterior of :func:`build_leavitt_model`.
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


def load_published_distances(path=None) -> pd.DataFrame:
    """Published distance moduli of the hosts, to compare with the model's.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        Defaults to ``data/cepheid_host_distances.csv`` (see its datasheet).

    Returns
    -------
    pandas.DataFrame
        Indexed by host: ``mu`` and ``sigma_mu`` (mag; NaN where the source
        gives no per-host uncertainty), ``method``, ``reference``, and the
        supernova ``sn`` with its position ``sn_ra``, ``sn_dec`` (deg) that
        ties a host to the Pantheon+SH0ES release (empty for the others).
    """
    df = pd.read_csv(path or PUBLISHED_FILE, dtype={"host": str, "sn": str, "method": str, "reference": str})
    _require_columns(df, ["host", "mu", "sigma_mu", "method", "reference", "sn", "sn_ra", "sn_dec"])
    if df["host"].duplicated().any():
        raise ValueError(f"duplicate host(s) {df.loc[df['host'].duplicated(), 'host'].tolist()} in {path or PUBLISHED_FILE}")
    if not np.isfinite(df["mu"]).all():
        raise ValueError("every published host needs a finite distance modulus 'mu'")
    return df.set_index("host")


def pooled_least_squares(data: pd.DataFrame, *, sigma_int: float = 0.0, metallicity: bool = True) -> pd.DataFrame:
    """Exact posterior of the pooled-slope model with a fixed intrinsic scatter.

    With ``sigma_int`` fixed, the pooled model of :func:`build_leavitt_model`
    is linear in its coefficients (host levels, slope, gamma) with Gaussian
    errors and Gaussian priors, so its posterior is Gaussian and known in
    closed form: a weighted least-squares solution regularised by the same
    priors. This is the independent reference for the sampler.

    Parameters
    ----------
    data : pandas.DataFrame
        Output of :func:`prepare`.
    sigma_int : float, default 0
        Intrinsic scatter added in quadrature to ``sigma_W`` (mag).
    metallicity : bool, default True
        Include the metallicity term.

    Returns
    -------
    pandas.DataFrame
        Index ``zp[<host>]``, ``slope`` and (if ``metallicity``) ``gamma``;
        columns ``mean`` and ``sd`` of the exact posterior.
    """
    if not sigma_int >= 0:
        raise ValueError(f"sigma_int must be non-negative, got {sigma_int}")
    _require_columns(data, ["host", "log_p", "metal", "m_W", "sigma_W"])
    hosts = list(data["host"].cat.categories)
    host = pd.Categorical(data["host"], categories=hosts)
    centres = data.groupby(host, observed=False)[["log_p", "metal"]].mean()
    idx = host.codes
    k = len(hosts)
    # Coefficients: level (k), slope, gamma; the same priors as the PyMC model.
    X = [np.eye(k)[idx], (data["log_p"].to_numpy() - centres["log_p"].to_numpy()[idx])[:, None]]
    prior_mean, prior_sd = [25.0] * k + [-3.0], [10.0] * k + [2.0]
    to_zp = np.hstack([np.eye(k), -centres[["log_p"]].to_numpy()])
    names = [f"zp[{h}]" for h in hosts] + ["slope"]
    if metallicity:
        X.append((data["metal"].to_numpy() - centres["metal"].to_numpy()[idx])[:, None])
        prior_mean.append(0.0)
        prior_sd.append(0.5)
        to_zp = np.hstack([to_zp, -centres[["metal"]].to_numpy()])
        names.append("gamma")
    X = np.hstack(X)
    w = 1.0 / (data["sigma_W"].to_numpy() ** 2 + sigma_int**2)
    precision = X.T @ (X * w[:, None]) + np.diag(1.0 / np.square(prior_sd))
    rhs = X.T @ (w * data["m_W"].to_numpy()) + np.asarray(prior_mean) / np.square(prior_sd)
    cov = np.linalg.inv(precision)
    mean = cov @ rhs
    # Map (levels, slope, gamma) to (zero points, slope, gamma).
    A = np.vstack([to_zp, np.eye(len(mean))[k:]])
    return pd.DataFrame({"mean": A @ mean, "sd": np.sqrt(np.diag(A @ cov @ A.T))}, index=names)


def host_residual_check(idata: az.InferenceData, model: pm.Model, data: pd.DataFrame, *,
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
        The model built by :func:`build_leavitt_model` from ``data``.
    data : pandas.DataFrame
        Output of :func:`prepare`.
    draws : int, default 400
        About this many posterior draws (thinned evenly over all chains) are replicated.
    random_seed : int
        Seed of the replication.

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
        rep = pm.sample_posterior_predictive(thinned, model=model, random_seed=random_seed, progressbar=False)
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


def predicted_means(idata: az.InferenceData, data: pd.DataFrame) -> np.ndarray:
    """Posterior-mean magnitude of every Cepheid under the fitted relation (mag)."""
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


# ---------------------------------------------------------------------------
# Student exercise: Gaia DR2 open clusters
# ---------------------------------------------------------------------------

PARALLAX_ERROR_FLOOR_MAS = 0.01
"""Smallest parallax error used in a likelihood (mas). Gaia DR2 errors are
tabulated to 0.001 mas, so a few bright stars show 0.000."""


def prepare_clusters(df: pd.DataFrame, *, error_floor: float = PARALLAX_ERROR_FLOOR_MAS) -> pd.DataFrame:
    """Gaia cluster members with an error floor applied.

    Parameters
    ----------
    df : pandas.DataFrame
        Output of :func:`hbm.data.load_gaia_clusters`.
    error_floor : float, default 0.01
        Parallax errors below this (mas) are raised to it.

    Returns
    -------
    pandas.DataFrame
        Columns ``cluster`` (categorical, clusters sorted by name),
        ``parallax`` and ``parallax_error`` (mas), one row per star.
    """
    _require_columns(df, ["cluster", "parallax_mas", "parallax_error_mas"])
    if not error_floor > 0:
        raise ValueError(f"error_floor must be positive (a zero error makes the likelihood infinite), got {error_floor}")
    clusters = sorted(pd.unique(df["cluster"].astype(str)))
    return pd.DataFrame({
        "cluster": pd.Categorical(df["cluster"].astype(str), categories=clusters),
        "parallax": df["parallax_mas"].to_numpy(float),
        "parallax_error": np.maximum(df["parallax_error_mas"].to_numpy(float), error_floor),
    })


def build_cluster_model(data: pd.DataFrame) -> pm.Model:
    """Hierarchical model of open-cluster parallaxes (and so distances) from their members.

    Stars within clusters: a member's measured parallax is
    ``Normal(parallax[c], sqrt(error**2 + depth[c]**2))``, where ``depth[c]``
    (mas) is the spread of the members' true parallaxes, i.e. the cluster's
    extent along the line of sight. Clusters within a population of nearby
    clusters: ``log parallax[c] ~ Normal(log_plx_pop, log_plx_sd)`` (the same
    as a log-normal population of distances). Written centred: hundreds of
    members pin each cluster down, the regime where the centred form samples
    well.

    Parameters
    ----------
    data : pandas.DataFrame
        Output of :func:`prepare_clusters`.

    Returns
    -------
    pymc.Model
        With ``parallax`` (mas, dims ``cluster``), ``depth`` (mas) and the
        population parameters ``log_plx_pop`` and ``log_plx_sd``; observed
        ``parallax_obs`` (dims ``star``).
    """
    _require_columns(data, ["cluster", "parallax", "parallax_error"])
    if not (data["parallax_error"] > 0).all():
        raise ValueError("parallax_error must be positive: apply an error floor with prepare_clusters")
    clusters = list(data["cluster"].cat.categories)
    idx = data["cluster"].cat.codes.to_numpy()
    with pm.Model(coords={"cluster": clusters, "star": np.arange(len(data))}) as model:
        # Population: clusters within a few hundred pc, i.e. parallaxes of a few mas.
        log_plx_pop = pm.Normal("log_plx_pop", mu=np.log(5.0), sigma=1.5)
        log_plx_sd = pm.HalfNormal("log_plx_sd", sigma=1.0)
        log_plx = pm.Normal("log_plx", mu=log_plx_pop, sigma=log_plx_sd, dims="cluster")
        parallax = pm.Deterministic("parallax", pt.exp(log_plx), dims="cluster")
        depth = pm.HalfNormal("depth", sigma=2.0, dims="cluster")
        pm.Normal("parallax_obs", mu=parallax[idx],
                  sigma=pt.sqrt(data["parallax_error"].to_numpy() ** 2 + depth[idx] ** 2),
                  observed=data["parallax"].to_numpy(), dims="star")
    return model


def cluster_distance_mle(data: pd.DataFrame) -> pd.Series:
    """Maximum-likelihood cluster distances (pc) under the same star-level likelihood.

    Each cluster is fitted on its own (mean parallax and depth, by
    Nelder-Mead), so this is an independent, prior-free reference for
    :func:`build_cluster_model`; the parallax is turned into a distance with
    astropy.

    Parameters
    ----------
    data : pandas.DataFrame
        Output of :func:`prepare_clusters`.

    Returns
    -------
    pandas.Series
        Distance in pc, indexed by cluster.
    """
    out = {}
    for name, grp in data.groupby("cluster", observed=True):
        plx, err = grp["parallax"].to_numpy(), grp["parallax_error"].to_numpy()

        def nll(theta):
            var = err**2 + np.exp(2 * theta[1])
            return 0.5 * np.sum((plx - theta[0]) ** 2 / var + np.log(var))

        fit = optimize.minimize(nll, x0=[np.median(plx), np.log(plx.std())], method="Nelder-Mead",
                                options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
        out[name] = Distance(parallax=fit.x[0] * u.mas).to_value(u.pc)
    return pd.Series(out, name="distance_pc").rename_axis("cluster")


def _require_columns(df: pd.DataFrame, columns: list[str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}; the table has {list(df.columns)}")
