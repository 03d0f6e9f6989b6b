"""Answers without a sampler: the exact pooled Leavitt law and maximum-likelihood cluster distances."""

from __future__ import annotations

from collections.abc import Mapping

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import Distance
from scipy import optimize

from hbm.cepheids.models import ANCHOR, model_inputs, resolve
from hbm.priors import Prior


def pooled_least_squares(data: pd.DataFrame, *, sigma_int: float = 0.0, metallicity: bool = True,
                         priors: Mapping[str, Prior] | None = None) -> pd.DataFrame:
    """Exact posterior of the pooled-slope model with a fixed intrinsic scatter.

    With ``sigma_int`` fixed, the model of :func:`hbm.cepheids.build_leavitt_model`
    with ``pooling="complete"`` is linear in its coefficients (host levels, slope,
    gamma) with Gaussian errors and Gaussian priors, so its posterior is Gaussian and
    known in closed form: a weighted least-squares solution regularised by the same
    priors. This is the independent reference for the sampler.

    Parameters
    ----------
    data : pandas.DataFrame
        Output of :func:`hbm.cepheids.validate_cepheids`.
    sigma_int : float, default 0
        Intrinsic scatter added in quadrature to ``sigma_W`` (mag).
    metallicity : bool, default True
        Include the metallicity term.
    priors : mapping, optional
        Overrides of the model's ``DEFAULT_PRIORS``; ``level``, ``slope`` and ``gamma``
        must be Normal for the posterior to be Gaussian.

    Returns
    -------
    pandas.DataFrame
        Index ``zp[<host>]``, ``slope`` and (if ``metallicity``) ``gamma``;
        columns ``mean`` and ``sd`` of the exact posterior.
    """
    if not sigma_int >= 0:
        raise ValueError(f"sigma_int must be non-negative, got {sigma_int}")
    p = resolve(priors)
    used = ["level", "slope"] + (["gamma"] if metallicity else [])
    not_normal = [n for n in used if p[n]["dist"] != "Normal"]
    if not_normal:
        raise ValueError(f"the exact posterior needs Normal priors; {not_normal} are not")
    clean, hosts = model_inputs(data)
    idx = clean["host"].cat.codes.to_numpy()
    centres = clean.groupby("host", observed=False)[["log_p", "metal"]].mean()
    k = len(hosts)
    # Coefficients: level (k), slope, gamma; the same priors as the PyMC model.
    X = [np.eye(k)[idx], (clean["log_p"].to_numpy() - centres["log_p"].to_numpy()[idx])[:, None]]
    prior_mean = [p["level"]["mu"]] * k + [p["slope"]["mu"]]
    prior_sd = [p["level"]["sigma"]] * k + [p["slope"]["sigma"]]
    to_zp = np.hstack([np.eye(k), -centres[["log_p"]].to_numpy()])
    names = [f"zp[{h}]" for h in hosts] + ["slope"]
    if metallicity:
        X.append((clean["metal"].to_numpy() - centres["metal"].to_numpy()[idx])[:, None])
        prior_mean.append(p["gamma"]["mu"])
        prior_sd.append(p["gamma"]["sigma"])
        to_zp = np.hstack([to_zp, -centres[["metal"]].to_numpy()])
        names.append("gamma")
    X = np.hstack(X)
    w = 1.0 / (clean["sigma_W"].to_numpy() ** 2 + sigma_int**2)
    precision = X.T @ (X * w[:, None]) + np.diag(1.0 / np.square(prior_sd))
    rhs = X.T @ (w * clean["m_W"].to_numpy()) + np.asarray(prior_mean) / np.square(prior_sd)
    cov = np.linalg.inv(precision)
    mean = cov @ rhs
    # Map (levels, slope, gamma) to (zero points, slope, gamma).
    A = np.vstack([to_zp, np.eye(len(mean))[k:]])
    return pd.DataFrame({"mean": A @ mean, "sd": np.sqrt(np.diag(A @ cov @ A.T))}, index=names)


def pooled_distance_moduli(data: pd.DataFrame, *, anchor: str = ANCHOR, sigma_int: float = 0.0,
                           priors: Mapping[str, Prior] | None = None) -> pd.Series:
    """Distance moduli (mag) of the hosts from :func:`pooled_least_squares`, anchored on ``anchor``.

    Each host's exact posterior mean zero point minus the anchor's, plus the mean of the
    ``mu_anchor`` prior (the anchor's geometric distance modulus).
    """
    p = resolve(priors)
    exact = pooled_least_squares(data, sigma_int=sigma_int, priors=priors)["mean"]
    zp = exact[exact.index.str.startswith("zp[")]
    zp.index = zp.index.str[3:-1]
    if anchor not in zp.index:
        raise ValueError(f"the anchor {anchor!r} must be among the hosts {list(zp.index)}")
    return (zp - zp[anchor] + p["mu_anchor"]["mu"]).rename("mu").rename_axis("host")


def cluster_distance_mle(data: pd.DataFrame, *, zero_point_mas: float = 0.0) -> pd.Series:
    """Maximum-likelihood cluster distances (pc) under the star-level likelihood.

    Each cluster is fitted on its own (mean parallax and depth, by Nelder-Mead) under the
    likelihood of :func:`hbm.cepheids.build_cluster_model`, so this is an independent,
    prior-free reference; the parallax is turned into a distance with astropy.

    Parameters
    ----------
    data : pandas.DataFrame
        Output of :func:`hbm.cepheids.validate_clusters`.
    zero_point_mas : float, default 0
        A parallax zero-point offset (mas): measured = true + offset. Gaia DR2's global
        offset is about -0.029 mas (Lindegren et al. 2018); 0 takes the parallaxes at face value.

    Returns
    -------
    pandas.Series
        Distance in pc, indexed by cluster.
    """
    if not np.isfinite(zero_point_mas):
        raise ValueError(f"zero_point_mas must be a finite number of mas, got {zero_point_mas}")
    out = {}
    for name, grp in data.groupby("cluster", observed=True):
        plx = grp["parallax"].to_numpy() - zero_point_mas
        err = grp["parallax_error"].to_numpy()

        def nll(theta):
            var = err**2 + np.exp(2 * theta[1])
            return 0.5 * np.sum((plx - theta[0]) ** 2 / var + np.log(var))

        fit = optimize.minimize(nll, x0=[np.median(plx), np.log(plx.std())], method="Nelder-Mead",
                                options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
        out[name] = Distance(parallax=fit.x[0] * u.mas).to_value(u.pc)
    return pd.Series(out, name="distance_pc").rename_axis("cluster")


def partial_pooling_posterior(data: pd.DataFrame, *, anchor: str = ANCHOR,
                              priors: Mapping[str, Prior] | None = None,
                              n_tau: int = 80, n_sigma: int = 60) -> pd.DataFrame:
    """Posterior of the partially pooled Leavitt-law model by quadrature, without a sampler.

    Given the spread of slopes ``slope_sd`` and the intrinsic scatter ``sigma_int``, the model of
    :func:`hbm.cepheids.build_leavitt_model` with ``pooling="partial"`` is linear in its
    coefficients (host levels, host slopes, ``slope_pop``, ``gamma``) with Gaussian errors and a
    Gaussian prior, so their conditional posterior and the marginal likelihood are known in closed
    form. The two scales are integrated out on a grid (their priors evaluated with
    :func:`hbm.priors.prior_logpdf`); ``mu_anchor`` is independent of the data and adds its prior.

    Parameters
    ----------
    data : pandas.DataFrame
        Output of :func:`hbm.cepheids.validate_cepheids`.
    anchor : str, default "N4258"
        The host whose distance modulus has the ``mu_anchor`` prior.
    priors : mapping, optional
        Overrides of ``DEFAULT_PRIORS``; ``level``, ``slope_pop``, ``gamma`` and ``mu_anchor`` must
        be Normal.
    n_tau, n_sigma : int
        Grid points for ``slope_sd`` (up to its prior's 99.99% quantile) and ``sigma_int`` (up to
        0.6 mag); the defaults change no mean by more than 0.001 when doubled.

    Returns
    -------
    pandas.DataFrame
        Index ``slope_pop``, ``gamma``, ``slope_sd``, ``sigma_int`` and ``mu[<host>]``; columns
        ``mean`` and ``sd`` of the posterior.
    """
    from hbm.priors import prior_logpdf, prior_quantile

    p = resolve(priors)
    not_normal = [n for n in ("level", "slope_pop", "gamma", "mu_anchor") if p[n]["dist"] != "Normal"]
    if not_normal:
        raise ValueError(f"the quadrature needs Normal priors for {not_normal}")
    clean, hosts = model_inputs(data, anchor=anchor)
    idx = clean["host"].cat.codes.to_numpy()
    centres = clean.groupby("host", observed=False)[["log_p", "metal"]].mean().to_numpy()
    k, n = len(hosts), len(clean)
    # Coefficients: level (k), slope (k), slope_pop, gamma.
    X = np.zeros((n, 2 * k + 2))
    X[np.arange(n), idx] = 1.0
    X[np.arange(n), k + idx] = clean["log_p"].to_numpy() - centres[idx, 0]
    X[:, -1] = clean["metal"].to_numpy() - centres[idx, 1]
    y, err2 = clean["m_W"].to_numpy(), clean["sigma_W"].to_numpy() ** 2
    # Prior precision without the slopes' population term, and its linear term S0^-1 m0.
    base_q = np.zeros(2 * k + 2)
    base_q[:k] = p["level"]["sigma"] ** -2
    base_q[2 * k] = p["slope_pop"]["sigma"] ** -2
    base_q[-1] = p["gamma"]["sigma"] ** -2
    lin = np.zeros(2 * k + 2)
    lin[:k] = p["level"]["mu"] * base_q[:k]
    lin[2 * k] = p["slope_pop"]["mu"] * base_q[2 * k]
    lin[-1] = p["gamma"]["mu"] * base_q[-1]
    m0_q_m0 = float(lin[:k] @ np.full(k, p["level"]["mu"]) + lin[2 * k] * p["slope_pop"]["mu"]
                    + lin[-1] * p["gamma"]["mu"])
    log_det_s0_base = -np.sum(np.log(base_q[base_q > 0]))
    # zp_j - zp_anchor as a linear map of the coefficients: zp = level - slope c - gamma z.
    a = hosts.index(anchor)
    to_zp = np.zeros((k, 2 * k + 2))
    to_zp[:, :k] = np.eye(k)
    to_zp[:, k:2 * k] = -np.diag(centres[:, 0])
    to_zp[:, -1] = -centres[:, 1]
    A = np.vstack([to_zp - to_zp[a], np.eye(2 * k + 2)[[2 * k, 2 * k + 1]]])

    tau_max = float(prior_quantile(p["slope_sd"], 0.9999))
    taus = np.linspace(tau_max / n_tau / 2, tau_max, n_tau)
    sigmas = np.linspace(0.6 / n_sigma / 2, 0.6, n_sigma)
    # Prior precision of (slopes, slope_pop) for every tau at once: (n_tau, m, m).
    m = 2 * k + 2
    q = np.broadcast_to(np.diag(base_q), (n_tau, m, m)).copy()
    inv_t2 = taus**-2
    q[:, np.arange(k, 2 * k), np.arange(k, 2 * k)] += inv_t2[:, None]
    q[:, 2 * k, 2 * k] += k * inv_t2
    q[:, k:2 * k, 2 * k] = q[:, 2 * k, k:2 * k] = -inv_t2[:, None]
    log_prior_tau = prior_logpdf(p["slope_sd"], taus)
    log_w, means, second = [], [], []
    for s in sigmas:
        w = 1.0 / (err2 + s**2)
        xtwx, b = X.T @ (X * w[:, None]), X.T @ (w * y) + lin
        const = np.sum(np.log(err2 + s**2)) + y @ (w * y) + m0_q_m0 + log_det_s0_base
        precision = xtwx + q
        log_det_p = 2 * np.sum(np.log(np.diagonal(np.linalg.cholesky(precision), axis1=1, axis2=2)), axis=1)
        cov = np.linalg.inv(precision)
        mean = cov @ b
        log_ml = -0.5 * (const + 2 * k * np.log(taus) + log_det_p - mean @ b)
        log_w.append(log_ml + log_prior_tau + prior_logpdf(p["sigma_int"], s))
        lin_mean = mean @ A.T
        cov_diag = np.einsum("ij,tjk,ik->ti", A, cov, A)
        means.append(np.column_stack([lin_mean, taus, np.full(n_tau, s)]))
        second.append(np.column_stack([cov_diag + lin_mean**2, taus**2,
                                       np.full(n_tau, s**2)]))
    log_w = np.concatenate(log_w)
    weights = np.exp(log_w - log_w.max())
    weights /= weights.sum()
    mean = weights @ np.concatenate(means)
    var = weights @ np.concatenate(second) - mean**2
    mu_anchor = p["mu_anchor"]
    mean[:k] += mu_anchor["mu"]
    var[:k] += mu_anchor["sigma"] ** 2
    names = [f"mu[{h}]" for h in hosts] + ["slope_pop", "gamma", "slope_sd", "sigma_int"]
    return pd.DataFrame({"mean": mean, "sd": np.sqrt(np.maximum(var, 0.0))}, index=names)
