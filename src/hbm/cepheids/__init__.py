"""Chapter 4: the Cepheid period-luminosity (Leavitt) law across 22 galaxies.

Cepheids sit within host galaxies, and the galaxies within one population that shares the
Leavitt law; NGC 4258's geometric distance turns the hosts' zero points into distances.
The chapter's student exercise models Gaia DR2 open-cluster parallaxes the same way.

Modules: :mod:`~hbm.cepheids.models` (validation, Wesenheit magnitudes, the Leavitt-law
builder), :mod:`~hbm.cepheids.posterior` (distances, a posterior predictive check),
:mod:`~hbm.cepheids.exact` (the exact pooled posterior, the partially pooled one by
quadrature, maximum-likelihood cluster distances),
:mod:`~hbm.cepheids.clusters` (the Gaia model) and :mod:`~hbm.cepheids.checks` (self-checks).
"""

from __future__ import annotations

from hbm.cepheids import checks
from hbm.cepheids.clusters import (
    GAIA_DR2_ZERO_POINT_MAS,
    PARALLAX_ERROR_FLOOR_MAS,
    build_cluster_model,
    validate_clusters,
)
from hbm.cepheids.exact import (
    cluster_distance_mle,
    partial_pooling_posterior,
    pooled_distance_moduli,
    pooled_least_squares,
)
from hbm.cepheids.models import (
    ANCHOR,
    ANCHOR_MU,
    ANCHOR_SIGMA,
    DEFAULT_PRIORS,
    POOLING,
    WESENHEIT_R,
    build_leavitt_model,
    validate_cepheids,
    wesenheit,
)
from hbm.cepheids.posterior import distance_table, host_residual_ppc, predicted_means


def benchmark_model():
    """The chapter's main model for the sampler benchmark: ``(model, description)``."""
    from hbm import data

    model = build_leavitt_model(validate_cepheids(data.load("cepheids")), pooling="partial")
    return model, "Leavitt law, partially pooled slopes"


__all__ = [
    "ANCHOR", "ANCHOR_MU", "ANCHOR_SIGMA", "DEFAULT_PRIORS", "GAIA_DR2_ZERO_POINT_MAS",
    "PARALLAX_ERROR_FLOOR_MAS", "POOLING", "WESENHEIT_R", "benchmark_model", "build_cluster_model",
    "build_leavitt_model", "checks", "cluster_distance_mle", "distance_table", "host_residual_ppc",
    "partial_pooling_posterior", "pooled_distance_moduli", "pooled_least_squares", "predicted_means",
    "validate_cepheids", "validate_clusters", "wesenheit",
]
