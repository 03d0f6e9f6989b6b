"""A hand-written Metropolis-within-Gibbs sampler for the BUGS Schools model.

Every step is vectorised with NumPy: per-school sums over pupils are one ``np.add.reduceat``
over pupils sorted by school (or one product with precomputed sums, below), and the 38
three-by-three school updates are batched linear algebra. No Python loop runs over pupils
or schools.

Full conditionals (``w[p] = tau[p] = exp(theta + phi LRT[p])``, prior precision ``1e-4``):

* ``beta | .  ~ N(P^-1 b, P^-1)``, ``P = X' W X + 1e-4 I``, ``b = X' W (y - Z alpha[school])``
* ``alpha[j] | . ~ N(P_j^-1 b_j, P_j^-1)``, ``P_j = T + sum_{p in j} w_p z_p z_p'``,
  ``b_j = T gamma + sum_{p in j} w_p z_p (y_p - x_p' beta)``
* ``gamma | .  ~ N(P^-1 b, P^-1)``, ``P = M T + 1e-4 I``, ``b = T sum_j alpha[j]``
* ``T | . ~ Wishart(df = 3 + M, scale = (R + S)^-1)``, ``S = sum_j (alpha[j] - gamma)(alpha[j] - gamma)'``
* ``theta``, ``phi``: not standard; the log density is
  ``sum_p [ (theta + phi LRT_p) / 2 - exp(theta + phi LRT_p) e_p^2 / 2 ] - (theta^2 + phi^2) / (2 * 100^2)``.

Two sweeps use them (``SchoolsGibbs(df, blocked=...)``):

* ``blocked=False``, the textbook sweep: ``beta``, ``alpha``, ``gamma`` one at a time from the
  conditionals above, then ``T``, then random-walk Metropolis steps for ``theta`` and for
  ``phi`` (:meth:`SchoolsGibbs.update_tau`). It mixes slowly: the school-level covariates and
  ``gamma`` trade off against the school coefficients, which are drawn given them.
* ``blocked=True`` (the default): ``(beta, gamma, alpha)`` as one block given ``T``, ``theta``,
  ``phi`` (first ``(beta, gamma)`` with every ``alpha[j]`` integrated out,
  :meth:`SchoolsGibbs.location_conditional`, then ``alpha`` given them), then ``T``, then
  ``(theta, phi)`` as one block by an independence Metropolis-Hastings step from a Student-t
  fitted to their conditional (:meth:`SchoolsGibbs.update_tau_joint`). Every sum over pupils
  it needs comes from one vector-matrix product per value of ``phi`` with sums precomputed
  over each school's pupils of equal LRT score (:meth:`SchoolsGibbs.school_stats`), and near
  ``phi = 0`` over the terms of the Taylor series of ``exp(phi LRT)`` instead
  (:meth:`SchoolsGibbs._weighted_products`). Near ``phi = 0`` the cost of a sweep grows with the
  number of series terms that ``phi`` needs (a median of ten over a chain on the London data, 5-15
  for 99% of its values of ``phi``), further out with the number of distinct scores (70 in the
  London data; one per pupil if every score differs).
"""

from __future__ import annotations

import bisect
import functools
import math
import time
from numbers import Integral

import arviz as az
import numpy as np
from scipy import optimize, sparse
from scipy.linalg import lapack

import hbm
from hbm.school_rankings.design import ALPHA_COLUMNS, BETA_COLUMNS, PRIOR_SD, WISHART_DF, validate_schools

PRIOR_PREC = 1.0 / PRIOR_SD**2
TAU_PROPOSAL_DF = 10
"""Degrees of freedom of the Student-t independence proposal of ``(theta, phi)``: its tails are
heavier than the conditional's, so the ratio of the two is bounded and the step cannot stick
in a tail the proposal misses."""

SERIES_RADIUS = 1.0
"""Largest ``|x| = |phi| max|LRT|`` at which :meth:`SchoolsGibbs._weighted_products` sums the
Taylor series of the weights ``exp(phi LRT)`` rather than the weights themselves: there the
series' rounding error is at most ``e^(2|x|)`` times that of the direct sum (``e^2 = 7.4`` at the
radius; over a chain on the London data, 1.24 at the median ``|x|`` and 1.8 at its 95th
percentile)."""


def _series_radii(radius: float = SERIES_RADIUS) -> list[float]:
    """Entry ``K - 1``: the largest ``x`` at which the first ``K`` terms of the Taylor series of
    ``exp(t)`` (powers ``0 .. K - 1``) leave out less than the unit roundoff ``2^-53`` of every
    weighted sum ``sum_s |g_s| exp(t_s)`` with ``|t_s| <= x``; up to the first ``K`` whose radius
    reaches ``radius``.

    The remainder of one weight is at most ``|t|^K e^|t| / K!`` (Lagrange), and
    ``exp(t_s) >= e^-x``, so the bound relative to the sum is ``x^K e^(2x) / K!``.
    """
    radii = []
    while not radii or radii[-1] < radius:
        K = len(radii) + 1
        excess = lambda log_x: K * log_x + 2 * math.exp(log_x) - math.lgamma(K + 1) + 53 * math.log(2)
        radii.append(math.exp(optimize.brentq(excess, -800.0, 10.0)))
    return radii


def _cholesky(P: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor ``L`` (``P = L L'``) of one symmetric positive definite matrix.

    LAPACK's ``dpotrf`` called directly: for the small matrices of a Gibbs sweep, NumPy's
    ``np.linalg`` spends about ten times longer in its Python wrapper than in the arithmetic.
    """
    L, info = lapack.dpotrf(P, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"matrix is not positive definite (LAPACK dpotrf info={info})")
    return L


def _solve_lower(L: np.ndarray, b: np.ndarray, *, transposed: bool = False) -> np.ndarray:
    """``L^-1 b`` (or ``L'^-1 b`` if ``transposed``) for a lower triangular ``L``: LAPACK ``dtrtrs``."""
    return lapack.dtrtrs(L, b, lower=1, trans=int(transposed))[0]


@functools.lru_cache
def _band_layout(m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Where LAPACK's lower band storage of a stack of ``m`` blocks of size ``k x k`` (one
    block-diagonal matrix of bandwidth ``k - 1``) reads the stack, flattened: its index, and a
    mask of the entries outside every block (zero)."""
    i, j = np.arange(k)[:, None] + np.arange(k), np.arange(k)     # band row r, column j: A[j + r, j]
    inside = i < k
    index = (np.where(inside, i * k + j, 0)[:, None, :] + k * k * np.arange(m)[:, None]).reshape(k, -1)
    mask = np.broadcast_to(inside[:, None, :], (k, m, k)).reshape(k, -1).astype(float)
    return index, mask


def cholesky_blocks(A: np.ndarray) -> np.ndarray:
    """The lower Cholesky factors ``L_j`` of a stack of symmetric positive definite ``A_j = L_j L_j'``,
    as one block-diagonal matrix ``L`` in LAPACK's lower band storage (for :func:`solve_blocks`).

    The stack is one block-diagonal matrix of bandwidth ``k - 1``: LAPACK factors it in one
    call (``dpbtrf``). ``np.linalg`` would make one call per block, 38 for the London schools,
    and take several times longer.

    Parameters
    ----------
    A : array (M, k, k)

    Returns
    -------
    array (k, M k)
    """
    m, k, _ = A.shape
    index, mask = _band_layout(m, k)
    L_band, info = lapack.dpbtrf(A.take(index) * mask, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"block {(info - 1) // k} of the stack is not positive definite")
    return L_band


def solve_blocks(L_band: np.ndarray, B: np.ndarray, *, transposed: bool = False) -> np.ndarray:
    """``L^-1 B`` (or ``L'^-1 B`` if ``transposed``) for the block-diagonal ``L`` of
    :func:`cholesky_blocks`, in one LAPACK call (``dtbtrs``): block ``j`` of the result is
    ``L_j^-1 B_j``.

    Parameters
    ----------
    L_band : array (k, M k)
    B : array (M k,) or (M k, n)
        The blocks ``B_j`` stacked.

    Returns
    -------
    array
        The shape of ``B``.
    """
    return lapack.dtbtrs(L_band, B, uplo="L", trans="T" if transposed else "N")[0]


def mvn_from_precision(rng: np.random.Generator, P: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Draw from ``N(P^-1 b, P^-1)`` given the precision ``P``, batched over leading axes.

    With ``P = L L'``, the draw is ``P^-1 b + L'^-1 e = L'^-1 (L^-1 b + e)``, ``e ~ N(0, I)``:
    its covariance is ``L'^-1 L^-1 = P^-1``. (Multiplying ``e`` by ``chol(P)`` instead would use
    the precision as a covariance, a classic mistake.) One matrix takes LAPACK directly
    (``dpotrf``, ``dtrtrs``); a batch takes ``np.linalg``.

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
    e = rng.standard_normal(b.shape)
    if P.ndim == 2:
        L = _cholesky(P)
        return _solve_lower(L, _solve_lower(L, b) + e, transposed=True)
    L = np.linalg.cholesky(P)
    u = np.linalg.solve(L, b[..., None])[..., 0]
    return np.linalg.solve(np.swapaxes(L, -1, -2), (u + e)[..., None])[..., 0]


@functools.lru_cache
def _below_diagonal(k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.tril_indices(k, -1)


def _bartlett_factor(rng: np.random.Generator, df: float, k: int) -> np.ndarray:
    """Lower triangular ``A`` with ``A A' ~ Wishart(df, I)``: ``A[i, i]^2 ~ ChiSquared(df - i)``
    (0-based ``i``) and ``A[i, j] ~ N(0, 1)`` below the diagonal (Bartlett decomposition)."""
    A = np.zeros((k, k))
    # one chi-squared draw at a time: NumPy draws an array of them about twenty times slower
    A.flat[::k + 1] = [math.sqrt(rng.chisquare(df - i)) for i in range(k)]
    A[_below_diagonal(k)] = rng.standard_normal(k * (k - 1) // 2)
    return A


def wishart_draw(rng: np.random.Generator, df: float, scale: np.ndarray) -> np.ndarray:
    """One draw of a Wishart(df, scale) matrix (standard parameterisation, mean ``df * scale``).

    Bartlett decomposition: ``W = (L A)(L A)'`` with ``L = chol(scale)`` and ``A A' ~ Wishart(df, I)``
    (:func:`_bartlett_factor`).
    """
    LA = _cholesky(scale) @ _bartlett_factor(rng, df, scale.shape[0])
    return LA @ LA.T


class SchoolsGibbs:
    """Metropolis-within-Gibbs for the BUGS Schools model.

    Parameters
    ----------
    df : pandas.DataFrame
        Pupil table of ``hbm.data.load("london_schools")`` (or simulated data of that form).
    blocked : bool
        The sweep: ``(beta, gamma, alpha)`` and ``(theta, phi)`` as blocks (default), or the
        textbook one-block-at-a-time sweep (see the module docstring).

    Notes
    -----
    The state is a dict with ``beta`` (8), ``alpha`` (M, 3), ``gamma`` (3), ``T`` (3, 3),
    ``theta`` and ``phi``. Each ``update_*`` method draws one block from its full conditional
    given the others.
    """

    def __init__(self, df, *, blocked: bool = True):
        d = validate_schools(df)
        self.y, self.lrt, self.X, self.Z = d["y"], d["lrt"], d["X"], d["Z"]
        self.school, self.M, self.R = d["school"], d["M"], d["R"]
        self.N = len(self.y)
        # Pupils sorted by school, so per-school sums are one np.add.reduceat over contiguous rows.
        order = np.argsort(self.school, kind="stable")
        self.y, self.lrt, self.X, self.Z, self.school = (
            a[order] for a in (self.y, self.lrt, self.X, self.Z, self.school))
        self.starts = np.flatnonzero(np.r_[True, np.diff(self.school) != 0])
        self.counts = np.diff(np.r_[self.starts, self.N])
        self.ZZ = (self.Z[:, :, None] * self.Z[:, None, :]).reshape(self.N, 9)
        self.sum_lrt = self.lrt.sum()
        self.blocked = bool(blocked)
        self._init_school_stats()

    def _init_school_stats(self):
        """Precompute the per-school sufficient statistics of :meth:`school_stats`.

        With ``d_p = (z_p, x_p, y_p)`` (12 columns), a column that is constant within every
        school (intercept, school type, denomination) factors out of a per-school sum: write
        ``d_p[a] = k_j[a] u_p[i(a)]``, with ``u_p`` a leading 1 and the pupil-level columns,
        ``i(a)`` the column of ``u`` that column ``a`` reads (0 for a constant column) and
        ``k_j[a]`` school j's constant (1 for a pupil-level column). Then
        ``sum_{p in j} w_p d_p[a] d_p[b] = k_j[a] k_j[b] sum_{p in j} w_p u_p[i(a)] u_p[i(b)]``, and
        only the distinct products of two columns of ``u`` (24 for the London data) are summed.
        A pupil's weight ``exp(phi LRT_p)`` depends on the pupil only through the LRT score, so
        the products are summed in advance over each school's pupils with the same score: the
        matrix ``G`` (school x product, score), and the weighted sums are ``F = G @ v`` with
        ``v`` the weights of the distinct scores. ``G`` is kept dense when at least a tenth of it
        is non-zero: a quarter for the London data (912 x 70), where a dense product is faster
        than a sparse one. Otherwise it is sparse: with a continuous score every pupil has a
        score of its own, and a dense ``G`` would grow with schools times pupils.
        """
        D = np.column_stack([self.Z, self.X, self.y])
        varying = ~np.all(D == D[self.starts][self.school], axis=0)
        u_column = np.where(varying, np.cumsum(varying), 0)              # i(a)
        self._k = np.where(varying, 1.0, D[self.starts])                  # k_j[a], (M, 12)
        U = np.column_stack([np.ones(self.N), D[:, varying]])
        n_u = U.shape[1]
        products = (U[:, :, None] * U[:, None, :]).reshape(self.N, n_u * n_u)
        distinct, pair = np.unique(products, axis=1, return_inverse=True)
        pair = pair.reshape(n_u, n_u)                  # u[i] u[i'] is the distinct product pair[i, i']
        n_f = distinct.shape[1]
        self.lrt_values, score = np.unique(self.lrt, return_inverse=True)
        rows = (self.school[:, None] * n_f + np.arange(n_f)).ravel()
        cols = np.repeat(score.ravel(), n_f)
        self._G = sparse.csr_array((distinct.ravel(), (rows, cols)),      # duplicates are summed
                                   shape=(self.M * n_f, len(self.lrt_values)))
        if 10 * self._G.nnz >= self.M * n_f * len(self.lrt_values):     # integers: no rounding at the edge
            self._G = self._G.toarray()
        self._products_cache = {}
        # S_j[a, b] = k_j[a] k_j[b] F_j[pair[i(a), i(b)]]: the product index and the constants
        self._S_product = pair[u_column[:, None], u_column]                            # (12, 12)
        self._S_constants = self._k[:, :, None] * self._k[:, None, :]                  # (M, 12, 12)
        # the rows of z of S_j, with the columns in the order (z, x, [gamma: zero], y)
        zxgy = np.r_[0:11, 0, 0, 0, 11]
        self._z_rows_index = n_f * np.arange(self.M)[:, None, None] + self._S_product[:3, zxgy]  # (M, 3, 15)
        self._z_rows_constants = self._S_constants[:, :3, zxgy]                        # (M, 3, 15)
        self._z_rows_constants[:, :, 11:14] = 0.0
        # per distinct score, sum_p (x_p, 0, y_p)(x_p, 0, y_p)' over its pupils (12 x 12, flattened)
        xgy = np.column_stack([self.X, np.zeros((self.N, 3)), self.y])
        self._total_by_score = np.zeros((len(self.lrt_values), 144))
        np.add.at(self._total_by_score, score.ravel(),
                  (xgy[:, :, None] * xgy[:, None, :]).reshape(-1, 144))
        # residual sums: the columns of u that the columns of d read, the pairs i <= i' of columns
        # of u, and the distinct product of each pair, counted twice off the diagonal
        self._u_of_d = np.eye(n_u)[u_column]                                           # (12, n_u)
        self._pairs = np.triu_indices(n_u)
        self._pair_sum = (np.eye(n_f)[pair[self._pairs]]
                          * np.where(self._pairs[0] == self._pairs[1], 1.0, 2.0)[:, None])   # (pairs, n_f)
        # F at the weights LRT^k, k = 0, 1, 2: the residual moments of tau_proposal
        self._moment_products = np.stack([self._G @ self.lrt_values**k for k in range(3)])
        self._init_weight_tables()
        self._prior_precision = PRIOR_PREC * np.eye(11)
        self._identity_blocks = np.tile(np.eye(3), (self.M, 1))                       # (3 M, 3)

    def _init_weight_tables(self):
        """The tables of :meth:`_weighted_products`, each with a row per weight and the columns
        ``(G, total_by_score)``, that is the ``M n_f`` weighted products and the 144 totals.

        ``_exact`` has a row per distinct score: its product with ``v = exp(phi LRT)`` is the
        sums. ``_series`` has a row per power ``k``: the sums at the weights ``(LRT / c)^k / k!``,
        with ``c = max|LRT|``. Since ``exp(phi LRT) = sum_k x^k (LRT / c)^k / k!`` with ``x = phi c``,
        the sums at ``v`` are ``sum_k x^k _series[k]``: for the London data a median of ten rows of
        ``_series`` over the posterior's ``phi`` rather than the 70 of ``_exact``, and as few
        for a score whose every value is distinct.
        """
        exact = [self._G.T, self._total_by_score]
        self._exact = sparse.hstack(exact, format="csr") if sparse.issparse(self._G) else np.hstack(exact)
        self._n_F = self._G.shape[0]
        self._series_radii = _series_radii()
        self._powers = np.arange(len(self._series_radii))
        self._score_scale = float(np.abs(self.lrt_values).max()) or 1.0
        basis = (self.lrt_values[:, None] / self._score_scale) ** self._powers
        basis /= np.cumprod(np.maximum(self._powers, 1))                 # k!
        self._series = np.ascontiguousarray(basis.T @ self._exact)

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
        return (0.5 * (self.N * theta + phi * self.sum_lrt) - 0.5 * math.exp(theta) * q
                - 0.5 * PRIOR_PREC * (theta**2 + phi**2))

    # -- sufficient statistics -----------------------------------------------
    def _weighted_products(self, phi: float) -> tuple[np.ndarray, np.ndarray]:
        """The weighted sums of the distinct products at ``phi``, ``F = G @ v`` with ``v = exp(phi
        LRT)`` the weights of the distinct scores (school x product, flattened), and over all pupils
        ``v @ total_by_score`` (144); kept for the last two values of ``phi`` (the current and the
        proposed one).

        Both are one product of a row of weights with a precomputed table
        (:meth:`_init_weight_tables`): near ``phi = 0`` the powers ``x^k`` of ``x = phi max|LRT|``
        with the table of the Taylor series of ``exp``, as many terms as ``x`` needs (a median
        of ten over a chain on the London data); further out, ``v`` with the table of the sums
        themselves.
        """
        cached = self._products_cache.pop(phi, None)
        if cached is None:
            x = phi * self._score_scale
            if abs(x) <= SERIES_RADIUS:
                terms = bisect.bisect_left(self._series_radii, abs(x)) + 1
                out = x ** self._powers[:terms] @ self._series[:terms]
            else:
                out = np.exp(phi * self.lrt_values) @ self._exact
            cached = out[:self._n_F], out[self._n_F:]
            if len(self._products_cache) == 2:
                del self._products_cache[next(iter(self._products_cache))]   # the least recent
        self._products_cache[phi] = cached
        return cached

    def school_stats(self, phi: float) -> np.ndarray:
        """Per school, ``sum_{p in j} exp(phi LRT_p) d_p d_p'`` with ``d_p = (z_p, x_p, y_p)``: (M, 12, 12).

        Times ``exp(theta)`` they hold every sum over pupils of the ``(beta, gamma, alpha)``
        block: ``Z_j' W_j Z_j``, ``Z_j' W_j X_j``, ``X_j' W_j X_j``, ``Z_j' W_j y_j``, ``X_j' W_j y_j``;
        and since ``e_p = d_p' c_j`` with ``c_j = (-alpha[j], -beta, 1)``, the weighted sum of
        squared residuals is ``sum_j c_j' S_j c_j`` (:meth:`residual_sums`). The sweep reads only
        the parts it needs (:meth:`_block_stats`, :meth:`residual_sums`), never the whole matrices.
        """
        F = self._weighted_products(phi)[0].reshape(self.M, -1)
        return F[:, self._S_product] * self._S_constants

    def residual_sums(self, state: dict):
        """The sums over pupils of the ``(theta, phi)`` step, at the state's ``alpha`` and ``beta``.

        Returns the moments ``sum_p LRT_p^k e_p^2`` (``k = 0, 1, 2``) and a function of ``phi``
        returning ``q = sum_p exp(phi LRT_p) e_p^2`` (so ``exp(theta) q = sum_p tau_p e_p^2``),
        both as ``sum_j c_j' S_j c_j`` with ``c_j = (-alpha[j], -beta, 1)`` (:meth:`school_stats`).
        Since ``e_p = d_p' c_j = u_p' r_j`` with ``r_j[i] = sum_{a: i(a) = i} k_j[a] c_j[a]``,
        ``e_p^2 = sum_{i, i'} r_j[i] r_j[i'] u_p[i] u_p[i']``: the sums are dot products of the
        weighted products ``F`` with the coefficients ``r_j[i] r_j[i']`` summed per product.
        """
        c = np.empty((self.M, 12))                  # -c_j: the sign drops out of e_p^2
        c[:, :3], c[:, 3:11], c[:, 11] = state["alpha"], state["beta"], -1.0
        r = (c * self._k) @ self._u_of_d                                     # (M, n_u)
        i, i_ = self._pairs
        h = ((r.take(i, axis=1) * r.take(i_, axis=1)) @ self._pair_sum).ravel()
        return self._moment_products @ h, lambda phi: float(self._weighted_products(phi)[0] @ h)

    # -- the (beta, gamma, alpha) block ----------------------------------------
    def _schur(self, state: dict):
        """``(alpha, g)``, ``g = (beta, gamma)``, given ``T``, ``theta``, ``phi``, with ``alpha``
        integrated out: ``P``, ``b`` of ``g``; with ``A_j = L_j L_j'`` the schools' precision
        blocks, the ``L_j`` (:func:`cholesky_blocks`) and ``K_j = L_j^-1 [C_j, bz_j]`` stacked (3 M, 12)."""
        T = state["T"]
        z_rows, H = self._block_stats(state["phi"], math.exp(state["theta"]))
        # school j: precision A_j = T + Z_j'W_j Z_j, coupling C_j = [Z_j'W_j X_j, -T] to g and
        # canonical mean bz_j = Z_j'W_j y_j: the columns of z_rows are (z, x, gamma, y)
        z_rows[:, :, 11:14] = -T
        L_band = cholesky_blocks(T + z_rows[:, :, :3])
        # LAPACK solves one right-hand side at a time: the three columns of the identity give every
        # L_j^-1 at once, and one batched product then gives the twelve columns of K
        L_inv = solve_blocks(L_band, self._identity_blocks).reshape(self.M, 3, 3)
        K_rows = (L_inv @ z_rows[:, :, 3:]).reshape(-1, 12)
        # P = G - sum_j C_j' A_j^-1 C_j and b = b_g - sum_j C_j' A_j^-1 bz_j (location_conditional)
        # at once from the 12 columns of K (C_j' A_j^-1 C_j = K_j' K_j): G and b_g hold X'WX and
        # X'Wy over all pupils (H), M T for gamma and the prior precision
        H -= K_rows.T @ K_rows
        P = H[:11, :11] + self._prior_precision
        P[8:, 8:] += self.M * T
        return P, H[:11, 11], L_band, K_rows

    def _block_stats(self, phi: float, w: float):
        """What the (beta, gamma, alpha) block reads of :meth:`school_stats` at ``phi``, times
        ``w = exp(theta)``, as new arrays: per school ``Z_j' W_j [Z_j, X_j, 0, y_j]`` (M, 3, 15;
        columns 11:14, zero, are for ``-T``), and over all pupils ``[X, 0, y]' W [X, 0, y]`` (12, 12)."""
        F, total = self._weighted_products(phi)
        z_rows = F.take(self._z_rows_index) * (w * self._z_rows_constants)
        return z_rows, (w * total).reshape(12, 12)

    def location_conditional(self, state: dict) -> tuple[np.ndarray, np.ndarray]:
        """Precision ``P`` (11, 11) and canonical mean ``b`` (11) of ``g = (beta, gamma)`` given
        ``T``, ``theta``, ``phi`` and the data, with every ``alpha[j]`` integrated out.

        In the joint precision of ``(alpha, g)`` each school's block ``A_j`` couples only to
        ``g`` (through ``C_j``), so integrating ``alpha`` out is a Schur complement over 3x3
        blocks: ``P = G - sum_j C_j' A_j^-1 C_j``, ``b = b_g - sum_j C_j' A_j^-1 bz_j``, with
        ``G``, ``b_g`` the precision and canonical mean of ``g`` given ``alpha``.
        """
        return self._schur(state)[:2]

    def update_location(self, rng, state):
        """Draw ``(beta, gamma)`` from :meth:`location_conditional`, then ``alpha`` from its
        conditional given them (the one of :meth:`alpha_conditional`); changes ``state``."""
        P, b, L_band, K_rows = self._schur(state)
        g = mvn_from_precision(rng, P, b)
        state["beta"], state["gamma"] = g[:8], g[8:]
        # alpha[j] ~ N(A_j^-1 (bz_j - C_j g), A_j^-1) is L_j'^-1 (L_j^-1 (bz_j - C_j g) + e), as in
        # mvn_from_precision; K_j = L_j^-1 [C_j, bz_j], so K_j (-g, 1) = L_j^-1 (bz_j - C_j g)
        u = K_rows[:, 11] - K_rows[:, :11] @ g + rng.standard_normal(3 * self.M)
        state["alpha"] = solve_blocks(L_band, u, transposed=True).reshape(self.M, 3)   # L_j'^-1 u_j

    # -- the (theta, phi) block ------------------------------------------------
    def tau_proposal(self, moments) -> tuple[tuple[float, float], tuple[tuple[float, float], ...]]:
        """Mean and precision of a normal approximation to ``(theta, phi) | rest``, as Python
        floats (on two numbers they and the math module are several times faster than NumPy).

        One Newton step on the concave log density of :meth:`log_tau_density` from
        ``(log(N / sum e_p^2), 0)``, given the residual moments ``s_k = sum_p LRT_p^k e_p^2``
        (:meth:`residual_sums`): a function of the residuals only, never of the current
        ``theta`` and ``phi``, as the proposal of an independence Metropolis-Hastings step must
        be. At ``phi = 0`` the gradient is ``(N - e^theta s_0, sum(LRT) - e^theta s_1) / 2`` and
        the negative Hessian ``e^theta [[s_0, s_1], [s_1, s_2]] / 2``, plus the prior terms.
        """
        s0, s1, s2 = map(float, moments)
        theta0 = math.log(self.N / s0)
        h = 0.5 * self.N / s0                               # e^theta0 / 2
        g0, g1 = -PRIOR_PREC * theta0, 0.5 * self.sum_lrt - h * s1
        q00, q01, q11 = h * s0 + PRIOR_PREC, h * s1, h * s2 + PRIOR_PREC
        det = q00 * q11 - q01 * q01
        m = (theta0 + (q11 * g0 - q01 * g1) / det, (q00 * g1 - q01 * g0) / det)
        return m, ((q00, q01), (q01, q11))

    def update_tau_joint(self, rng, state) -> np.ndarray:
        """``(theta, phi)`` as one block: an independence Metropolis-Hastings step from a
        Student-t (``TAU_PROPOSAL_DF`` degrees of freedom) centred on :meth:`tau_proposal`.

        The proposal is not symmetric, so the log acceptance ratio is the target's log ratio
        minus the proposal's, ``[log p(x*) - log q(x*)] - [log p(x) - log q(x)]``; both
        densities use the same residuals. Returns the acceptance flag twice (theta, phi).
        """
        moments, weighted_sse = self.residual_sums(state)
        (m0, m1), ((q00, q01), (_, q11)) = self.tau_proposal(moments)
        # Q = L L' in closed form (2x2); the proposal is m + L'^-1 z with z a bivariate t
        l11 = math.sqrt(q00)
        l21 = q01 / l11
        l22 = math.sqrt(q11 - l21**2)
        nu = TAU_PROPOSAL_DF
        t_scale = math.sqrt(rng.chisquare(nu) / nu)
        z0, z1 = rng.standard_normal(2).tolist()
        phi_new = m1 + z1 / t_scale / l22
        theta_new = m0 + (z0 / t_scale - l21 * (phi_new - m1)) / l11

        def log_p_minus_log_q(theta, phi):
            r1, r2 = l11 * (theta - m0) + l21 * (phi - m1), l22 * (phi - m1)   # L'(x - m)
            return (self._log_tau(theta, phi, weighted_sse(phi))
                    + 0.5 * (nu + 2) * math.log1p((r1 * r1 + r2 * r2) / nu))

        log_ratio = log_p_minus_log_q(theta_new, phi_new) - log_p_minus_log_q(state["theta"], state["phi"])
        u = 1.0 - rng.random()                       # uniform on (0, 1]: its log is finite
        accepted = math.log(u) < log_ratio
        if accepted:
            state["theta"], state["phi"] = theta_new, phi_new
        return np.array([accepted, accepted])

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

    def _T_factor(self, state: dict) -> tuple[float, np.ndarray]:
        """Degrees of freedom of ``T | alpha, gamma`` and the lower Cholesky factor ``L`` of the
        inverse of its scale, ``R + S = L L'``."""
        dev = state["alpha"] - state["gamma"]
        return WISHART_DF + self.M, _cholesky(self.R + dev.T @ dev)

    def T_conditional(self, state: dict) -> tuple[float, np.ndarray]:
        """Degrees of freedom and scale of ``T | alpha, gamma`` (standard Wishart)."""
        dof, L = self._T_factor(state)
        L_inv = lapack.dtrtri(L, lower=1)[0]
        return dof, L_inv.T @ L_inv

    def update_beta(self, rng, state, w=None):
        return mvn_from_precision(rng, *self.beta_conditional(state, w))

    def update_alpha(self, rng, state, w=None):
        return mvn_from_precision(rng, *self.alpha_conditional(state, w))

    def update_gamma(self, rng, state):
        return mvn_from_precision(rng, *self.gamma_conditional(state))

    def update_T(self, rng, state):
        """Draw ``T`` from :meth:`T_conditional`. Its degrees of freedom, ``3 + M``, are a whole
        number, so ``T`` is by definition the sum of ``3 + M`` outer products ``x x'`` of
        independent ``x ~ N(0, scale)``. The scale is ``L'^-1 L^-1`` (``L`` from :meth:`_T_factor`),
        so the ``x`` are the columns of ``X = L'^-1 E`` with ``E`` a 3 x (3 + M) standard normal
        matrix, and ``T = X X'``: one triangular solve and one product, where :func:`wishart_draw`
        (Bartlett's decomposition, for any degrees of freedom) would invert ``L``, factor the
        scale again and make a chi-squared draw per row."""
        dof, L = self._T_factor(state)
        X = _solve_lower(L, rng.standard_normal((3, dof)), transposed=True)
        return X @ X.T

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
        """One full sweep; returns the acceptance flags of theta and phi.

        Blocked: (beta, gamma, alpha), T, (theta, phi). Otherwise: beta, alpha, gamma, T, then
        random-walk steps of size ``tau_step`` for theta and phi."""
        if self.blocked:
            self.update_location(rng, state)
            state["T"] = self.update_T(rng, state)
            return self.update_tau_joint(rng, state)
        w = self.precision(state)
        state["beta"] = self.update_beta(rng, state, w)
        state["alpha"] = self.update_alpha(rng, state, w)
        state["gamma"] = self.update_gamma(rng, state)
        state["T"] = self.update_T(rng, state)
        return self.update_tau(rng, state, tau_step)

    def run_chain(self, rng, draws: int, tune: int, thin: int = 1) -> tuple[dict, dict]:
        """One chain: ``tune`` warm-up sweeps (adapting the random-walk steps of the textbook
        sweep), then ``draws * thin`` kept sweeps."""
        state = self.initial_state(rng)
        step = np.array([0.03, 0.003])
        out = {k: np.empty((draws,) + np.shape(v)) for k, v in state.items()}
        acc = np.zeros((draws, 2), dtype=bool)
        for t in range(tune):
            accepted = self.step(rng, state, step)
            if not self.blocked:
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
                 thin: int = 1, blocked: bool = True) -> az.InferenceData:
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
    blocked : bool
        The blocked sweep (default) or the textbook one (see :class:`SchoolsGibbs`).

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
    sampler = SchoolsGibbs(df, blocked=blocked)
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
