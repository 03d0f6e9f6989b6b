"""Self-checks of chapter 4: each compares a student's answer with a reference computed here.

The references are exact: the Wesenheit formula on the shipped data, the posterior of the partially
pooled Leavitt law by quadrature (:func:`hbm.cepheids.partial_pooling_posterior`, refitted to the
hosts the student gives) and the maximum-likelihood cluster distances
(:func:`hbm.cepheids.cluster_distance_mle`). No message shows a reference value.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from hbm import data as hbm_data
from hbm.cepheids.clusters import validate_clusters
from hbm.cepheids.exact import cluster_distance_mle, partial_pooling_posterior
from hbm.cepheids.models import ANCHOR, validate_cepheids, wesenheit
from hbm.checks import CheckResult, check_close

SD_TOL = 0.25
"""Tolerance of the Leavitt-law checks, in posterior standard deviations of the reference: wide
enough for a sampler's Monte Carlo error, narrow enough to tell partial from complete pooling."""

CLUSTER_RTOL = 0.005
"""Relative tolerance of :func:`check_cluster_distances`."""


@lru_cache(maxsize=8)
def _partial(hosts: tuple[str, ...] | None) -> pd.DataFrame:
    prepared = validate_cepheids(hbm_data.load("cepheids"), None if hosts is None else list(hosts))
    return partial_pooling_posterior(prepared)


@lru_cache(maxsize=None)
def _cluster_reference(zero_point_mas: float) -> pd.Series:
    return cluster_distance_mle(validate_clusters(hbm_data.load("gaia_clusters")), zero_point_mas=zero_point_mas)


def check_wesenheit(m_W, sigma_W) -> CheckResult:
    """The Wesenheit magnitudes and their uncertainties of all 1803 Cepheids.

    Parameters
    ----------
    m_W, sigma_W : array_like
        ``H - 0.386 (V - I)`` and its uncertainty, in the row order of
        ``hbm.data.load("cepheids")`` (mag).
    """
    reference = wesenheit(hbm_data.load("cepheids"))
    for name, answer in (("m_W", m_W), ("sigma_W", sigma_W)):
        try:
            answer = np.asarray(answer, dtype=float)
        except (TypeError, ValueError):
            return CheckResult("wesenheit", False, f"{name} must be an array of numbers")
        ref = reference[name].to_numpy()
        if answer.shape != ref.shape:
            return CheckResult("wesenheit", False, f"{name} should have one value per Cepheid, shape {ref.shape}, "
                                                   f"got {answer.shape}")
        off = ~(np.abs(answer - ref) <= 1e-6)
        if off.any():
            return CheckResult("wesenheit", False, f"{name} differs from the worked solution for {off.sum()} of "
                               f"{off.size} Cepheids (first at row {np.flatnonzero(off)[0]}); check your formula")
    return CheckResult("wesenheit", True, "m_W and sigma_W agree with the worked solution (tolerance 1e-06 mag)")


def check_population_slope(slope) -> CheckResult:
    """The posterior mean population slope of the partially pooled Leavitt law on all 22 hosts.

    The reference is the model's exact posterior (quadrature over the slope spread and the
    intrinsic scatter); the tolerance is :data:`SD_TOL` of its posterior standard deviation.
    """
    ref = _partial(None).loc["slope_pop"]
    return check_close("population_slope", slope, ref["mean"], atol=SD_TOL * ref["sd"],
                       what="population slope (mag per dex of period)")


def check_distance_moduli(mu) -> CheckResult:
    """Posterior mean distance moduli (mag) of the partially pooled model, anchored on NGC 4258.

    Parameters
    ----------
    mu : dict or pandas.Series
        Distance modulus by host name, for every host you fitted (the anchor N4258 among them),
        e.g. ``{"N4258": 29.4, "M101": 29.1, ...}``.

    Notes
    -----
    The check refits the partially pooled model to exactly the hosts you give, without a sampler
    (:func:`hbm.cepheids.partial_pooling_posterior`), and compares each modulus with its exact
    posterior mean within :data:`SD_TOL` posterior standard deviations.
    """
    names = hbm_data.load("cepheids")["host"].unique().tolist()
    try:
        mu = pd.Series(mu, dtype=float)
    except (TypeError, ValueError):
        return CheckResult("distance_moduli", False, "give the distance moduli as a dict or Series of numbers by host")
    unknown = [h for h in mu.index if h not in names]
    if unknown or mu.empty:
        return CheckResult("distance_moduli", False,
                           f"unknown host name(s) {unknown}; use the names in the data: {names}")
    if ANCHOR not in mu.index:
        return CheckResult("distance_moduli", False, f"give every host you fitted, including the anchor {ANCHOR}: "
                                                     "the check refits the model to exactly those hosts")
    hosts = tuple(h for h in names if h in mu.index)
    ref = _partial(None if len(hosts) == len(names) else hosts)
    ref = ref.loc[[f"mu[{h}]" for h in mu.index]]
    z = (mu.to_numpy() - ref["mean"].to_numpy()) / ref["sd"].to_numpy()
    return check_close("distance_moduli", z, np.zeros(len(z)), atol=SD_TOL,
                       what=f"distance moduli of {list(mu.index)} (in posterior sds)")


def check_cluster_distances(distances, *, zero_point_mas: float = 0.0) -> CheckResult:
    """The distances (pc) of the nine Gaia DR2 open clusters.

    Parameters
    ----------
    distances : dict or pandas.Series
        Posterior mean or median distance in parsec by cluster name.
    zero_point_mas : float, default 0
        The parallax zero-point offset your model assumes (mas; measured = true + offset).
        0 checks the model that takes Gaia DR2 parallaxes at face value; a model with the
        Gaia DR2 offset (about -0.029 mas, ``hbm.cepheids.GAIA_DR2_ZERO_POINT_MAS``, or a
        ``zero_point`` parameter with that prior mean) passes it here.

    Notes
    -----
    The reference is the maximum-likelihood distance of each cluster under the same
    star-level likelihood with the stated offset; the tolerance is :data:`CLUSTER_RTOL`.
    """
    try:
        offset = float(zero_point_mas)
    except (TypeError, ValueError):
        return CheckResult("cluster_distances", False, "zero_point_mas must be a number (mas)")
    if not np.isfinite(offset) or abs(offset) > 1:
        return CheckResult("cluster_distances", False, "zero_point_mas must be a finite offset of at most 1 mas")
    reference = _cluster_reference(offset)
    try:
        distances = pd.Series(distances, dtype=float)
    except (TypeError, ValueError):
        return CheckResult("cluster_distances", False,
                           "give the distances as a dict or Series of numbers (pc) by cluster")
    if sorted(distances.index) != sorted(reference.index):
        return CheckResult("cluster_distances", False, f"give one distance for each cluster: {list(reference.index)}")
    model = "no parallax offset" if offset == 0 else f"a parallax zero point of {offset:g} mas"
    result = check_close("cluster_distances", distances[reference.index].to_numpy(), reference.to_numpy(),
                         rtol=CLUSTER_RTOL, what=f"cluster distances (pc; model with {model})")
    if not result.passed and offset == 0:
        hint = ("; if your model corrects for the Gaia parallax zero point, pass its offset as "
                "zero_point_mas=...")
        return CheckResult(result.name, False, result.message + hint)
    return result
