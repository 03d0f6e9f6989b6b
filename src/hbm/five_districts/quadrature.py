"""Reference answers for chapter 2 without MCMC: linear algebra given the scales, quadrature over them.

Given the scale parameters (``sigma_school``, and with partial pooling ``sigma_alpha`` and
``sigma_beta``) every model of :func:`hbm.five_districts.build_model` is linear and Gaussian:
the intercepts, slopes and population means have a Gaussian prior and a Gaussian likelihood,
so their conditional posterior, the marginal likelihood ``p(y | scales)`` and the
leave-one-out densities ``p(y_i | y_-i, scales)`` are exact. The scales are integrated
numerically on a tensor grid, uniform in ``log(scale)`` (the trapezoid rule, which converges
geometrically for smooth integrands that vanish at both ends). The grid is placed
adaptively: a coarse pass over the prior's central ``1 - 2e-6`` probability finds where the
posterior mass lies, and the fine grid of ``n_grid`` points per scale covers that region.
``tests/test_five_districts.py`` shows that doubling ``n_grid`` changes no reported number
by more than 0.01. The priors are evaluated with :func:`hbm.priors.prior_logpdf`, so the
reference and the PyMC model cannot disagree about them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from hbm.five_districts.models import DEFAULT_PRIORS, district_index, validate_pooling, validate_schools
from hbm.priors import Prior, prior_logpdf, prior_quantile, resolve_priors

N_GRID = 16
"""Default grid points per scale parameter (``N_GRID**3`` points with partial pooling)."""

PRIOR_RANGE = (0.0, 1 - 1e-6)
"""Prior probability range of each scale that the coarse pass searches."""

_COARSE, _TRIM, _BATCH = 16, 1e-12, 2048


def _setup(df, pooling: str, priors):
    """The linear-Gaussian model: design ``X``, prior mean ``m0`` and the prior precision ``S0(scales)^-1``."""
    validate_pooling(pooling)
    df, c, index = district_index(df)
    p = resolve_priors(DEFAULT_PRIORS, priors)
    for name in ("mu_alpha", "mu_beta"):
        if p[name]["dist"] != "Normal":
            raise ValueError(f"the quadrature needs a Normal prior for {name!r}, got {p[name]['dist']}")
    n, k = len(df), len(c["district"])
    x = df["hours_studied"].to_numpy()
    (ma, sa), (mb, sb) = ((p[v]["mu"], p[v]["sigma"]) for v in ("mu_alpha", "mu_beta"))
    if pooling == "complete":
        names, X = ["alpha", "beta"], np.column_stack([np.ones(n), x])
        m0, scale_names = np.array([ma, mb]), ["sigma_school"]
    else:
        names = [f"alpha[{d}]" for d in c["district"]] + [f"beta[{d}]" for d in c["district"]]
        onehot = np.eye(k)[index]
        X = np.hstack([onehot, onehot * x[:, None]])
        m0, scale_names = np.r_[np.full(k, ma), np.full(k, mb)], ["sigma_school"]
        if pooling == "partial":
            names += ["mu_alpha", "mu_beta"]
            X = np.hstack([X, np.zeros((n, 2))])
            m0 = np.r_[m0, ma, mb]
            scale_names += ["sigma_alpha", "sigma_beta"]

    def prior_precision(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Prior precision of the line parameters for a batch of scales, (B, d, d), and the log
        determinant of the prior covariance, (B,), both in closed form."""
        d, B = len(names), len(scales)
        P0 = np.zeros((B, d, d))
        if pooling != "partial":
            var = np.r_[np.full(d // 2, sa**2), np.full(d // 2, sb**2)]
            P0[:, np.arange(d), np.arange(d)] = 1 / var
            return P0, np.full(B, np.log(var).sum())
        # alpha_j = mu_alpha + sigma_alpha z_j, mu_alpha ~ N(ma, sa^2): the density of mu_alpha
        # times those of alpha_j given it, -(mu - ma)^2 / 2 sa^2 - sum_j (alpha_j - mu)^2 / 2 sigma^2
        logdet = np.zeros(B)
        for block, (sd_mu, col) in enumerate([(sa, 1), (sb, 2)]):
            members, mu = np.arange(block * k, (block + 1) * k), 2 * k + block
            prec = 1 / scales[:, [col]] ** 2                                           # (B, 1)
            P0[:, members, members] = prec
            P0[:, members, mu] = P0[:, mu, members] = -prec
            P0[:, mu, mu] = 1 / sd_mu**2 + k * prec[:, 0]
            logdet += np.log(sd_mu**2) - k * np.log(prec[:, 0])
        return P0, logdet

    y, s = df["score_change"].to_numpy(), df["score_change_err"].to_numpy()
    return {"df": df, "coords": c, "names": names, "X": X, "m0": m0, "y": y, "s2": s**2,
            "scale_names": scale_names, "priors": [p[name] for name in scale_names], "prior_precision": prior_precision}


def _conditional(m, scales: np.ndarray, *, full: bool) -> dict[str, np.ndarray]:
    """Everything that is exact given the scales, for a batch of grid points.

    With ``D = diag(s_i^2 + sigma_school^2)`` and prior covariance ``S0`` of the line
    parameters, the data covariance is ``C = X S0 X' + D``; the Woodbury identity works with
    the posterior precision ``Q = S0^-1 + X' D^-1 X`` (d x d, d = number of line parameters)
    instead of inverting ``C`` (n x n).
    """
    X, r = m["X"], m["y"] - m["X"] @ m["m0"]
    S0_inv, logdet_S0 = m["prior_precision"](scales)
    d_inv = 1.0 / (m["s2"] + scales[:, [0]] ** 2)  # (B, n)
    XtDX = np.einsum("na,bn,nc->bac", X, d_inv, X)
    V = np.linalg.inv(S0_inv + XtDX)  # posterior covariance given the scales
    u = (d_inv * r) @ X  # X' D^-1 r, (B, d)
    Vu = np.einsum("bac,bc->ba", V, u)
    quad = np.einsum("bn,n->b", d_inv, r**2) - np.einsum("ba,ba->b", u, Vu)  # r' C^-1 r
    logdet = (-np.log(d_inv).sum(axis=1) + logdet_S0
              - np.linalg.slogdet(V)[1])  # log|C| = log|D| + log|S0| + log|Q|
    out = {"loglik": -0.5 * (quad + logdet + len(r) * np.log(2 * np.pi))}
    if full:
        w = d_inv * (r - Vu @ X.T)  # C^-1 r
        p_ii = d_inv - d_inv**2 * np.einsum("na,bac,nc->bn", X, V, X, optimize=True)  # diag(C^-1)
        out["log_cond"] = 0.5 * np.log(p_ii / (2 * np.pi)) - 0.5 * w**2 / p_ii  # log p(y_i | y_-i, scales)
        out["mean"] = m["m0"] + Vu
        out["var"] = np.diagonal(V, axis1=1, axis2=2).copy()
    return out


def _evaluate(m, axes: list[np.ndarray], *, full: bool):
    """The grid (product of the axes in t = asinh(scale / c)), its log weights and the conditionals."""
    t = np.array(np.meshgrid(*axes, indexing="ij")).reshape(len(axes), -1).T  # (G, n_scales)
    c = m["c"]
    scales = c * np.sinh(t)
    log_w = sum(prior_logpdf(spec, scales[:, j]) + np.log(c[j] * np.cosh(t[:, j]))
                + np.log(axes[j][1] - axes[j][0]) for j, spec in enumerate(m["priors"]))
    parts = [_conditional(m, scales[i:i + _BATCH], full=full) for i in range(0, len(t), _BATCH)]
    res = {key: np.concatenate([q[key] for q in parts]) for key in parts[0]}
    return scales, log_w, res


def _axis(lo: float, hi: float, n: int) -> np.ndarray:
    """Midpoints of n equal cells between lo and hi."""
    return lo + (np.arange(n) + 0.5) * (hi - lo) / n


def _trim(m, axes: list[np.ndarray], n: int) -> list[np.ndarray]:
    """New axes of n midpoints covering the cells where the posterior has mass (> _TRIM of the top)."""
    _, log_w, res = _evaluate(m, axes, full=False)
    log_post = (log_w + res["loglik"]).reshape([len(a) for a in axes])
    out = []
    for j, axis in enumerate(axes):
        marginal = logsumexp(log_post, axis=tuple(a for a in range(len(axes)) if a != j))
        keep = np.flatnonzero(marginal >= marginal.max() + np.log(_TRIM))
        half = (axis[1] - axis[0]) / 2
        # extend by one cell on each side; a range reaching the first cell starts at scale 0
        lo = 0.0 if keep[0] <= 1 else axis[keep[0] - 1] - half
        hi = axis[min(keep[-1] + 1, len(axis) - 1)] + half
        out.append(_axis(lo, hi, n))
    return out


_CACHE: dict = {}


def _quadrature(df, pooling: str, priors, n_grid: int) -> dict:
    """The quadrature for one table, model, prior and grid size (the last few are kept)."""
    key = (pd.util.hash_pandas_object(validate_schools(df)).values.tobytes(), pooling,
           json.dumps(priors, sort_keys=True, default=float), n_grid)
    if key not in _CACHE:
        if len(_CACHE) >= 12:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = _compute(df, pooling, priors, n_grid)
    return _CACHE[key]


def _compute(df, pooling: str, priors, n_grid: int) -> dict:
    if not (isinstance(n_grid, (int, np.integer)) and n_grid >= 8):
        raise ValueError(f"n_grid must be an integer of at least 8, got {n_grid!r}")
    m = _setup(df, pooling, priors)
    m["c"] = np.array([float(prior_quantile(spec, 0.5)) for spec in m["priors"]])
    axes = [_axis(0.0, np.arcsinh(prior_quantile(spec, PRIOR_RANGE[1]) / c), _COARSE)
            for spec, c in zip(m["priors"], m["c"])]
    axes = _trim(m, _trim(m, axes, n_grid), n_grid)
    scales, log_w, res = _evaluate(m, axes, full=True)
    log_joint = log_w + res["loglik"]
    return {**m, "scales": scales, "log_joint": log_joint, "axes": axes,
            "weight": np.exp(log_joint - logsumexp(log_joint)), **res}


def quadrature_posterior(df: pd.DataFrame, *, pooling: str = "partial", priors: Mapping[str, Prior] | None = None,
                         n_grid: int = N_GRID) -> dict:
    """Posterior means and standard deviations of the lines and the scales, without MCMC.

    Parameters
    ----------
    df : pandas.DataFrame
        A Five Districts table.
    pooling : {"partial", "complete", "none"}
        Which model (as in :func:`hbm.five_districts.build_model`).
    priors : mapping, optional
        Overrides of ``DEFAULT_PRIORS`` (the location priors must be Normal).
    n_grid : int
        Grid points per scale parameter.

    Returns
    -------
    dict
        ``"lines"``: DataFrame indexed by the line parameters (``alpha``, ``beta`` for complete
        pooling; ``alpha[A]``..., ``beta[A]``... otherwise, plus ``mu_alpha`` and ``mu_beta``
        with partial pooling), columns ``mean`` and ``sd``. ``"scales"``: the same for each
        scale. ``"log_evidence"``: the log marginal likelihood ``log p(y)``.
    """
    q = _quadrature(df, pooling, priors, n_grid)
    w = q["weight"]
    mean = w @ q["mean"]
    sd = np.sqrt(w @ (q["var"] + q["mean"] ** 2) - mean**2)
    scale_mean = w @ q["scales"]
    scale_sd = np.sqrt(w @ q["scales"] ** 2 - scale_mean**2)
    return {"lines": pd.DataFrame({"mean": mean, "sd": sd}, index=q["names"]),
            "scales": pd.DataFrame({"mean": scale_mean, "sd": scale_sd}, index=q["scale_names"]),
            "log_evidence": float(logsumexp(q["log_joint"]))}


def quadrature_loo(df: pd.DataFrame, *, pooling: str = "partial", priors: Mapping[str, Prior] | None = None,
                   n_grid: int = N_GRID) -> pd.Series:
    """Leave-one-out predictive densities ``log p(y_i | y_-i)`` of every school, without refitting.

    For fixed scales ``y`` is jointly Gaussian with covariance ``C``, so ``y_i | y_-i`` is
    Gaussian with variance ``1 / (C^-1)_ii`` and mean residual ``(C^-1 r)_i / (C^-1)_ii``.
    The scales are integrated as in :func:`quadrature_posterior`, using
    ``p(y_i | y_-i) = p(y) / p(y_-i)`` with ``p(y_-i) = sum_g w_g p(y | g) / p(y_i | y_-i, g)``.
    This is the reference that Pareto-smoothed importance sampling (``arviz.loo``) approximates.

    Returns
    -------
    pandas.Series
        ``elpd_i`` indexed by school label; its sum is the model's ``elpd_loo``.
    """
    q = _quadrature(df, pooling, priors, n_grid)
    log_p_minus_i = logsumexp(q["log_joint"][:, None] - q["log_cond"], axis=0)
    return pd.Series(logsumexp(q["log_joint"]) - log_p_minus_i,
                     index=pd.Index(q["coords"]["school"], name="school"), name="elpd_loo")


def quadrature_interval(df: pd.DataFrame, name: str, *, pooling: str = "partial",
                        priors: Mapping[str, Prior] | None = None, prob: float = 0.94,
                        n_grid: int = N_GRID) -> tuple[float, float]:
    """Highest-density interval of one parameter's marginal posterior (a line parameter or a scale).

    Parameters
    ----------
    name : str
        ``"mu_beta"``, ``"beta[E]"``, ``"sigma_beta"``, ... (see :func:`quadrature_posterior`).
    prob : float, default 0.94
        Posterior probability of the interval.

    Returns
    -------
    (float, float)
        The interval's ends.
    """
    q = _quadrature(df, pooling, priors, n_grid)
    w = q["weight"]
    if name in q["names"]:
        j = q["names"].index(name)
        mu, sd = q["mean"][:, j], np.sqrt(q["var"][:, j])
        x = np.linspace((mu - 8 * sd).min(), (mu + 8 * sd).max(), 20001)
        density = np.zeros_like(x)
        # each grid point's normal is summed within 8 sds of its mean, as x's range is set (beyond that
        # it is below 1e-14 of its peak): the same intervals, 2-2.5x faster than over all of x
        ends = np.searchsorted(x, np.stack([mu - 8 * sd, mu + 8 * sd]))
        for i in np.flatnonzero(w > 1e-14 * w.max()):
            part = slice(*ends[:, i])
            density[part] += w[i] * np.exp(-0.5 * ((x[part] - mu[i]) / sd[i]) ** 2) / sd[i]
        dx = np.gradient(x)
    elif name in q["scale_names"]:
        j = q["scale_names"].index(name)
        axis, c = q["axes"][j], q["c"][j]
        mass = w.reshape([len(a) for a in q["axes"]]).sum(axis=tuple(a for a in range(len(q["axes"])) if a != j))
        h = axis[1] - axis[0]
        t = np.linspace(max(axis[0] - h / 2, 0.0), axis[-1] + h / 2, 20001)
        x, dx = c * np.sinh(t), c * np.cosh(t) * (t[1] - t[0])
        density = np.interp(t, axis, mass / h) / (c * np.cosh(t))  # density in scale units
    else:
        raise ValueError(f"unknown parameter {name!r}; choose one of {q['names'] + q['scale_names']}")
    order = np.argsort(density)[::-1]
    inside = order[: np.searchsorted(np.cumsum((density * dx)[order]) / np.sum(density * dx), prob) + 1]
    return float(x[inside].min()), float(x[inside].max())


def prior_predictive_sd(df: pd.DataFrame, *, priors: Mapping[str, Prior] | None = None) -> pd.Series:
    """Prior predictive standard deviation of each school's score change with partial pooling.

    Exact: ``Var(y_i) = sd(mu_alpha)**2 + E[sigma_alpha**2] + x_i**2 (sd(mu_beta)**2 +
    E[sigma_beta**2]) + E[sigma_school**2] + s_i**2``.

    Parameters
    ----------
    df : pandas.DataFrame
        A Five Districts table.
    priors : mapping, optional
        Overrides of ``DEFAULT_PRIORS``; the location priors must be Normal and the scale priors
        need a finite second moment (half-normal or exponential, not half-Cauchy).

    Returns
    -------
    pandas.Series
        Standard deviations (points) indexed by school label.
    """
    m = _setup(df, "partial", priors)
    p = resolve_priors(DEFAULT_PRIORS, priors)
    second = {}
    for name in ("sigma_alpha", "sigma_beta", "sigma_school"):
        spec = p[name]
        if spec["dist"] == "HalfNormal":
            second[name] = spec["sigma"] ** 2
        elif spec["dist"] == "Exponential":
            second[name] = 2 / spec["lam"] ** 2
        else:
            raise ValueError(f"{name} has a {spec['dist']} prior: its prior predictive variance is "
                             "infinite or not implemented (use HalfNormal or Exponential)")
    x, s2 = m["df"]["hours_studied"].to_numpy(), m["s2"]
    var = (p["mu_alpha"]["sigma"] ** 2 + second["sigma_alpha"]
           + x**2 * (p["mu_beta"]["sigma"] ** 2 + second["sigma_beta"]) + second["sigma_school"] + s2)
    return pd.Series(np.sqrt(var), index=pd.Index(m["coords"]["school"], name="school"), name="prior_sd")
