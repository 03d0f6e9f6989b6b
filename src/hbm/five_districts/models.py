"""The PyMC models of chapter 2: one builder, three kinds of pooling, and the per-school answer.

School ``i`` in district ``d[i]`` studied ``x_i`` hours and improved by ``y_i +- s_i`` points.
Every model has the same likelihood,

    y_i ~ Normal(alpha[d_i] + beta[d_i] x_i, sqrt(s_i**2 + sigma_school**2)),

in which the measurement error ``s_i`` and an intrinsic school-to-school scatter
``sigma_school`` about the district line add in quadrature (the school's true mean,
``Normal(line, sigma_school)``, is integrated out analytically). The models differ only in
what they say about the district intercepts ``alpha`` and slopes ``beta`` (points per hour):
``pooling="complete"`` (one line), ``"none"`` (an independent line per district) or
``"partial"`` (district lines drawn from a population, centred or non-centred).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pymc as pm

from hbm.data import FIVE_DISTRICTS, validate
from hbm.priors import Prior, prior_rv, resolve_priors

COLUMNS = tuple(FIVE_DISTRICTS)
"""The columns a Five Districts table must have (see ``data/README.md``)."""

POOLING = ("complete", "none", "partial")
"""The three models: one line, a line per district, district lines from a population."""

DEFAULT_PRIORS: dict[str, dict] = {
    "mu_alpha": {"dist": "Normal", "mu": 0.0, "sigma": 5.0},
    "mu_beta": {"dist": "Normal", "mu": 0.0, "sigma": 0.5},
    "sigma_alpha": {"dist": "HalfNormal", "sigma": 3.0},
    "sigma_beta": {"dist": "HalfNormal", "sigma": 0.25},
    "sigma_school": {"dist": "HalfNormal", "sigma": 2.0},
}
"""Default priors (justified in chapter 2). Without partial pooling the intercepts and slopes
take the priors of ``mu_alpha`` and ``mu_beta`` (and ``sigma_alpha``, ``sigma_beta`` are unused)."""

PRIOR_SETS: dict[str, dict[str, dict]] = {
    "default": DEFAULT_PRIORS,
    "wide": {
        "mu_alpha": {"dist": "Normal", "mu": 0.0, "sigma": 20.0},
        "mu_beta": {"dist": "Normal", "mu": 0.0, "sigma": 2.0},
        "sigma_alpha": {"dist": "HalfNormal", "sigma": 10.0},
        "sigma_beta": {"dist": "HalfNormal", "sigma": 1.0},
        "sigma_school": {"dist": "HalfNormal", "sigma": 10.0},
    },
    "heavy-tailed": {
        **DEFAULT_PRIORS,
        "sigma_alpha": {"dist": "HalfCauchy", "beta": 1.0},
        "sigma_beta": {"dist": "HalfCauchy", "beta": 0.1},
        "sigma_school": {"dist": "HalfCauchy", "beta": 1.0},
    },
}
"""The prior sets of the sensitivity analysis: the defaults, everything four to ten times wider,
and heavy-tailed (half-Cauchy) scale priors."""


def validate_schools(df: pd.DataFrame, districts: Sequence[str] | None = None) -> pd.DataFrame:
    """Validate a Five Districts table and return a clean copy.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``district``, ``hours_studied``, ``score_change`` and ``score_change_err``
        (as returned by ``hbm.data.load("five_districts")``).
    districts : sequence of str, optional
        The districts the model should know, in order. Every label in ``df`` must be one of
        them; a listed district without schools is allowed (the hierarchical model predicts it
        from the population). Default: the labels of ``df`` in sorted order.

    Returns
    -------
    pandas.DataFrame
        The four columns, labels as ``str`` and numbers as ``float``, with a fresh index.

    Raises
    ------
    ValueError
        If a column is missing, the table is empty, a number is NaN or infinite, an error is
        not positive, a label is empty, or a label is not among ``districts``.
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
        ``{"district": [...], "school": [...]}``; school ``k`` counts from 1 within its
        district in the order of the table.
    """
    return _coords(validate_schools(df, districts), districts)


def _coords(df: pd.DataFrame, districts: Sequence[str] | None) -> dict[str, list[str]]:
    """:func:`coords` of a table that :func:`validate_schools` has returned (not validated again)."""
    labels = [str(d) for d in districts] if districts is not None else sorted(df["district"].unique())
    k = df.groupby("district", sort=False).cumcount() + 1
    return {"district": labels, "school": [f"{d}-{i}" for d, i in zip(df["district"], k)]}


def district_index(df: pd.DataFrame, districts: Sequence[str] | None = None):
    """The validated table, its coordinates and each school's position in ``coords["district"]``."""
    df = validate_schools(df, districts)
    c = _coords(df, districts)
    return df, c, pd.Index(c["district"]).get_indexer(df["district"])


def validate_pooling(pooling: str) -> str:
    """Return ``pooling`` if it is one of :data:`POOLING`, else raise ``ValueError``."""
    if pooling not in POOLING:
        raise ValueError(f"pooling must be one of {list(POOLING)}, got {pooling!r}")
    return pooling


def build_model(df: pd.DataFrame, *, pooling: str = "partial", centred: bool = False,
                marginal: bool = False, priors: Mapping[str, Prior] | None = None,
                districts: Sequence[str] | None = None) -> pm.Model:
    """Regression of score change on hours studied with complete, no or partial pooling.

    ``pooling="complete"``: one intercept ``alpha`` and slope ``beta`` for every school.
    ``pooling="none"``: an independent ``alpha_d``, ``beta_d`` per district (the intrinsic
    scatter ``sigma_school`` is shared: with two schools a district cannot estimate its own).
    ``pooling="partial"``: ``alpha_d ~ Normal(mu_alpha, sigma_alpha)`` and
    ``beta_d ~ Normal(mu_beta, sigma_beta)``; centred, ``alpha`` and ``beta`` are the free
    parameters; non-centred, ``alpha = mu_alpha + sigma_alpha * alpha_z`` with
    ``alpha_z ~ Normal(0, 1)``, and likewise for ``beta``.

    Parameters
    ----------
    df : pandas.DataFrame
        A Five Districts table (see :func:`validate_schools`).
    pooling : {"partial", "complete", "none"}
        Which model.
    centred : bool, default False
        The parameterisation of the partially pooled model (the other two have no
        hyper-parameters, so nothing to centre: the flag is ignored there).
    marginal : bool, default False
        With ``pooling="partial"``: integrate the district lines out of the likelihood exactly
        (given the five scale and location parameters each district's ``(alpha_d, beta_d)`` is
        bivariate Gaussian, the algebra of :func:`quadrature_posterior`), so the sampler explores
        only ``mu_alpha``, ``sigma_alpha``, ``mu_beta``, ``sigma_beta`` and ``sigma_school``, and
        draw the lines from their exact conditional posterior through standard normals
        ``alpha_u``, ``beta_u`` (dims ``district``) that the data do not touch. The posterior is
        the same; neither the funnel at small ``sigma_beta`` (centred) nor the inverted one at
        large ``sigma_beta`` (non-centred, where the data pin ``mu_beta + sigma_beta * beta_z``)
        is left. The likelihood is a ``pm.Potential`` (``score_change_marginal``), so this model
        has no observed ``score_change``, pointwise log-likelihood or posterior predictive.
        Ignores ``centred``.
    priors : mapping, optional
        Overrides of :data:`DEFAULT_PRIORS`, e.g. ``{"sigma_beta": {"dist": "HalfCauchy",
        "beta": 0.1}}``. Without partial pooling ``alpha`` takes the ``mu_alpha`` prior and
        ``beta`` the ``mu_beta`` prior.
    districts : sequence of str, optional
        The districts of the model, in order; default the sorted labels of ``df``. A listed
        district without schools is predicted from the population (partial pooling) or from
        the prior; a label of ``df`` outside them is an error.

    Returns
    -------
    pymc.Model
        Coordinates ``district`` and ``school``. Free parameters ``alpha``, ``beta`` (scalars
        for complete pooling, dims ``district`` otherwise) and ``sigma_school``; with partial
        pooling also ``mu_alpha``, ``sigma_alpha``, ``mu_beta``, ``sigma_beta`` (and
        ``alpha_z``, ``beta_z`` when non-centred). Deterministic ``beta_school``, the slope that
        applies to each school; observed ``score_change`` (dims ``school``).
    """
    validate_pooling(pooling)
    if not isinstance(centred, bool):
        raise ValueError(f"centred must be True or False, got {centred!r}")
    if marginal and pooling != "partial":
        raise ValueError(f"marginal=True integrates out partially pooled lines; pooling is {pooling!r}")
    df, c, index = district_index(df, districts)
    p = resolve_priors(DEFAULT_PRIORS, priors)
    with pm.Model(coords=c) as model:
        idx = pm.Data("district_idx", index, dims="school")
        dims = None if pooling == "complete" else "district"
        if pooling == "partial":
            population = {name: prior_rv(name, p[name])
                          for name in ("mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta")}
            sigma_school = prior_rv("sigma_school", p["sigma_school"])
            if marginal:
                _marginal_lines(model, population, sigma_school, df, index)
                return model
            alpha, beta = _population_lines(population, centred)
        else:
            alpha = prior_rv("alpha", p["mu_alpha"], dims=dims)
            beta = prior_rv("beta", p["mu_beta"], dims=dims)
            sigma_school = prior_rv("sigma_school", p["sigma_school"])
        if dims is None:
            alpha_i, beta_i = alpha, beta
            pm.Deterministic("beta_school", beta * pm.math.ones_like(idx, dtype=float), dims="school")
        else:
            alpha_i, beta_i = alpha[idx], beta[idx]
            pm.Deterministic("beta_school", beta_i, dims="school")
        x = pm.Data("hours", df["hours_studied"].to_numpy(), dims="school")
        err = pm.Data("score_change_err", df["score_change_err"].to_numpy(), dims="school")
        pm.Normal("score_change", mu=alpha_i + beta_i * x, sigma=pm.math.sqrt(err**2 + sigma_school**2),
                  observed=df["score_change"].to_numpy(), dims="school")
    return model


def _population_lines(population: dict, centred: bool):
    """District intercepts and slopes drawn from their population (inside a model context)."""
    mu_alpha, sigma_alpha = population["mu_alpha"], population["sigma_alpha"]
    mu_beta, sigma_beta = population["mu_beta"], population["sigma_beta"]
    if centred:
        alpha = pm.Normal("alpha", mu=mu_alpha, sigma=sigma_alpha, dims="district")
        beta = pm.Normal("beta", mu=mu_beta, sigma=sigma_beta, dims="district")
    else:
        alpha_z = pm.Normal("alpha_z", 0.0, 1.0, dims="district")
        beta_z = pm.Normal("beta_z", 0.0, 1.0, dims="district")
        alpha = pm.Deterministic("alpha", mu_alpha + sigma_alpha * alpha_z, dims="district")
        beta = pm.Deterministic("beta", mu_beta + sigma_beta * beta_z, dims="district")
    return alpha, beta


def _marginal_lines(model: pm.Model, population: dict, sigma_school, df: pd.DataFrame,
                    index: np.ndarray) -> None:
    """The likelihood with each district's line integrated out, and the lines' exact draws.

    Per district, with weights ``w = 1 / (s**2 + sigma_school**2)``, data precision ``H`` (the
    weighted sums of ``1, x, x**2``) and ``h`` (of ``y, x y``), prior mean ``m`` and precision
    ``P^-1 = diag(sigma_alpha, sigma_beta)**-2``: the line's conditional posterior has precision
    ``A = P^-1 + H`` and mean ``A^-1 b``, ``b = P^-1 m + h``, and ``-2 log p(y_d)`` is ``n log 2 pi
    + sum log(1 / w) + sum w y**2 + m' P^-1 m - b' A^-1 b + log |P| + log |A|``.
    """
    import pytensor.tensor as pt

    k = len(model.coords["district"])
    x, y = df["hours_studied"].to_numpy(), df["score_change"].to_numpy()
    with model:
        idx = model["district_idx"]
        hours = pm.Data("hours", x, dims="school")
        err = pm.Data("score_change_err", df["score_change_err"].to_numpy(), dims="school")
        w = 1.0 / (err**2 + sigma_school**2)

        def per_district(v):
            return pt.inc_subtensor(pt.zeros(k)[idx], v)

        h11, h12, h22 = per_district(w), per_district(w * hours), per_district(w * hours**2)
        h1, h2 = per_district(w * y), per_district(w * hours * y)
        q1, q2 = population["sigma_alpha"] ** -2, population["sigma_beta"] ** -2
        m1, m2 = population["mu_alpha"], population["mu_beta"]
        a11, a12, a22 = q1 + h11, h12, q2 + h22
        b1, b2 = q1 * m1 + h1, q2 * m2 + h2
        det = a11 * a22 - a12**2
        pm.Potential("score_change_marginal", -0.5 * (
            len(y) * np.log(2 * np.pi) - pt.sum(pt.log(w)) + pt.sum(w * y**2)
            + pt.sum(q1 * m1**2 + q2 * m2**2 - (a22 * b1**2 - 2 * a12 * b1 * b2 + a11 * b2**2) / det)
            - k * pt.log(q1 * q2) + pt.sum(pt.log(det))))
        # the draws: mean A^-1 b plus L^-T u, with A = L L^T (2 x 2 Cholesky by hand)
        alpha_u = pm.Normal("alpha_u", 0.0, 1.0, dims="district")
        beta_u = pm.Normal("beta_u", 0.0, 1.0, dims="district")
        l11 = pt.sqrt(a11)
        l21 = a12 / l11
        l22 = pt.sqrt(a22 - l21**2)
        z2 = beta_u / l22
        pm.Deterministic("alpha", (a22 * b1 - a12 * b2) / det + (alpha_u - l21 * z2) / l11,
                         dims="district")
        beta = pm.Deterministic("beta", (a11 * b2 - a12 * b1) / det + z2, dims="district")
        pm.Deterministic("beta_school", beta[idx], dims="school")


def school_slopes(idata, df: pd.DataFrame, *, var_name: str = "beta") -> pd.DataFrame:
    """Posterior of the slope that applies to each school of a table.

    Works for any table of schools (for instance new schools), as long as their districts are
    in the model: a completely pooled model's ``beta`` is scalar and applies to every school,
    otherwise each school takes its district's slope.

    Parameters
    ----------
    idata : arviz.InferenceData
        A posterior from :func:`build_model`.
    df : pandas.DataFrame
        Schools (a Five Districts table).
    var_name : str, default "beta"
        The slope variable.

    Returns
    -------
    pandas.DataFrame
        Index ``school`` labels (as in :func:`coords`), columns ``district``, ``mean``, ``sd``,
        ``hdi_3%`` and ``hdi_97%`` (points per hour).

    Raises
    ------
    ValueError
        If a district of ``df`` is not a district of the model.
    """
    import arviz as az
    import xarray as xr

    post = idata.posterior[var_name]
    known = list(idata.posterior.coords["district"].values) if "district" in idata.posterior.coords else None
    df = validate_schools(df, known)
    labels = _coords(df, known)["school"]
    if "district" in post.dims:
        draws = post.sel(district=df["district"].to_numpy()).values
    else:
        draws = np.repeat(post.values[..., None], len(df), axis=-1)
    hdi = az.hdi(xr.Dataset({"b": (("chain", "draw", "school"), draws)}), hdi_prob=0.94)["b"].values
    return pd.DataFrame({"district": df["district"].to_numpy(), "mean": draws.mean(axis=(0, 1)),
                         "sd": draws.std(axis=(0, 1)), "hdi_3%": hdi[:, 0], "hdi_97%": hdi[:, 1]},
                        index=pd.Index(labels, name="school"))
