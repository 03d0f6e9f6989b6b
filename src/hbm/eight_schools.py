"""Chapter 1, the Eight Schools: pooled estimate, exact posterior, PyMC models and a Stan cross-check.

The hierarchical model of Rubin (1981) and Gelman et al. (BDA3, section 5.5) is

.. math::

    y_j \\sim \\mathcal N(\\theta_j, \\sigma_j), \\quad \\theta_j \\sim \\mathcal N(\\mu, \\tau),

with the standard errors :math:`\\sigma_j` known. Priors are given as small
dictionaries, ``{"dist": <name>, <parameter>: <value>, ...}``, for example
``{"dist": "HalfCauchy", "beta": 5}``; :data:`TAU_PRIORS` and :data:`MU_PRIORS`
list the names and parameters that are understood.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pymc as pm
import scipy.stats as st

MU_PRIORS: dict[str, tuple[str, ...]] = {
    "Normal": ("mu", "sigma"),
    "Flat": (),
}
"""Priors understood for ``mu``: name -> parameter names (PyMC's)."""

TAU_PRIORS: dict[str, tuple[str, ...]] = {
    "HalfCauchy": ("beta",),
    "HalfNormal": ("sigma",),
    "Exponential": ("lam",),
    "Uniform": ("lower", "upper"),
    "InverseGamma": ("alpha", "beta"),
    "HalfFlat": (),
}
"""Priors understood for ``tau``: name -> parameter names (PyMC's). ``HalfFlat`` is the
improper uniform prior on (0, infinity) of BDA3 section 5.4."""

POPULATIONS = ("normal", "student_t")
"""Population distributions of the school effects ``theta``."""

DEFAULT_MU_PRIOR = {"dist": "Normal", "mu": 0.0, "sigma": 5.0}
DEFAULT_TAU_PRIOR = {"dist": "HalfCauchy", "beta": 5.0}


def _check_data(y, sigma) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    if y.ndim != 1 or sigma.ndim != 1:
        raise ValueError(f"y and sigma must be one-dimensional, got shapes {y.shape} and {sigma.shape}")
    if y.shape != sigma.shape:
        raise ValueError(f"y and sigma must have the same length, got {y.size} and {sigma.size}")
    if y.size < 2:
        raise ValueError(f"need at least two schools, got {y.size}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinite values")
    if not (np.all(np.isfinite(sigma)) and np.all(sigma > 0)):
        raise ValueError("sigma must be finite and strictly positive (standard errors)")
    return y, sigma


def _check_prior(prior, known: dict[str, tuple[str, ...]], what: str) -> dict:
    if not isinstance(prior, dict) or "dist" not in prior:
        raise ValueError(f"{what} must be a dict like {{'dist': 'HalfCauchy', 'beta': 5}}, got {prior!r}")
    name = prior["dist"]
    if name not in known:
        raise ValueError(f"unknown {what} {name!r}; choose one of {sorted(known)}")
    params = {k: v for k, v in prior.items() if k != "dist"}
    if set(params) != set(known[name]):
        raise ValueError(f"{what} {name} needs exactly the parameters {list(known[name])}, got {sorted(params)}")
    for key, value in params.items():
        if not np.isfinite(value):
            raise ValueError(f"{what} {name}: parameter {key} must be finite, got {value!r}")
        if key != "mu" and key != "lower" and value <= 0:
            raise ValueError(f"{what} {name}: parameter {key} must be positive, got {value!r}")
    if name == "Uniform" and not 0 <= params["lower"] < params["upper"]:
        raise ValueError(f"{what} Uniform needs 0 <= lower < upper, got {params}")
    return {"dist": name, **{k: float(v) for k, v in params.items()}}


def describe_prior(prior: dict) -> str:
    """A short label such as ``HalfCauchy(5)`` for tables and plots."""
    params = ", ".join(f"{v:g}" for k, v in prior.items() if k != "dist")
    return f"{prior['dist']}({params})"


# ---------------------------------------------------------------------------
# Complete pooling
# ---------------------------------------------------------------------------


def pooled_estimate(y, sigma) -> tuple[float, float]:
    """Inverse-variance weighted mean of the school effects and its standard error.

    Parameters
    ----------
    y, sigma : array_like
        Estimated effects and their (known) standard errors.

    Returns
    -------
    mean, sd : float
        :math:`\\sum_j y_j/\\sigma_j^2 \\,/\\, \\sum_j 1/\\sigma_j^2` and
        :math:`(\\sum_j 1/\\sigma_j^2)^{-1/2}`.
    """
    y, sigma = _check_data(y, sigma)
    w = 1.0 / sigma**2
    return float(np.sum(w * y) / np.sum(w)), float(np.sqrt(1.0 / np.sum(w)))


def pooled_predictive_check(y, sigma, n_sims: int, *, random_seed: int) -> dict[str, np.ndarray]:
    """Simulate replicated schools from the complete-pooling posterior predictive.

    Each replication draws a common effect from its posterior
    ``N(pooled mean, pooled sd)``, then ``y_rep_j ~ N(effect, sigma_j)``.

    Returns
    -------
    dict
        ``min`` and ``max`` (each ``(n_sims,)``) of the replicated effects, and
        ``p_min`` / ``p_max``: the fractions of replications whose minimum is at
        most / maximum at least the observed one.
    """
    y, sigma = _check_data(y, sigma)
    if n_sims < 1:
        raise ValueError(f"n_sims must be positive, got {n_sims}")
    rng = np.random.default_rng(random_seed)
    mean, sd = pooled_estimate(y, sigma)
    effect = rng.normal(mean, sd, size=(n_sims, 1))
    y_rep = rng.normal(effect, sigma)
    lo, hi = y_rep.min(axis=1), y_rep.max(axis=1)
    return {"min": lo, "max": hi, "p_min": float(np.mean(lo <= y.min())), "p_max": float(np.mean(hi >= y.max()))}


# ---------------------------------------------------------------------------
# Exact posterior (BDA3 section 5.4): mu | tau and theta | mu, tau in closed form, tau on a grid
# ---------------------------------------------------------------------------


def _mu_prior_moments(mu_prior) -> tuple[float, float]:
    """(mean, precision) of a normal mu prior; a flat prior has precision 0."""
    if mu_prior is None:
        return 0.0, 0.0
    prior = _check_prior(mu_prior, MU_PRIORS, "mu prior")
    if prior["dist"] == "Flat":
        return 0.0, 0.0
    return prior["mu"], 1.0 / prior["sigma"] ** 2


def mu_given_tau(y, sigma, tau, *, mu_prior=None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``p(mu | tau, y)`` (BDA3 eq. 5.20 for the flat prior).

    Parameters
    ----------
    y, sigma : array_like
        Data.
    tau : float or array_like
        Value(s) of tau, 0 included.
    mu_prior : dict, optional
        ``None`` or ``{"dist": "Flat"}`` (BDA3's choice), or ``{"dist": "Normal", "mu": m, "sigma": s}``.

    Returns
    -------
    mean, var : numpy.ndarray
        Arrays of the shape of ``tau``.
    """
    y, sigma = _check_data(y, sigma)
    m0, p0 = _mu_prior_moments(mu_prior)
    var = sigma**2 + np.asarray(tau, dtype=float)[..., None] ** 2
    v_mu = 1.0 / (p0 + np.sum(1.0 / var, axis=-1))
    mu_hat = v_mu * (p0 * m0 + np.sum(y / var, axis=-1))
    return mu_hat, v_mu


def theta_given_mu_tau(y, sigma, mu, tau) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``p(theta_j | mu, tau, y)`` (BDA3 eq. 5.17), valid at tau = 0.

    ``mu`` and ``tau`` broadcast against each other; results have a trailing school axis.
    """
    y, sigma = _check_data(y, sigma)
    mu = np.asarray(mu, dtype=float)[..., None]
    t2 = np.asarray(tau, dtype=float)[..., None] ** 2
    s2 = sigma**2
    mean = (y * t2 + mu * s2) / (s2 + t2)
    var = s2 * t2 / (s2 + t2)
    return mean, var


def shrinkage_curves(y, sigma, tau, *, mu_prior=None) -> np.ndarray:
    """``E[theta_j | tau, y]`` for each tau (rows) and school (columns), mu integrated out."""
    mu_hat, _ = mu_given_tau(y, sigma, tau, mu_prior=mu_prior)
    return theta_given_mu_tau(y, sigma, mu_hat, tau)[0]


def tau_prior_logpdf(tau, tau_prior) -> np.ndarray:
    """Log density of a tau prior (``"uniform"`` or a dict as in :data:`TAU_PRIORS`), up to a constant."""
    tau = np.asarray(tau, dtype=float)
    if isinstance(tau_prior, str):
        if tau_prior != "uniform":
            raise ValueError(f"tau_prior must be 'uniform' or a prior dict, got {tau_prior!r}")
        return np.zeros_like(tau)
    p = _check_prior(tau_prior, TAU_PRIORS, "tau prior")
    if p["dist"] == "HalfFlat":
        return np.zeros_like(tau)
    dist = {
        "HalfCauchy": lambda: st.halfcauchy(scale=p["beta"]),
        "HalfNormal": lambda: st.halfnorm(scale=p["sigma"]),
        "Exponential": lambda: st.expon(scale=1 / p["lam"]),
        "Uniform": lambda: st.uniform(p["lower"], p["upper"] - p["lower"]),
        "InverseGamma": lambda: st.invgamma(p["alpha"], scale=p["beta"]),
    }[p["dist"]]()
    with np.errstate(divide="ignore"):
        return dist.logpdf(tau)


def tau_grid(sigma, n: int = 4000) -> np.ndarray:
    """A grid on ``[0, 40 max(sigma)]``, quadratically spaced so it is fine near 0.

    The uniform-prior posterior's tail beyond the grid (it falls like ``tau**(1 - J)``)
    is negligible for the Eight Schools.
    """
    sigma = np.asarray(sigma, dtype=float)
    return 40.0 * float(np.max(sigma)) * np.linspace(0.0, 1.0, n) ** 2


def tau_posterior(y, sigma, tau, *, tau_prior="uniform", mu_prior=None) -> np.ndarray:
    """Marginal posterior density ``p(tau | y)`` on a grid (BDA3 eq. 5.21 for flat priors).

    Uses ``p(tau | y) ∝ p(tau) p(y | mu, tau) p(mu) / p(mu | tau, y)`` evaluated at
    ``mu = E[mu | tau, y]``, which holds for the flat and for a normal prior on mu.

    Parameters
    ----------
    y, sigma : array_like
        Data.
    tau : array_like
        Increasing grid of non-negative tau values.
    tau_prior : "uniform" or dict
        ``"uniform"`` (BDA3's choice) or a tau prior dict as in :data:`TAU_PRIORS`.
    mu_prior : dict, optional
        Flat (default) or normal prior on mu, see :func:`mu_given_tau`.

    Returns
    -------
    numpy.ndarray
        The density on the grid, normalised so that its trapezoid integral is 1.
    """
    y, sigma = _check_data(y, sigma)
    tau = np.asarray(tau, dtype=float)
    if tau.ndim != 1 or tau.size < 3 or np.any(np.diff(tau) <= 0) or tau[0] < 0:
        raise ValueError("tau must be an increasing grid of at least 3 non-negative values")
    m0, p0 = _mu_prior_moments(mu_prior)
    mu_hat, v_mu = mu_given_tau(y, sigma, tau, mu_prior=mu_prior)
    var = sigma**2 + tau[:, None] ** 2
    log_p = (0.5 * np.log(v_mu) - 0.5 * np.sum(np.log(var), axis=1)
             - 0.5 * np.sum((y - mu_hat[:, None]) ** 2 / var, axis=1)
             - 0.5 * p0 * (mu_hat - m0) ** 2)
    log_p = log_p + tau_prior_logpdf(tau, tau_prior)
    dens = np.exp(log_p - np.max(log_p))
    return dens / np.trapezoid(dens, tau)


def exact_posterior_draws(y, sigma, n_draws: int, *, tau_prior="uniform", random_seed: int,
                          mu_prior=None, grid_size: int = 4000) -> dict[str, np.ndarray]:
    """Independent draws from the exact posterior of the normal hierarchical model (BDA3 section 5.4).

    tau is drawn from ``p(tau | y)`` on a grid by inverse-CDF sampling (the CDF is
    integrated with the trapezoid rule and inverted by linear interpolation), then
    ``mu ~ p(mu | tau, y)`` and ``theta ~ p(theta | mu, tau, y)`` in closed form.

    Parameters
    ----------
    y, sigma : array_like
        Data.
    n_draws : int
        Number of independent draws.
    tau_prior : "uniform" or dict, default "uniform"
        Prior on tau (see :func:`tau_posterior`).
    random_seed : int
        Seed of the NumPy generator.
    mu_prior : dict, optional
        Flat (default, BDA3) or normal prior on mu.
    grid_size : int, default 4000
        Number of grid points for tau.

    Returns
    -------
    dict
        ``tau`` and ``mu`` of shape ``(n_draws,)``, ``theta`` of shape ``(n_draws, J)``.
    """
    y, sigma = _check_data(y, sigma)
    if isinstance(n_draws, bool) or int(n_draws) != n_draws or n_draws < 1:
        raise ValueError(f"n_draws must be a positive integer, got {n_draws!r}")
    rng = np.random.default_rng(random_seed)
    grid = tau_grid(sigma, grid_size)
    dens = tau_posterior(y, sigma, grid, tau_prior=tau_prior, mu_prior=mu_prior)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    cdf /= cdf[-1]
    tau = np.interp(rng.uniform(size=int(n_draws)), cdf, grid)
    mu_hat, v_mu = mu_given_tau(y, sigma, tau, mu_prior=mu_prior)
    mu = rng.normal(mu_hat, np.sqrt(v_mu))
    t_mean, t_var = theta_given_mu_tau(y, sigma, mu, tau)
    theta = rng.normal(t_mean, np.sqrt(t_var))
    return {"tau": tau, "mu": mu, "theta": theta}


def exact_tau_quantiles(y, sigma, probs, *, tau_prior="uniform", mu_prior=None, grid_size: int = 4000) -> np.ndarray:
    """Quantiles of ``p(tau | y)`` from its CDF on the grid (no sampling)."""
    grid = tau_grid(sigma, grid_size)
    dens = tau_posterior(y, sigma, grid, tau_prior=tau_prior, mu_prior=mu_prior)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    return np.interp(np.asarray(probs, dtype=float), cdf / cdf[-1], grid)


def exact_posterior_means(y, sigma, *, tau_prior="uniform", mu_prior=None, grid_size: int = 4000) -> dict:
    """Posterior means of ``mu``, ``tau`` and ``theta`` by quadrature on the tau grid (no sampling)."""
    grid = tau_grid(sigma, grid_size)
    dens = tau_posterior(y, sigma, grid, tau_prior=tau_prior, mu_prior=mu_prior)
    mu_hat, _ = mu_given_tau(y, sigma, grid, mu_prior=mu_prior)
    theta_hat = theta_given_mu_tau(y, sigma, mu_hat, grid)[0]
    return {"mu": float(np.trapezoid(dens * mu_hat, grid)), "tau": float(np.trapezoid(dens * grid, grid)),
            "theta": np.trapezoid(dens[:, None] * theta_hat, grid, axis=0)}


# ---------------------------------------------------------------------------
# PyMC model
# ---------------------------------------------------------------------------


def _rv(name: str, prior: dict, **kwargs):
    params = {k: v for k, v in prior.items() if k != "dist"}
    return getattr(pm, prior["dist"])(name, **params, **kwargs)


def build_model(y, sigma, *, centered: bool, mu_prior: dict | None = None, tau_prior: dict | None = None,
                population: str = "normal", nu: float = 4.0, schools=None) -> pm.Model:
    """The Eight Schools hierarchical model in PyMC.

    Parameters
    ----------
    y, sigma : array_like
        Estimated effects and their known standard errors (same length J >= 2, sigma > 0).
    centered : bool
        ``True``: ``theta ~ population(mu, tau)`` directly (the centred form, which has a
        funnel). ``False``: ``theta = mu + tau * z`` with ``z ~ population(0, 1)``.
    mu_prior : dict, optional
        Prior of mu, default ``{"dist": "Normal", "mu": 0, "sigma": 5}``; see :data:`MU_PRIORS`.
    tau_prior : dict, optional
        Prior of tau, default ``{"dist": "HalfCauchy", "beta": 5}``; see :data:`TAU_PRIORS`.
    population : {"normal", "student_t"}, default "normal"
        Distribution of the school effects around mu.
    nu : float, default 4
        Degrees of freedom of the Student-t population (ignored for "normal").
    schools : sequence of str, optional
        School labels for the ``school`` coordinate; default A, B, C, ...

    Returns
    -------
    pymc.Model
        Variables ``mu``, ``tau``, ``theta`` (dim ``school``), ``z`` when non-centred,
        and the observed ``y``.
    """
    y, sigma = _check_data(y, sigma)
    if not isinstance(centered, (bool, np.bool_)):
        raise ValueError(f"centered must be True or False, got {centered!r}")
    mu_prior = _check_prior(DEFAULT_MU_PRIOR if mu_prior is None else mu_prior, MU_PRIORS, "mu prior")
    tau_prior = _check_prior(DEFAULT_TAU_PRIOR if tau_prior is None else tau_prior, TAU_PRIORS, "tau prior")
    if population not in POPULATIONS:
        raise ValueError(f"population must be one of {POPULATIONS}, got {population!r}")
    if population == "student_t" and not (np.isfinite(nu) and nu > 0):
        raise ValueError(f"nu must be positive and finite, got {nu!r}")
    if schools is None:
        schools = [chr(ord("A") + j) for j in range(y.size)] if y.size <= 26 else list(range(y.size))
    if len(schools) != y.size:
        raise ValueError(f"schools has {len(schools)} labels for {y.size} schools")

    def pop(name, loc, scale):
        if population == "normal":
            return pm.Normal(name, mu=loc, sigma=scale, dims="school")
        return pm.StudentT(name, nu=nu, mu=loc, sigma=scale, dims="school")

    with pm.Model(coords={"school": list(schools)}) as model:
        mu = _rv("mu", mu_prior)
        tau = _rv("tau", tau_prior)
        if centered:
            theta = pop("theta", mu, tau)
        else:
            z = pop("z", 0.0, 1.0)
            theta = pm.Deterministic("theta", mu + tau * z, dims="school")
        pm.Normal("y", mu=theta, sigma=sigma, observed=y, dims="school")
    return model


SIM_TRUTH = {"mu": 5.0, "tau": 3.5, "sigma": 12.0}
"""The known parameters of the chapter's simulated-data exercise."""


def simulate_schools(n_schools: int, *, mu: float, tau: float, sigma: float, random_seed: int) -> dict:
    """Draw schools from the hierarchical model with known parameters.

    Returns a dict with the true ``theta``, the observed ``y`` and the ``sigma`` array.
    """
    if n_schools < 2:
        raise ValueError(f"n_schools must be at least 2, got {n_schools}")
    if not (tau >= 0 and sigma > 0):
        raise ValueError(f"need tau >= 0 and sigma > 0, got tau={tau}, sigma={sigma}")
    rng = np.random.default_rng(random_seed)
    theta = rng.normal(mu, tau, size=n_schools)
    sig = np.full(n_schools, float(sigma))
    return {"theta": theta, "y": rng.normal(theta, sig), "sigma": sig}


# ---------------------------------------------------------------------------
# Stan cross-check (PyStan 3, run in a subprocess)
# ---------------------------------------------------------------------------

STAN_NONCENTRED = textwrap.dedent("""\
    data {
      int<lower=1> J;
      vector[J] y;
      vector<lower=0>[J] sigma;
    }
    parameters {
      real mu;
      real<lower=0> tau;
      vector[J] z;
    }
    transformed parameters {
      vector[J] theta = mu + tau * z;
    }
    model {
      mu ~ normal(0, 5);
      tau ~ cauchy(0, 5);   // half-Cauchy through the lower bound
      z ~ std_normal();
      y ~ normal(theta, sigma);
    }
    """)
"""The non-centred Eight Schools model in Stan, with the chapter's default priors."""

_STAN_SCRIPT = """
import json, sys
import numpy as np
import stan
args = json.loads(sys.argv[1])
posterior = stan.build(args["code"], data=args["data"], random_seed=args["seed"])
fit = posterior.sample(num_chains=args["chains"], num_samples=args["draws"], num_warmup=args["tune"],
                       delta=args["delta"])
np.savez(args["out"], mu=fit["mu"], tau=fit["tau"], theta=fit["theta"], divergent=fit["divergent__"])
"""


def stan_available() -> bool:
    """True when PyStan 3 can be imported (it has no Windows wheels)."""
    try:
        result = subprocess.run([sys.executable, "-c", "import stan"], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def sample_stan(y, sigma, *, random_seed: int, draws: int = 1000, tune: int = 1000, chains: int = 4,
                adapt_delta: float = 0.8, code: str = STAN_NONCENTRED, timeout: float = 600):
    """Compile and sample a Stan program with PyStan 3 in a separate Python process.

    PyStan runs its own asyncio event loop, which clashes with Jupyter's, so it runs in a
    subprocess; its compiler output is captured rather than printed. ``adapt_delta`` is
    Stan's target acceptance rate (PyMC's ``target_accept``).

    Returns
    -------
    arviz.InferenceData
        Posterior ``mu``, ``tau``, ``theta`` (dim ``school``) with chains, and
        ``sample_stats.diverging``.

    Raises
    ------
    RuntimeError
        If the Stan process fails; the message holds the end of its error output.
    """
    import arviz as az

    y, sigma = _check_data(y, sigma)
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "draws.npz")
        args = {"code": code, "seed": int(random_seed), "chains": chains, "draws": draws, "tune": tune,
                "delta": float(adapt_delta),
                "out": out, "data": {"J": int(y.size), "y": y.tolist(), "sigma": sigma.tolist()}}
        result = subprocess.run([sys.executable, "-c", _STAN_SCRIPT, json.dumps(args)],
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError("Stan run failed:\n" + result.stderr[-3000:])
        with np.load(out) as f:
            # PyStan gives (parameter dims..., draws * chains) with the chain index varying fastest
            def chains_first(a, shape):
                return np.moveaxis(np.asarray(a).reshape(*shape, draws, chains), (-1, -2), (0, 1))

            posterior = {"mu": chains_first(f["mu"], ()), "tau": chains_first(f["tau"], ()),
                         "theta": chains_first(f["theta"], (y.size,))}
            diverging = chains_first(f["divergent"], ()).astype(bool)
    coords = {"school": [chr(ord("A") + j) for j in range(y.size)]}
    return az.from_dict(posterior=posterior, sample_stats={"diverging": diverging}, coords=coords,
                        dims={"theta": ["school"]})
