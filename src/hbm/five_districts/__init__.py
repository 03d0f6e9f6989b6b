"""Chapter 2, the Five Districts: pooled, unpooled and hierarchical linear regressions.

27 schools in five districts: how many points of score improvement does an hour of study buy,
school by school? One builder, :func:`build_model`, makes the three models (``pooling=
"complete"``, ``"none"`` or ``"partial"``, the last centred or non-centred); given the scale
parameters every model is linear and Gaussian, so :mod:`.quadrature` computes reference
posteriors and leave-one-out densities without MCMC. :mod:`.checks` holds the chapter's
self-checks and :mod:`.simulate` the generator of ``data/five_districts.csv``.
"""

from __future__ import annotations

from hbm.five_districts import checks
from hbm.five_districts.models import (
    COLUMNS,
    DEFAULT_PRIORS,
    POOLING,
    PRIOR_SETS,
    build_model,
    coords,
    school_slopes,
    validate_schools,
)
from hbm.five_districts.quadrature import (
    prior_predictive_sd,
    quadrature_interval,
    quadrature_loo,
    quadrature_posterior,
)


def benchmark_model():
    """The chapter's main model for the sampler benchmark: (model, description)."""
    from hbm import data

    model = build_model(data.load("five_districts"), pooling="partial", centred=False)
    return model, "non-centred hierarchical regression"


__all__ = ["COLUMNS", "DEFAULT_PRIORS", "POOLING", "PRIOR_SETS", "benchmark_model", "build_model", "checks",
           "coords", "prior_predictive_sd", "quadrature_interval", "quadrature_loo", "quadrature_posterior",
           "school_slopes", "validate_schools"]
