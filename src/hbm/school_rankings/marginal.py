"""The school coefficients integrated out: the marginal likelihood of the Schools model.

Given ``beta``, ``gamma``, the between-school covariance and ``theta``, ``phi``, the model is
linear-Gaussian in each school's ``alpha[j]``, so ``alpha`` can be integrated out exactly,
school by school, with batched 3x3 algebra (no Python loop over pupils or schools). The two
functions here return PyTensor expressions for the model builders of
:mod:`hbm.school_rankings.models`; ``d`` is the dict of
:func:`hbm.school_rankings.validate_schools`.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt


def _chol3(P):
    """Cholesky factor entries of a batch of 3x3 SPD matrices (closed form, differentiable)."""
    l11 = pt.sqrt(P[:, 0, 0])
    l21, l31 = P[:, 1, 0] / l11, P[:, 2, 0] / l11
    l22 = pt.sqrt(P[:, 1, 1] - l21**2)
    l32 = (P[:, 2, 1] - l31 * l21) / l22
    l33 = pt.sqrt(P[:, 2, 2] - l31**2 - l32**2)
    return l11, l21, l31, l22, l32, l33


def _school_terms(d: dict, gamma, beta, theta, phi):
    """Pupil-level log density of the residuals, and per school ``A_j = Z_j' W_j Z_j`` and
    ``b_j = Z_j' W_j r_j`` (:func:`_sums_over_scores` when the reading-test scores take few
    distinct values, as in the London data, else :func:`_sums_over_pupils`)."""
    log_w = theta + phi * d["lrt"]
    r = d["y"] - pt.dot(d["X"], beta) - pt.dot(d["Z"], gamma)
    pupils = 0.5 * pt.sum(log_w - pt.exp(log_w) * r**2) - 0.5 * len(d["y"]) * np.log(2 * np.pi)
    if 3 * len(np.unique(d["lrt"])) <= len(d["y"]):
        return (pupils, *_sums_over_scores(d, gamma, beta, theta, phi))
    return (pupils, *_sums_over_pupils(d, pt.exp(log_w), r))


def _sums_over_pupils(d: dict, w, r):
    """``A_j`` (M, 3, 3) and ``b_j`` (M, 3) as sums over each school's pupils, given the pupils'
    precisions ``w`` and residuals ``r``: one product with the school indicator matrix (M x N)."""
    onehot = np.zeros((d["M"], len(d["y"])))
    onehot[d["school"], np.arange(len(d["y"]))] = 1.0
    ZZ = (d["Z"][:, :, None] * d["Z"][:, None, :]).reshape(-1, 9)
    return pt.dot(onehot, ZZ * w[:, None]).reshape((d["M"], 3, 3)), pt.dot(onehot, d["Z"] * (w * r)[:, None])


def _sums_over_scores(d: dict, gamma, beta, theta, phi):
    """``A_j`` and ``b_j`` from sums over the distinct reading-test scores.

    A pupil's precision ``w_p = exp(theta + phi LRT_p)`` depends on the pupil only through the
    score, and ``r_p = d_p' c`` with ``d_p = (z_p, x_p, y_p)`` and ``c = (-gamma, -beta, 1)``. So
    ``S_j = sum_s exp(theta + phi s) S_js`` holds both: ``A_j`` is its first three columns and
    ``b_j = S_j c``. ``S_js`` (3 x 12), the sum of ``z_p d_p'`` over school j's pupils with score
    ``s``, is computed once from the data, so each evaluation costs M x 36 x (distinct scores)
    instead of passes over the pupils (70 scores for the 1978 London pupils); :func:`_school_terms`
    uses it when ``3 x scores <= pupils``. (The Gibbs sampler uses the same idea.)
    """
    D = np.column_stack([d["Z"], d["X"], d["y"]])
    scores, score = np.unique(d["lrt"], return_inverse=True)
    S = np.zeros((d["M"], 36, len(scores)))
    np.add.at(S, (d["school"], slice(None), score.ravel()), (d["Z"][:, :, None] * D[:, None, :]).reshape(-1, 36))
    S_w = pt.dot(S, pt.exp(theta + phi * scores)).reshape((d["M"], 3, 12))
    c = pt.concatenate([-gamma, -beta, pt.ones(1)])
    return S_w[:, :, :3], pt.dot(S_w, c)


def _quad_logdet(M, c):
    """Per school ``c_j' M_j^-1 c_j`` and ``log|M_j|`` for a batch of 3x3 SPD matrices."""
    l11, l21, l31, l22, l32, l33 = _chol3(M)
    v1 = c[:, 0] / l11
    v2 = (c[:, 1] - l21 * v1) / l22
    v3 = (c[:, 2] - l31 * v1 - l32 * v2) / l33
    return v1**2 + v2**2 + v3**2, 2 * (pt.log(l11) + pt.log(l22) + pt.log(l33))


def marginal_loglik(d: dict, gamma, beta, F, theta, phi):
    """log p(y | beta, gamma, Sigma = F F', theta, phi) with every school's alpha[j] integrated out.

    For school j with residual ``r = y - X beta - Z gamma``, pupil precisions ``W``,
    ``A_j = Z_j' W_j Z_j`` and ``b_j = Z_j' W_j r_j``, integrating ``alpha[j] - gamma ~ N(0, F F')``
    gives ``sum_p log N(r_p | 0, 1/w_p) + [-log|Q_j| + c_j' Q_j^-1 c_j] / 2`` with
    ``Q_j = I + F' A_j F`` and ``c_j = F' b_j``. (This equals the precision form of
    :func:`marginal_loglik_precision` with ``T = (F F')^-1``, but stays well conditioned when a
    between-school variance is tiny.)
    """
    pupils, A, b = _school_terms(d, gamma, beta, theta, phi)
    Q = pt.eye(3)[None, :, :] + pt.dot(F.T, pt.dot(A, F)).dimshuffle(1, 0, 2)
    quad, logdet_Q = _quad_logdet(Q, pt.dot(b, F))
    return pupils + 0.5 * pt.sum(quad - logdet_Q)


def marginal_loglik_precision(d: dict, gamma, beta, T, theta, phi, logdet_T):
    """The same marginal likelihood in precision form, given ``T = Sigma^-1`` directly and
    ``logdet_T = log|T|`` (known in closed form from ``T``'s factors, so that the graph needs no
    determinant and its gradient no matrix inverse):
    ``sum_p log N(r_p | 0, 1/w_p) + [log|T| - log|P_j| + b_j' P_j^-1 b_j] / 2`` with
    ``P_j = T + A_j``. Cheaper when ``T`` is the parameter (the Wishart model)."""
    pupils, A, b = _school_terms(d, gamma, beta, theta, phi)
    quad, logdet_P = _quad_logdet(T[None, :, :] + A, b)
    return pupils + 0.5 * (d["M"] * logdet_T + pt.sum(quad - logdet_P))
