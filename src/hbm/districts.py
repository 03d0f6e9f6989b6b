"""Chapter 2, the Five Districts: pooled, unpooled and hierarchical linear regressions.

School ``i`` in district ``d[i]`` studied ``x_i`` hours and improved by
``y_i +- s_i`` points. Every model here has the same likelihood,

    y_i ~ Normal(alpha[d_i] + beta[d_i] x_i, sqrt(s_i**2 + sigma_school**2)),

in which the measurement error ``s_i`` and an intrinsic school-to-school
scatter ``sigma_school`` about the district line add in quadrature (the
school's true mean, ``Normal(line, sigma_school)``, is integrated out
analytically). The models differ only in what they say about the district
intercepts ``alpha`` and slopes ``beta`` (points per hour studied):

* :func:`build_pooled` - one line for every school (``alpha``, ``beta`` scalars);
* :func:`build_unpooled` - an independent line per district;
* :func:`build_hierarchical` - district lines drawn from a population,
  ``alpha_d ~ Normal(mu_alpha, sigma_alpha)``, ``beta_d ~ Normal(mu_beta, sigma_beta)``,
  in a centred or non-centred parameterisation.

Given the scale parameters every model is linear and Gaussian, so
:func:`exact_posterior` computes the posterior of the lines without MCMC (a
quadrature over the scales) and :func:`exact_loo` the exact leave-one-out
predictive densities: independent checks on the samplers and on PSIS-LOO.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np
import pandas as pd
import pymc as pm
from scipy import stats
from scipy.special import logsumexp

from hbm.data import FIVE_DISTRICTS, validate

COLUMNS = tuple(FIVE_DISTRICTS)
"""The columns a Five Districts table must have (see ``data/README.md``)."""

PRIORS: dict[str, tuple] = {
    "mu_alpha": ("normal", 0.0, 5.0),
    "mu_beta": ("normal", 0.0, 0.5),
    "sigma_alpha": ("halfnormal", 3.0),
    "sigma_beta": ("halfnormal", 0.25),
    "sigma_school": ("halfnormal", 2.0),
}
"""Default priors (justified in chapter 2). Locations are ``("normal", mean, sd)``; scales are
``("halfnormal", scale)``, ``("halfcauchy", scale)`` or ``("exponential", scale)``
(scale = 1 / rate). The pooled and unpooled models give their intercepts and
slopes the priors of ``mu_alpha`` and ``mu_beta``."""

PRIOR_SETS: dict[str, dict] = {
    "default": PRIORS,
    "wide": {"mu_alpha": ("normal", 0.0, 20.0), "mu_beta": ("normal", 0.0, 2.0),
             "sigma_alpha": ("halfnormal", 10.0), "sigma_beta": ("halfnormal", 1.0),
             "sigma_school": ("halfnormal", 10.0)},
    "heavy-tailed": {**PRIORS, "sigma_alpha": ("halfcauchy", 1.0), "sigma_beta": ("halfcauchy", 0.1),
                     "sigma_school": ("halfcauchy", 1.0)},
}
"""The prior sets of the sensitivity analysis: the defaults, everything four to ten
times wider, and heavy-tailed (half-Cauchy) scale priors."""

SCALE_FAMILIES = {
    "halfnormal": (pm.HalfNormal, "sigma", stats.halfnorm),
    "halfcauchy": (pm.HalfCauchy, "beta", stats.halfcauchy),
    "exponential": (pm.Exponential, "scale", stats.expon),
}


# ---------------------------------------------------------------------------
# Validation and coordinates
# ---------------------------------------------------------------------------


def validate(df: pd.DataFrame, districts: Sequence[str] | None = None) -> pd.DataFrame:
    """Check a Five Districts table and return a clean copy.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``district``, ``hours_studied``, ``score_change`` and
        ``score_change_err`` (as returned by :func:`hbm.data.load_five_districts`).
    districts : sequence of str, optional
        The districts the model should know, in order. Every label in ``df``
        must be one of them; a listed district without schools is allowed (the
        hierarchical model predicts it from the population). Default: the
        labels of ``df`` in sorted order.

    Returns
    -------
    pandas.DataFrame
        The four columns, labels as ``str`` and numbers as ``float``, with a
        fresh index.

    Raises
    ------
    ValueError
        If a column is missing, the table is empty, a number is NaN or
        infinite, an error is not positive, a label is empty, or a label is not
        among ``districts``.
    """
    out = validate(df, FIVE_DISTRICTS, source="Five Districts table")
    if districts is not None:
        districts = [str(d) for d in districts]
        if len(set(districts)) != len(districts) or not districts:
            raise ValueError(f"districts must be distinct labels, got {districts}")
        unknown = sorted(set(out["district"]) - set(districts))
        if unknown:
            raise ValueError(f"unknown district label(s) {unknown}; expected one of {districts}")
    return out


def coords(df: pd.DataFrame, districts: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Model coordinates: ``district`` labels and ``school`` labels ``"<district>-<k>"``.

    Parameters
    ----------
    df : pandas.DataFrame
        A Five Districts table.
    districts : sequence of str, optional
        The districts, in order; default the sorted labels of ``df``.

    Returns
    -------
    dict
        ``{"district": [...], "school": [...]}``; school ``k`` counts from 1
        within its district in the order of the table.
    """
    df = validate(df, districts)
    labels = [str(d) for d in districts] if districts is not None else sorted(df["district"].unique())
    k = df.groupby("district", sort=False).cumcount() + 1
    return {"district": labels, "school": [f"{d}-{i}" for d, i in zip(df["district"], k)]}


def _setup(df, districts):
    df = validate(df, districts)
    c = coords(df, districts)
    index = pd.Index(c["district"]).get_indexer(df["district"])
    return df, c, index


def _priors(priors: dict | None) -> dict:
    merged = {**PRIORS, **(priors or {})}
    unknown = sorted(set(merged) - set(PRIORS))
    if unknown:
        raise ValueError(f"unknown prior(s) {unknown}; the priors are {list(PRIORS)}")
    for name, spec in merged.items():
        kind = spec[0]
        if name.startswith("mu_") and (kind != "normal" or len(spec) != 3 or not spec[2] > 0):
            raise ValueError(f"prior {name!r} must be ('normal', mean, sd > 0), got {spec}")
        if name.startswith("sigma_") and (kind not in SCALE_FAMILIES or len(spec) != 2 or not spec[1] > 0):
            raise ValueError(f"prior {name!r} must be (family, scale > 0) with family in "
                             f"{list(SCALE_FAMILIES)}, got {spec}")
    return merged


def _location(name, spec, **kwargs):
    return pm.Normal(name, mu=spec[1], sigma=spec[2], **kwargs)


def _scale(name, spec):
    dist, arg, _ = SCALE_FAMILIES[spec[0]]
    return dist(name, **{arg: spec[1]})


def _likelihood(df, alpha, beta, sigma_school):
    x = pm.Data("hours", df["hours_studied"].to_numpy(), dims="school")
    err = pm.Data("score_change_err", df["score_change_err"].to_numpy(), dims="school")
    pm.Normal("score_change", mu=alpha + beta * x, sigma=pm.math.sqrt(err**2 + sigma_school**2),
              observed=df["score_change"].to_numpy(), dims="school")


# ---------------------------------------------------------------------------
# The three models
# ---------------------------------------------------------------------------


def build_pooled(df: pd.DataFrame, *, districts: Sequence[str] | None = None,
                 priors: dict | None = None) -> pm.Model:
    """Complete pooling: one intercept and one slope for every school.

    Parameters
    ----------
    df : pandas.DataFrame
        A Five Districts table (see :func:`validate`).
    districts : sequence of str, optional
        Expected district labels (a label of ``df`` outside them is an error).
    priors : dict, optional
        Overrides of :data:`PRIORS`; ``alpha`` takes the ``mu_alpha`` prior and
        ``beta`` the ``mu_beta`` prior.

    Returns
    -------
    pymc.Model
        Free parameters ``alpha``, ``beta``, ``sigma_school``; deterministic
        ``beta_school`` (the slope that applies to each school, all equal);
        observed ``score_change`` (dims ``school``).
    """
    df, c, index = _setup(df, districts)
    p = _priors(priors)
    with pm.Model(coords=c) as model:
        pm.Data("district_idx", index, dims="school")
        alpha = _location("alpha", p["mu_alpha"])
        beta = _location("beta", p["mu_beta"])
        sigma_school = _scale("sigma_school", p["sigma_school"])
        pm.Deterministic("beta_school", beta * pm.math.ones_like(index, dtype=float), dims="school")
        _likelihood(df, alpha, beta, sigma_school)
    return model


def build_unpooled(df: pd.DataFrame, *, districts: Sequence[str] | None = None,
                   priors: dict | None = None) -> pm.Model:
    """No pooling: an independent intercept and slope for each district.

    The intrinsic scatter ``sigma_school`` is shared by all districts (with two
    schools a district cannot estimate its own).

    Parameters
    ----------
    df : pandas.DataFrame
        A Five Districts table (see :func:`validate`).
    districts : sequence of str, optional
        The districts of the model, in order; default the sorted labels of
        ``df``. A label of ``df`` outside them is an error.
    priors : dict, optional
        Overrides of :data:`PRIORS`; each ``alpha_d`` takes the ``mu_alpha``
        prior and each ``beta_d`` the ``mu_beta`` prior.

    Returns
    -------
    pymc.Model
        Free parameters ``alpha``, ``beta`` (dims ``district``) and
        ``sigma_school``; deterministic ``beta_school``.
    """
    df, c, index = _setup(df, districts)
    p = _priors(priors)
    with pm.Model(coords=c) as model:
        idx = pm.Data("district_idx", index, dims="school")
        alpha = _location("alpha", p["mu_alpha"], dims="district")
        beta = _location("beta", p["mu_beta"], dims="district")
        sigma_school = _scale("sigma_school", p["sigma_school"])
        pm.Deterministic("beta_school", beta[idx], dims="school")
        _likelihood(df, alpha[idx], beta[idx], sigma_school)
    return model


def build_hierarchical(df: pd.DataFrame, *, centered: bool, districts: Sequence[str] | None = None,
                       priors: dict | None = None) -> pm.Model:
    """Partial pooling: district intercepts and slopes drawn from a population.

    ``alpha_d ~ Normal(mu_alpha, sigma_alpha)`` and ``beta_d ~ Normal(mu_beta,
    sigma_beta)``. Centred: ``alpha`` and ``beta`` are the free parameters.
    Non-centred: ``alpha = mu_alpha + sigma_alpha * alpha_z`` with ``alpha_z ~
    Normal(0, 1)``, and likewise for ``beta``.

    Parameters
    ----------
    df : pandas.DataFrame
        A Five Districts table (see :func:`validate`).
    centered : bool
        The parameterisation (keyword only, no default: choose it).
    districts : sequence of str, optional
        The districts of the model, in order; default the sorted labels of
        ``df``. A listed district without schools is predicted from the
        population; a label of ``df`` outside them is an error.
    priors : dict, optional
        Overrides of :data:`PRIORS`.

    Returns
    -------
    pymc.Model
        Hyper-parameters ``mu_alpha``, ``sigma_alpha``, ``mu_beta``,
        ``sigma_beta``, ``sigma_school``; ``alpha`` and ``beta`` (dims
        ``district``); deterministic ``beta_school``.
    """
    if not isinstance(centered, bool):
        raise ValueError(f"centered must be True or False, got {centered!r}")
    df, c, index = _setup(df, districts)
    p = _priors(priors)
    with pm.Model(coords=c) as model:
        idx = pm.Data("district_idx", index, dims="school")
        mu_alpha = _location("mu_alpha", p["mu_alpha"])
        sigma_alpha = _scale("sigma_alpha", p["sigma_alpha"])
        mu_beta = _location("mu_beta", p["mu_beta"])
        sigma_beta = _scale("sigma_beta", p["sigma_beta"])
        sigma_school = _scale("sigma_school", p["sigma_school"])
        if centered:
            alpha = pm.Normal("alpha", mu=mu_alpha, sigma=sigma_alpha, dims="district")
            beta = pm.Normal("beta", mu=mu_beta, sigma=sigma_beta, dims="district")
        else:
            alpha_z = pm.Normal("alpha_z", 0.0, 1.0, dims="district")
            beta_z = pm.Normal("beta_z", 0.0, 1.0, dims="district")
            alpha = pm.Deterministic("alpha", mu_alpha + sigma_alpha * alpha_z, dims="district")
            beta = pm.Deterministic("beta", mu_beta + sigma_beta * beta_z, dims="district")
        pm.Deterministic("beta_school", beta[idx], dims="school")
        _likelihood(df, alpha[idx], beta[idx], sigma_school)
    return model


# ---------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------


def school_slopes(idata, df: pd.DataFrame, *, var_name: str = "beta") -> pd.DataFrame:
    """Posterior of the slope that applies to each school of a table.

    Works for any table of schools (for instance new schools), as long as
    their districts are in the model: a pooled model's ``beta`` is scalar and
    applies to every school, otherwise each school takes its district's slope.

    Parameters
    ----------
    idata : arviz.InferenceData
        A posterior from one of the builders.
    df : pandas.DataFrame
        Schools (a Five Districts table).
    var_name : str, default "beta"
        The slope variable.

    Returns
    -------
    pandas.DataFrame
        Index ``school`` labels (as in :func:`coords`), columns ``district``,
        ``mean``, ``sd``, ``hdi_3%`` and ``hdi_97%`` (points per hour).

    Raises
    ------
    ValueError
        If a district of ``df`` is not a district of the model.
    """
    import arviz as az
    import xarray as xr

    post = idata.posterior[var_name]
    known = list(idata.posterior.coords["district"].values) if "district" in idata.posterior.coords else None
    df = validate(df, known)
    labels = coords(df, known)["school"]
    if "district" in post.dims:
        draws = post.sel(district=df["district"].to_numpy()).values
    else:
        draws = np.repeat(post.values[..., None], len(df), axis=-1)
    hdi = az.hdi(xr.Dataset({"b": (("chain", "draw", "school"), draws)}), hdi_prob=0.94)["b"].values
    return pd.DataFrame({"district": df["district"].to_numpy(), "mean": draws.mean(axis=(0, 1)),
                         "sd": draws.std(axis=(0, 1)), "hdi_3%": hdi[:, 0], "hdi_97%": hdi[:, 1]},
                        index=pd.Index(labels, name="school"))


# ---------------------------------------------------------------------------
# Exact posterior by quadrature over the scale parameters
# ---------------------------------------------------------------------------


def _gaussian_grid(df, model, priors, n_grid):
    """Everything :func:`exact_posterior` and :func:`exact_loo` share: the linear-Gaussian model on a grid of scales."""
    if model not in ("pooled", "unpooled", "hierarchical"):
        raise ValueError(f"model must be 'pooled', 'unpooled' or 'hierarchical', got {model!r}")
    df, c, index = _setup(df, None)
    p = _priors(priors)
    n, k = len(df), len(c["district"])
    x, y, s = (df[col].to_numpy() for col in ("hours_studied", "score_change", "score_change_err"))
    (_, ma, sa), (_, mb, sb) = p["mu_alpha"], p["mu_beta"]

    # Line parameters theta = m0 + L(scales) eps, eps ~ N(0, I); y = X theta + noise.
    if model == "pooled":
        names = ["alpha", "beta"]
        X = np.column_stack([np.ones(n), x])
        m0 = np.array([ma, mb])
        scale_names = ["sigma_school"]
    else:
        names = [f"alpha[{d}]" for d in c["district"]] + [f"beta[{d}]" for d in c["district"]]
        onehot = np.eye(k)[index]
        X = np.hstack([onehot, onehot * x[:, None]])
        m0 = np.r_[np.full(k, ma), np.full(k, mb)]
        scale_names = ["sigma_school"]
        if model == "hierarchical":
            names += ["mu_alpha", "mu_beta"]
            X = np.hstack([X, np.zeros((n, 2))])
            m0 = np.r_[m0, ma, mb]
            scale_names += ["sigma_alpha", "sigma_beta"]

    u = (np.arange(n_grid) + 0.5) / n_grid
    axes = [SCALE_FAMILIES[p[name][0]][2].ppf(u, scale=p[name][1]) for name in scale_names]
    grid = np.array(list(product(*axes)))  # (G, n_scales), equal prior mass per point
    G, d = len(grid), len(names)
    L = np.zeros((G, d, d))
    if model == "hierarchical":
        for j in range(k):
            for block, (mean_i, sd_mu, sd_col) in enumerate([(2 * k, sa, 1), (2 * k + 1, sb, 2)]):
                row = block * k + j
                L[:, row, mean_i] = sd_mu
                L[:, row, row] = grid[:, sd_col]
        L[:, 2 * k, 2 * k], L[:, 2 * k + 1, 2 * k + 1] = sa, sb
    else:
        half = d // 2
        L[:, :half, :half] = np.eye(half) * sa
        L[:, half:, half:] = np.eye(half) * sb
    S0 = L @ L.transpose(0, 2, 1)
    XS0 = X @ S0  # (G, n, d)
    C = XS0 @ X.T + np.einsum("gi,ij->gij", s**2 + grid[:, [0]] ** 2, np.eye(n))
    r = y - X @ m0
    P = np.linalg.inv(C)
    w = P @ r  # C^-1 r, (G, n)
    logdet = 2 * np.log(np.diagonal(np.linalg.cholesky(C), axis1=1, axis2=2)).sum(axis=1)
    loglik = -0.5 * (np.einsum("gi,i->g", w, r) + logdet + n * np.log(2 * np.pi))
    return {"names": names, "scale_names": scale_names, "grid": grid, "S0": S0, "XS0": XS0, "P": P, "w": w,
            "m0": m0, "loglik": loglik}


def exact_posterior(df: pd.DataFrame, model: str, *, priors: dict | None = None, n_grid: int = 20
                    ) -> dict[str, pd.DataFrame]:
    """Posterior means and standard deviations of the lines, without MCMC.

    Given the scale parameters (``sigma_school``, and in the hierarchical model
    ``sigma_alpha`` and ``sigma_beta``) the intercepts, slopes and population
    means have a Gaussian prior and a Gaussian likelihood, so their conditional
    posterior and the marginal likelihood of the scales are exact linear
    algebra. The scales are integrated numerically on a grid of ``n_grid``
    equal-probability points of each scale's prior (the midpoint rule in
    prior-probability space), so the result is exact up to that quadrature.

    Parameters
    ----------
    df : pandas.DataFrame
        A Five Districts table.
    model : {"pooled", "unpooled", "hierarchical"}
        Which model.
    priors : dict, optional
        Overrides of :data:`PRIORS`.
    n_grid : int, default 20
        Grid points per scale parameter (``n_grid**3`` for the hierarchical model).

    Returns
    -------
    dict
        ``"lines"``: DataFrame indexed by the line parameters (``alpha``,
        ``beta`` for the pooled model; ``alpha[A]``..., ``beta[A]``...
        otherwise, plus ``mu_alpha`` and ``mu_beta`` for the hierarchical
        model), columns ``mean`` and ``sd``. ``"scales"``: posterior mean and
        sd of each scale. ``"log_evidence"``: the log marginal likelihood
        ``log p(y)`` (float).
    """
    g = _gaussian_grid(df, model, priors, n_grid)
    weight = np.exp(g["loglik"] - g["loglik"].max())
    weight /= weight.sum()
    mean_g = g["m0"] + np.einsum("gid,gi->gd", g["XS0"], g["w"])
    cov_g = g["S0"] - g["XS0"].transpose(0, 2, 1) @ g["P"] @ g["XS0"]
    mean = weight @ mean_g
    second = np.einsum("g,gij->ij", weight, cov_g + mean_g[:, :, None] * mean_g[:, None, :])
    sd = np.sqrt(np.diag(second) - mean**2)
    scale_mean = weight @ g["grid"]
    scale_sd = np.sqrt(weight @ g["grid"] ** 2 - scale_mean**2)
    return {
        "lines": pd.DataFrame({"mean": mean, "sd": sd}, index=g["names"]),
        "scales": pd.DataFrame({"mean": scale_mean, "sd": scale_sd}, index=g["scale_names"]),
        "log_evidence": float(logsumexp(g["loglik"]) - np.log(len(g["grid"]))),
    }


def exact_loo(df: pd.DataFrame, model: str, *, priors: dict | None = None, n_grid: int = 20) -> pd.Series:
    """Exact leave-one-out predictive densities ``log p(y_i | y_-i)`` of every school.

    For fixed scales ``y`` is jointly Gaussian with covariance ``C``, so
    ``y_i | y_-i`` is Gaussian with variance ``1 / (C^-1)_ii`` and mean residual
    ``(C^-1 r)_i / (C^-1)_ii`` (no refitting needed). The scales are integrated
    as in :func:`exact_posterior`, using
    ``p(y_i | y_-i) = p(y) / p(y_-i)`` with ``p(y_-i) = sum_g p(y | g) / p(y_i | y_-i, g)``.
    This is the reference that Pareto-smoothed importance sampling (``arviz.loo``)
    approximates.

    Parameters
    ----------
    df : pandas.DataFrame
        A Five Districts table.
    model : {"pooled", "unpooled", "hierarchical"}
        Which model.
    priors : dict, optional
        Overrides of :data:`PRIORS`.
    n_grid : int, default 20
        Grid points per scale parameter.

    Returns
    -------
    pandas.Series
        ``elpd_i`` indexed by school label (as in :func:`coords`); its sum is
        the model's exact ``elpd_loo``.
    """
    g = _gaussian_grid(df, model, priors, n_grid)
    p_ii = np.diagonal(g["P"], axis1=1, axis2=2)  # (G, n)
    log_cond = 0.5 * np.log(p_ii / (2 * np.pi)) - 0.5 * g["w"] ** 2 / p_ii
    log_p_y = logsumexp(g["loglik"])
    log_p_minus_i = logsumexp(g["loglik"][:, None] - log_cond, axis=0)
    return pd.Series(log_p_y - log_p_minus_i, index=pd.Index(coords(df)["school"], name="school"), name="elpd_loo")


def prior_predictive_sd(df: pd.DataFrame, *, priors: dict | None = None) -> pd.Series:
    """Prior predictive standard deviation of each school's score change in the hierarchical model.

    Exact: ``Var(y_i) = sd_mu_alpha**2 + E[sigma_alpha**2] + x_i**2 (sd_mu_beta**2 +
    E[sigma_beta**2]) + E[sigma_school**2] + s_i**2``.

    Parameters
    ----------
    df : pandas.DataFrame
        A Five Districts table.
    priors : dict, optional
        Overrides of :data:`PRIORS`; the scale priors must have a finite second
        moment (half-normal or exponential, not half-Cauchy).

    Returns
    -------
    pandas.Series
        Standard deviations (points) indexed by school label.
    """
    df = validate(df)
    p = _priors(priors)
    second = {}
    for name in ("sigma_alpha", "sigma_beta", "sigma_school"):
        family, scale = p[name]
        if family == "halfcauchy":
            raise ValueError(f"{name} has a half-Cauchy prior, whose prior predictive variance is infinite")
        second[name] = SCALE_FAMILIES[family][2].moment(2, scale=scale)
    x, s = df["hours_studied"].to_numpy(), df["score_change_err"].to_numpy()
    var = (p["mu_alpha"][2] ** 2 + second["sigma_alpha"] + x**2 * (p["mu_beta"][2] ** 2 + second["sigma_beta"])
           + second["sigma_school"] + s**2)
    return pd.Series(np.sqrt(var), index=pd.Index(coords(df)["school"], name="school"), name="prior_sd")
