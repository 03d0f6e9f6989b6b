"""A hand-written Metropolis-within-Gibbs sampler for the BUGS Schools model.

Every step is vectorised with NumPy: per-school sums are matrix products with a school
indicator matrix, and the 38 three-by-three school updates are one batched Cholesky
factorisation and solve. No Python loop runs over pupils or schools.

Full conditionals (``w[p] = tau[p] = exp(theta + phi LRT[p])``, prior precision ``1e-4``):

* ``beta | .  ~ N(P^-1 b, P^-1)``, ``P = X' W X + 1e-4 I``, ``b = X' W (y - Z alpha[school])``
* ``alpha[j] | . ~ N(P_j^-1 b_j, P_j^-1)``, ``P_j = T + sum_{p in j} w_p z_p z_p'``,
  ``b_j = T gamma + sum_{p in j} w_p z_p (y_p - x_p' beta)``
* ``gamma | . ~ N(P^-1 b, P^-1)``, ``P = M T + 1e-4 I``, ``b = T sum_j alpha[j]``
* ``T | . ~ Wishart(df = 3 + M, scale = (R + S)^-1)``, ``S = sum_j (alpha[j] - gamma)(alpha[j] - gamma)'``
* ``theta``, ``phi``: random-walk Metropolis on the log density
  ``sum_p [ (theta + phi LRT_p) / 2 - exp(theta + phi LRT_p) e_p^2 / 2 ] - (theta^2 or phi^2) / (2 * 100^2)``.
"""

from __future__ import annotations

import time
from numbers import Integral

import arviz as az
import numpy as np

import hbm
from hbm.school_rankings.design import ALPHA_COLUMNS, BETA_COLUMNS, PRIOR_SD, WISHART_DF, validate_schools

PRIOR_PREC = 1.0 / PRIOR_SD**2


def mvn_from_precision(rng: np.random.Generator, P: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Draw from ``N(P^-1 b, P^-1)`` given the precision ``P``, batched over leading axes.

    With ``P = L L'``, the draw is ``P^-1 b + L'^-1 e``, ``e ~ N(0, I)``: its covariance is
    ``L'^-1 L^-1 = P^-1``. (Multiplying ``e`` by ``chol(P)`` instead would use the precision
    as a covariance, a classic mistake.)

    Parameters
    ----------
    rng : numpy.random.Generator
    P : array (..., k, k)
        Precision matrices.
    b : array (..., k)
        Precision-weighted means (the "canonical" mean).

    Returns
    -------
    array (..., k)
    """
    L = np.linalg.cholesky(P)
    mean = np.linalg.solve(P, b[..., None])[..., 0]
    e = rng.standard_normal(b.shape)
    return mean + np.linalg.solve(np.swapaxes(L, -1, -2), e[..., None])[..., 0]


def wishart_draw(rng: np.random.Generator, df: float, scale: np.ndarray) -> np.ndarray:
    """One draw of a Wishart(df, scale) matrix (standard parameterisation, mean ``df * scale``).

    Bartlett decomposition: ``W = (L A)(L A)'`` with ``L = chol(scale)``, ``A`` lower triangular,
    ``A[i, i]^2 ~ ChiSquared(df - i)`` (0-based ``i``) and ``A[i, j] ~ N(0, 1)`` below the diagonal.
    """
    k = scale.shape[0]
    A = np.zeros((k, k))
    A[np.diag_indices(k)] = np.sqrt(rng.chisquare(df - np.arange(k)))
    A[np.tril_indices(k, -1)] = rng.standard_normal(k * (k - 1) // 2)
    LA = np.linalg.cholesky(scale) @ A
    return LA @ LA.T


class SchoolsGibbs:
    """Metropolis-within-Gibbs for the BUGS Schools model.

    Parameters
    ----------
    df : pandas.DataFrame
        Pupil table of ``hbm.data.load("london_schools")`` (or simulated data of that form).

    Notes
    -----
    The state is a dict with ``beta`` (8), ``alpha`` (M, 3), ``gamma`` (3), ``T`` (3, 3),
    ``theta`` and ``phi``. Each ``update_*`` method draws one block from its full conditional
    given the others and returns the new value.
    """

    def __init__(self, df):
        d = validate_schools(df)
        self.y, self.lrt, self.X, self.Z = d["y"], d["lrt"], d["X"], d["Z"]
        self.school, self.M, self.R = d["school"], d["M"], d["R"]
        self.N = len(self.y)
        # Pupils sorted by school, so per-school sums are one np.add.reduceat over contiguous rows.
        order = np.argsort(self.school, kind="stable")
        self.y, self.lrt, self.X, self.Z, self.school = (
            a[order] for a in (self.y, self.lrt, self.X, self.Z, self.school))
        self.starts = np.flatnonzero(np.r_[True, np.diff(self.school) != 0])
        self.ZZ = (self.Z[:, :, None] * self.Z[:, None, :]).reshape(self.N, 9)
        self.sum_lrt = self.lrt.sum()

    # -- helpers -------------------------------------------------------------
    def precision(self, state: dict) -> np.ndarray:
        """Per-pupil precision ``tau[p] = exp(theta + phi LRT[p])``."""
        return np.exp(state["theta"] + state["phi"] * self.lrt)

    def school_sum(self, v: np.ndarray) -> np.ndarray:
        """Sum the rows of ``v`` (pupils) within each school: shape (M, ...)."""
        return np.add.reduceat(v, self.starts, axis=0)

    def school_part(self, alpha: np.ndarray) -> np.ndarray:
        """``Z[p] @ alpha[school[p]]`` for every pupil."""
        return np.einsum("pk,pk->p", self.Z, alpha[self.school])

    def residual(self, state: dict) -> np.ndarray:
        """``y - mu`` for every pupil."""
        return self.y - self.school_part(state["alpha"]) - self.X @ state["beta"]

    def log_tau_density(self, theta: float, phi: float, e2: np.ndarray) -> float:
        """Log full conditional of (theta, phi) up to a constant, given squared residuals ``e2``.

        ``sum_p log N(e_p | 0, 1/tau_p) = sum_p [log(tau_p) - tau_p e_p^2] / 2 + const``, plus the
        two normal log priors; everything on the log scale.
        """
        return self._log_tau(theta, phi, np.exp(phi * self.lrt) @ e2)

    def _log_tau(self, theta, phi, q):
        # q = sum_p exp(phi LRT_p) e_p^2, so exp(theta) * q = sum_p tau_p e_p^2
        return (0.5 * (self.N * theta + phi * self.sum_lrt) - 0.5 * np.exp(theta) * q
                - 0.5 * PRIOR_PREC * (theta**2 + phi**2))

    # -- conjugate updates ---------------------------------------------------
    def beta_conditional(self, state: dict, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Precision ``P`` and canonical mean ``b`` of ``beta | rest`` (``w``: cached ``tau``)."""
        w = self.precision(state) if w is None else w
        r = self.y - self.school_part(state["alpha"])
        Xw = self.X * w[:, None]
        return Xw.T @ self.X + PRIOR_PREC * np.eye(self.X.shape[1]), Xw.T @ r

    def alpha_conditional(self, state: dict, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Precisions ``P`` (M, 3, 3) and canonical means ``b`` (M, 3) of ``alpha[j] | rest``."""
        w = self.precision(state) if w is None else w
        r = self.y - self.X @ state["beta"]
        T = state["T"]
        P = T + self.school_sum(self.ZZ * w[:, None]).reshape(self.M, 3, 3)
        b = T @ state["gamma"] + self.school_sum(self.Z * (w * r)[:, None])
        return P, b

    def gamma_conditional(self, state: dict) -> tuple[np.ndarray, np.ndarray]:
        """Precision and canonical mean of ``gamma | alpha, T`` (prior N(0, 100^2 I))."""
        T = state["T"]
        return self.M * T + PRIOR_PREC * np.eye(3), T @ state["alpha"].sum(axis=0)

    def T_conditional(self, state: dict) -> tuple[float, np.ndarray]:
        """Degrees of freedom and scale of ``T | alpha, gamma`` (standard Wishart)."""
        dev = state["alpha"] - state["gamma"]
        return WISHART_DF + self.M, np.linalg.inv(self.R + dev.T @ dev)

    def update_beta(self, rng, state, w=None):
        return mvn_from_precision(rng, *self.beta_conditional(state, w))

    def update_alpha(self, rng, state, w=None):
        return mvn_from_precision(rng, *self.alpha_conditional(state, w))

    def update_gamma(self, rng, state):
        return mvn_from_precision(rng, *self.gamma_conditional(state))

    def update_T(self, rng, state):
        return wishart_draw(rng, *self.T_conditional(state))

    def update_tau(self, rng, state, step: np.ndarray) -> np.ndarray:
        """Random-walk Metropolis steps for theta then phi; returns the two acceptance flags."""
        e2 = self.residual(state) ** 2
        accepted = np.zeros(2, dtype=bool)
        theta, phi = state["theta"], state["phi"]
        q = np.exp(phi * self.lrt) @ e2
        current = self._log_tau(theta, phi, q)
        # theta: q does not depend on theta, so this step costs O(1)
        new = theta + step[0] * rng.standard_normal()
        lp = self._log_tau(new, phi, q)
        if np.log(rng.uniform()) < lp - current:   # accept with probability min(1, ratio)
            theta, current, accepted[0] = new, lp, True
        # phi: one O(N) pass for the proposal's q; current and proposal use the same e2 and terms
        new = phi + step[1] * rng.standard_normal()
        q_new = np.exp(new * self.lrt) @ e2
        lp = self._log_tau(theta, new, q_new)
        if np.log(rng.uniform()) < lp - current:
            phi, accepted[1] = new, True
        state["theta"], state["phi"] = theta, phi
        return accepted

    def initial_state(self, rng: np.random.Generator) -> dict:
        """A dispersed starting point: least-squares betas plus noise, prior-mean T."""
        coef, *_ = np.linalg.lstsq(np.column_stack([self.Z, self.X]), self.y, rcond=None)
        gamma = coef[:3] + 0.1 * rng.standard_normal(3)
        T = WISHART_DF * np.linalg.inv(self.R)
        return {"beta": coef[3:] * (1 + 0.1 * rng.standard_normal(8)),
                "gamma": gamma, "alpha": gamma + 0.1 * rng.standard_normal((self.M, 3)),
                "T": T, "theta": 0.5 + 0.1 * rng.standard_normal(), "phi": 0.0}

    def step(self, rng, state, tau_step):
        """One full sweep: beta, alpha, gamma, T, then theta and phi."""
        w = self.precision(state)
        state["beta"] = self.update_beta(rng, state, w)
        state["alpha"] = self.update_alpha(rng, state, w)
        state["gamma"] = self.update_gamma(rng, state)
        state["T"] = self.update_T(rng, state)
        return self.update_tau(rng, state, tau_step)

    def run_chain(self, rng, draws: int, tune: int, thin: int = 1) -> tuple[dict, dict]:
        """One chain: ``tune`` adaptive warm-up sweeps, then ``draws * thin`` kept sweeps."""
        state = self.initial_state(rng)
        step = np.array([0.03, 0.003])
        out = {k: np.empty((draws,) + np.shape(v)) for k, v in state.items()}
        acc = np.zeros((draws, 2), dtype=bool)
        for t in range(tune):
            accepted = self.step(rng, state, step)
            # Robbins-Monro adaptation towards 44% acceptance, during warm-up only.
            step *= np.exp((accepted - 0.44) / np.sqrt(t + 1))
        for i in range(draws):
            a = np.zeros(2, dtype=bool)
            for _ in range(thin):
                a |= self.step(rng, state, step)
            acc[i] = a
            for k, v in state.items():
                out[k][i] = v
        return out, {"accept_theta": acc[:, 0], "accept_phi": acc[:, 1], "step": step}


def sample_gibbs(df, *, random_seed: int, draws: int = 2000, tune: int = 1000, chains: int = 2,
                 thin: int = 1) -> az.InferenceData:
    """Run the hand-written sampler and return ArviZ InferenceData like PyMC's.

    Parameters
    ----------
    df : pandas.DataFrame
        Pupil table of ``hbm.data.load("london_schools")``.
    random_seed : int
        Seed of the :class:`numpy.random.Generator` (shifted by ``hbm.seed``); chains get
        independent child streams.
    draws, tune, chains, thin : int
        Kept draws per chain, warm-up sweeps, number of chains, sweeps per kept draw.

    Returns
    -------
    arviz.InferenceData
        Posterior ``beta``, ``gamma``, ``theta``, ``phi``, ``alpha``, ``T`` with the dims of
        :func:`hbm.school_rankings.build_bugs_model`; sample_stats hold the Metropolis acceptance
        flags; ``attrs["sampling_time"]`` is the wall time in seconds.
    """
    if isinstance(random_seed, bool) or not isinstance(random_seed, Integral):
        raise TypeError(f"random_seed must be an integer, got {random_seed!r}")
    for name, value in {"draws": draws, "chains": chains, "thin": thin}.items():
        if not isinstance(value, Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not isinstance(tune, Integral) or tune < 0:
        raise ValueError(f"tune must be a non-negative integer, got {tune!r}")
    sampler = SchoolsGibbs(df)
    start = time.perf_counter()
    runs = [sampler.run_chain(rng, draws, tune, thin)
            for rng in np.random.default_rng(hbm.seed(random_seed)).spawn(chains)]
    elapsed = time.perf_counter() - start
    posterior = {k: np.stack([r[0][k] for r in runs]) for k in runs[0][0]}
    stats = {k: np.stack([r[1][k] for r in runs]) for k in ("accept_theta", "accept_phi")}
    coords = {"school": np.arange(1, sampler.M + 1), "coef": ALPHA_COLUMNS,
              "coef_bis": ALPHA_COLUMNS, "covariate": BETA_COLUMNS}
    dims = {"beta": ["covariate"], "gamma": ["coef"], "alpha": ["school", "coef"], "T": ["coef", "coef_bis"]}
    idata = az.from_dict(posterior=posterior, sample_stats=stats, coords=coords, dims=dims)
    idata.posterior.attrs["sampling_time"] = elapsed
    idata.attrs = {"sampling_time": elapsed}
    return idata
