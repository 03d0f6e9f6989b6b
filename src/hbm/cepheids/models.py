"""The Leavitt-law models: Cepheids within hosts, hosts within one population.

* per Cepheid ``i`` in host ``j``, the near-infrared Wesenheit magnitude
  ``m_W = H - 0.386 (V - I)`` (Riess et al. 2022) is

  ``m_W[i] ~ Normal(zp[j] + slope[j] * (log10 P[i] - 1) + gamma * [O/H][i],
  sqrt(sigma_W[i]**2 + sigma_int**2))``,

  with the measurement error ``sigma_W`` and an intrinsic scatter
  ``sigma_int`` of the law;
* ``zp[j]`` is the host's apparent zero point (the magnitude of a 10-day
  Cepheid of solar metallicity) and equals its distance modulus ``mu[j]``
  plus the absolute zero point ``M_W`` shared by all hosts;
* the slopes are pooled (``pooling="complete"``: one slope), independent
  (``"none"``: one per host) or partially pooled (``"partial"``: drawn from a
  population ``Normal(slope_pop, slope_sd)``);
* the geometric distance modulus of the anchor NGC 4258 (Reid et al. 2019)
  fixes ``M_W`` and so turns every zero point into a distance modulus.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from hbm import data as hbm_data
from hbm.priors import Prior, prior_rv, resolve_priors, validate_prior

WESENHEIT_R = 0.386
"""Colour coefficient of the near-infrared Wesenheit magnitude (Riess et al. 2022)."""

ANCHOR = "N4258"
"""The anchor galaxy: NGC 4258, with a geometric (water megamaser) distance."""

ANCHOR_MU = 29.397
"""Distance modulus of NGC 4258 in mag (Reid, Pesce and Riess 2019)."""

ANCHOR_SIGMA = 0.032
"""Its uncertainty in mag (Reid, Pesce and Riess 2019)."""

POOLING = ("complete", "none", "partial")
"""The three ways :func:`build_leavitt_model` can treat the slopes."""

DEFAULT_PRIORS: dict[str, Prior] = {
    "level": {"dist": "Normal", "mu": 25.0, "sigma": 10.0},
    "slope": {"dist": "Normal", "mu": -3.0, "sigma": 2.0},
    "slope_pop": {"dist": "Normal", "mu": -3.0, "sigma": 2.0},
    "slope_sd": {"dist": "HalfNormal", "sigma": 0.5},
    "gamma": {"dist": "Normal", "mu": 0.0, "sigma": 0.5},
    "sigma_int": {"dist": "HalfNormal", "sigma": 0.2},
    "mu_anchor": {"dist": "Normal", "mu": ANCHOR_MU, "sigma": ANCHOR_SIGMA},
}
"""Priors of :func:`build_leavitt_model` (mag, mag per dex): ``level`` is each host's
magnitude at its own mean log-period and metallicity, ``slope`` the pooled or
independent slope(s), ``slope_pop``/``slope_sd`` the population of partially
pooled slopes, ``mu_anchor`` the anchor's geometric distance modulus."""

SCALES = ("slope_sd", "sigma_int")
"""The scale parameters (their priors must live on the positive half-line)."""

RAW_COLUMNS = {c: hbm_data.CEPHEIDS[c] for c in
               ("host", "period_days", "v_minus_i", "sigma_v_minus_i", "H_mag", "sigma_H", "metal_minus_8.69")}
"""Columns of the Cepheid table that the models use, with their kinds (see :func:`hbm.data.validate`)."""

MODEL_COLUMNS = {"host": "label", "log_p": "real", "metal": "real", "m_W": "real", "sigma_W": "positive"}
"""Columns of :func:`validate_cepheids`' output that the builders read."""


def wesenheit(df: pd.DataFrame, *, R: float = WESENHEIT_R) -> pd.DataFrame:
    """Near-infrared Wesenheit magnitudes and their uncertainties.

    Parameters
    ----------
    df : pandas.DataFrame
        Cepheids with the columns ``H_mag``, ``sigma_H``, ``v_minus_i`` and
        ``sigma_v_minus_i`` (as ``hbm.data.load("cepheids")`` returns them).
    R : float, default 0.386
        Colour coefficient.

    Returns
    -------
    pandas.DataFrame
        Columns ``m_W = H - R (V - I)`` and
        ``sigma_W = sqrt(sigma_H**2 + (R sigma_{V-I})**2)`` (mag), same index as ``df``.
    """
    schema = {c: RAW_COLUMNS[c] for c in ("H_mag", "sigma_H", "v_minus_i", "sigma_v_minus_i")}
    clean = hbm_data.validate(df, schema, source="Cepheid table")
    return pd.DataFrame({
        "m_W": (clean["H_mag"] - R * clean["v_minus_i"]).to_numpy(),
        "sigma_W": np.hypot(clean["sigma_H"], R * clean["sigma_v_minus_i"]).to_numpy(),
    }, index=df.index)


def validate_cepheids(df: pd.DataFrame, hosts: list[str] | None = None, *,
                      source: str = "Cepheid table") -> pd.DataFrame:
    """Validate a Cepheid table, select hosts and compute the models' inputs.

    Parameters
    ----------
    df : pandas.DataFrame
        Cepheids as returned by ``hbm.data.load("cepheids")`` (or a table with the same columns).
    hosts : list of str, optional
        Hosts to keep, in this order; default all hosts in order of appearance.
    source : str
        What the table is, for error messages.

    Returns
    -------
    pandas.DataFrame
        A new table, one row per Cepheid: ``host`` (categorical, in host order),
        ``n_host`` (the host's number of Cepheids), ``log_p = log10(P / day) - 1``,
        ``m_W``, ``sigma_W`` and ``metal`` (``12 + log(O/H) - 8.69``, dex).

    Raises
    ------
    ValueError
        Naming the source, column and row, if a column is missing or a value is
        bad (a period that is not positive, a NaN, ...); or if a requested host
        is absent or repeated.
    """
    clean = hbm_data.validate(df, RAW_COLUMNS, source=source, label="host")
    available = list(pd.unique(clean["host"]))
    hosts = available if hosts is None else [str(h) for h in hosts]
    if not hosts:
        raise ValueError(f"{source}: hosts is empty: choose at least one host")
    if len(set(hosts)) != len(hosts):
        raise ValueError(f"{source}: hosts has repeated names: {hosts}")
    missing = [h for h in hosts if h not in available]
    if missing:
        raise ValueError(f"{source}: host(s) {missing} not in the data; available: {available}")
    sel = clean[clean["host"].isin(hosts)]
    out = pd.DataFrame({
        "host": pd.Categorical(sel["host"], categories=hosts),
        "log_p": np.log10(sel["period_days"].to_numpy()) - 1.0,
        "metal": sel["metal_minus_8.69"].to_numpy(),
    })
    out = pd.concat([out, wesenheit(sel).reset_index(drop=True)], axis=1)
    out = out.sort_values("host", kind="stable").reset_index(drop=True)
    out["n_host"] = out.groupby("host", observed=True)["m_W"].transform("size").astype(int)
    return out


def model_inputs(data: pd.DataFrame, *, anchor: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The builders' view of :func:`validate_cepheids`' output: validated columns and host order.

    Returns the table with ``host`` as a categorical (its categories are the host order:
    those of a categorical ``host`` column, else order of appearance) and the list of hosts.
    Raises ``ValueError`` if a column is missing or bad, or ``anchor`` is not among the hosts.
    """
    clean = hbm_data.validate(data, MODEL_COLUMNS, source="model input (validate_cepheids output)",
                              label="host")
    if isinstance(data["host"].dtype, pd.CategoricalDtype):
        hosts = [str(h) for h in data["host"].cat.categories if (clean["host"] == str(h)).any()]
    else:
        hosts = list(pd.unique(clean["host"]))
    clean["host"] = pd.Categorical(clean["host"], categories=hosts)
    if anchor is not None and anchor not in hosts:
        raise ValueError(f"the anchor {anchor!r} must be among the hosts {hosts}: it fixes the absolute zero point")
    return clean, hosts


def resolve(priors: Mapping[str, Prior] | None) -> dict[str, dict]:
    """:data:`DEFAULT_PRIORS` overridden by ``priors``, validated (scales on the positive half-line)."""
    resolved = resolve_priors(DEFAULT_PRIORS, priors)
    for name in SCALES:
        validate_prior(resolved[name], name=name, positive=True)
    return resolved


def build_leavitt_model(
    data: pd.DataFrame,
    *,
    pooling: str = "partial",
    centred: bool = False,
    marginal: bool = False,
    metallicity: bool = True,
    anchor: str = ANCHOR,
    priors: Mapping[str, Prior] | None = None,
) -> pm.Model:
    """The hierarchical Leavitt-law model of Cepheids in several hosts.

    Parameters
    ----------
    data : pandas.DataFrame
        Output of :func:`validate_cepheids`.
    pooling : {"complete", "none", "partial"}, default "partial"
        One slope for all hosts; one slope per host with the ``slope`` prior;
        or per-host slopes drawn from a population ``Normal(slope_pop, slope_sd)``.
    centred : bool, default False
        With ``pooling="partial"``, write ``slope ~ Normal(slope_pop, slope_sd)``
        (centred) rather than ``slope = slope_pop + slope_sd * slope_z`` with
        ``slope_z ~ Normal(0, 1)`` (non-centred).
    marginal : bool, default False
        With ``pooling="partial"``, integrate the slopes and ``slope_pop`` out of the
        likelihood exactly (given the levels, ``gamma`` and the two scales they are
        Gaussian), and draw them from their exact conditional posterior through standard
        normals that the data do not touch: ``slope_pop = E[. | rest] + sd[. | rest] *
        slope_pop_u`` and likewise ``slope`` with ``slope_u`` (dims ``host``). The
        posterior of every variable is the same as without it; the sampler no longer meets
        the funnel of ``slope_pop`` and the precisely measured hosts' slopes, whose spread
        given ``slope_sd`` shrinks from about ``slope_sd / sqrt(hosts)`` to the slope errors
        of the best hosts as ``slope_sd`` goes to zero. Needs a Normal ``slope_pop`` prior.
        The likelihood is then a ``pm.Potential`` (``m_W_marginal``): no observed ``m_W``,
        so no pointwise log-likelihood or posterior predictive from this model. Ignores
        ``centred``.
    metallicity : bool, default True
        Include the term ``gamma * [O/H]`` (mag per dex).
    anchor : str, default "N4258"
        Host whose distance modulus is known geometrically (prior ``mu_anchor``);
        must be in ``data``.
    priors : mapping, optional
        Parameter name -> prior (``{"dist": "HalfNormal", "sigma": 0.5}``),
        overriding :data:`DEFAULT_PRIORS`.

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
        If ``pooling`` is unknown, the anchor is not among the hosts, a prior is
        invalid, or ``data`` lacks a column or holds a bad value.
    """
    if pooling not in POOLING:
        raise ValueError(f"pooling must be one of {POOLING}, got {pooling!r}")
    if marginal and pooling != "partial":
        raise ValueError(f"marginal=True integrates out partially pooled slopes; pooling is {pooling!r}")
    p = resolve(priors)
    clean, hosts = model_inputs(data, anchor=anchor)
    host_idx = clean["host"].cat.codes.to_numpy()
    centres = clean.groupby("host", observed=False)[["log_p", "metal"]].mean()
    coords = {"host": hosts, "cepheid": np.arange(len(clean))}
    with pm.Model(coords=coords) as model:
        idx = pm.Data("host_idx", host_idx, dims="cepheid")
        log_p = pm.Data("log_p", clean["log_p"].to_numpy(), dims="cepheid")
        metal = pm.Data("metal", clean["metal"].to_numpy(), dims="cepheid")
        sigma_w = pm.Data("sigma_W", clean["sigma_W"].to_numpy(), dims="cepheid")
        log_p_centre = pm.Data("log_p_centre", centres["log_p"].to_numpy(), dims="host")
        metal_centre = pm.Data("metal_centre", centres["metal"].to_numpy(), dims="host")

        # Sampled at each host's own mean log-period and metallicity, where
        # the intercept and the slope are uncorrelated; zp is derived.
        level = prior_rv("level", p["level"], dims="host")
        if marginal:
            spread = clean.groupby("host", observed=False)["log_p"].nunique()
            if (spread < 2).any():
                raise ValueError("marginal=True needs at least two distinct periods in every host (a "
                                 f"slope to integrate out); host(s) {list(spread.index[spread < 2])} "
                                 "have fewer")
            return _marginal_slopes(model, p, level, idx, log_p - log_p_centre[idx],
                                    metal - metal_centre[idx], log_p_centre, metal_centre,
                                    sigma_w, clean["m_W"].to_numpy(), hosts.index(anchor),
                                    metallicity)
        if pooling == "complete":
            slope = prior_rv("slope", p["slope"])
            slope_i = slope
        else:
            if pooling == "none":
                slope = prior_rv("slope", p["slope"], dims="host")
            else:
                slope_pop = prior_rv("slope_pop", p["slope_pop"])
                slope_sd = prior_rv("slope_sd", p["slope_sd"])
                if centred:
                    slope = pm.Normal("slope", mu=slope_pop, sigma=slope_sd, dims="host")
                else:
                    slope_z = pm.Normal("slope_z", 0.0, 1.0, dims="host")
                    slope = pm.Deterministic("slope", slope_pop + slope_sd * slope_z, dims="host")
            slope_i = slope[idx]
        mean = level[idx] + slope_i * (log_p - log_p_centre[idx])
        zp = level - slope * log_p_centre
        if metallicity:
            gamma = prior_rv("gamma", p["gamma"])
            mean = mean + gamma * (metal - metal_centre[idx])
            zp = zp - gamma * metal_centre
        zp = pm.Deterministic("zp", zp, dims="host")
        sigma_int = prior_rv("sigma_int", p["sigma_int"])
        pm.Normal("m_W", mu=mean, sigma=pt.sqrt(sigma_w**2 + sigma_int**2),
                  observed=clean["m_W"].to_numpy(), dims="cepheid")

        _distances(p, zp, hosts.index(anchor))
    return model


def _distances(p: dict, zp, anchor: int) -> None:
    """``mu_anchor``, ``M_W`` and ``mu`` from the zero points (inside the model context)."""
    mu_anchor = prior_rv("mu_anchor", p["mu_anchor"])
    m_w = pm.Deterministic("M_W", zp[anchor] - mu_anchor)
    pm.Deterministic("mu", zp - m_w, dims="host")


def _marginal_slopes(model, p, level, idx, x, dz, log_p_centre, metal_centre, sigma_w, m_w,
                     anchor, metallicity) -> pm.Model:
    """The partially pooled model with the slopes and ``slope_pop`` integrated out (``marginal=True``).

    Per host, with ``d = sigma_W**2 + sigma_int**2``, the residuals ``r`` from the host's level
    (and metallicity term) and ``S_ab = sum a b / d``, the likelihood of the host's slope ``b``
    is ``Normal(bhat; b, sqrt(v))`` with ``bhat = S_xr / S_xx`` and ``v = 1 / S_xx``, times
    ``exp(-(S_rr - S_xr**2 / S_xx) / 2)``. With ``b ~ Normal(slope_pop, t)``, ``t = slope_sd**2``,
    and ``slope_pop ~ Normal(m0, s0)``, the ``bhat`` are jointly Normal with mean ``m0`` and
    covariance ``diag(v + t) + s0**2`` (Sherman-Morrison). Given the rest, ``slope_pop`` is
    Normal with precision ``1/s0**2 + sum w`` (``w = 1 / (v + t)``) and each ``b`` Normal with
    mean ``(slope_pop v + bhat t) / (v + t)`` and variance ``v t / (v + t)``: the eight-schools
    algebra, host by host.
    """
    if p["slope_pop"]["dist"] != "Normal":
        raise ValueError("marginal=True integrates slope_pop out and needs a Normal prior for it, "
                         f"got {p['slope_pop']['dist']}")
    m0, s0 = p["slope_pop"]["mu"], p["slope_pop"]["sigma"]
    k = len(model.coords["host"])
    with model:
        slope_sd = prior_rv("slope_sd", p["slope_sd"])
        mean = level[idx]
        if metallicity:
            gamma = prior_rv("gamma", p["gamma"])
            mean = mean + gamma * dz
        sigma_int = prior_rv("sigma_int", p["sigma_int"])
        d = sigma_w**2 + sigma_int**2
        r = m_w - mean

        def per_host(v):
            return pt.inc_subtensor(pt.zeros(k)[idx], v)

        s_xx, s_xr, s_rr = per_host(x**2 / d), per_host(x * r / d), per_host(r**2 / d)
        b_hat, v, t = s_xr / s_xx, 1.0 / s_xx, slope_sd**2
        w = 1.0 / (v + t)
        e = b_hat - m0
        sum_w = pt.sum(w)
        log_lik = -0.5 * (pt.sum(s_rr - s_xr**2 / s_xx + pt.log(s_xx)) + pt.sum(pt.log(d))
                          + (x.shape[0] - k) * np.log(2 * np.pi))
        log_bhat = -0.5 * (pt.sum(w * e**2) - s0**2 * pt.sum(w * e) ** 2 / (1 + s0**2 * sum_w)
                           + pt.sum(pt.log(v + t)) + pt.log(1 + s0**2 * sum_w) + k * np.log(2 * np.pi))
        pm.Potential("m_W_marginal", log_lik + log_bhat)
        pop_precision = s0**-2 + sum_w
        slope_pop_u = pm.Normal("slope_pop_u", 0.0, 1.0)
        slope_pop = pm.Deterministic("slope_pop", (m0 / s0**2 + pt.sum(w * b_hat)) / pop_precision
                                     + slope_pop_u / pt.sqrt(pop_precision))
        slope_u = pm.Normal("slope_u", 0.0, 1.0, dims="host")
        slope = pm.Deterministic("slope", (slope_pop * v + b_hat * t) * w
                                 + pt.sqrt(v * t * w) * slope_u, dims="host")
        zp = level - slope * log_p_centre
        if metallicity:
            zp = zp - gamma * metal_centre
        zp = pm.Deterministic("zp", zp, dims="host")
        _distances(p, zp, anchor)
    return model
