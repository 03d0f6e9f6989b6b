"""Chapter 5, Ranking London schools: the BUGS "Schools" model and the uncertainty of league tables.

1978 pupils in 38 inner-London schools (Goldstein et al. 1993). The slice holds:

* :mod:`~hbm.school_rankings.design`: :func:`validate_schools` (the pupil table as the model's
  arrays) and the model's constants;
* :mod:`~hbm.school_rankings.models`: :func:`build_bugs_model` (Wishart prior, as published),
  :func:`build_lkj_model` (LKJ correlations, half-normal scales), :func:`add_alpha_draws`;
* :mod:`~hbm.school_rankings.marginal`: the school coefficients integrated out exactly;
* :mod:`~hbm.school_rankings.gibbs`: a vectorised Metropolis-within-Gibbs sampler written by hand;
* :mod:`~hbm.school_rankings.published`: :func:`bugs_summary`, :func:`compare_with_published`;
* :mod:`~hbm.school_rankings.ranks`: :func:`school_ranks`, :func:`rank_draws`;
* :mod:`~hbm.school_rankings.reference` and :mod:`~hbm.school_rankings.checks`: the stored
  reference summaries and the self-checks that use them;
* :mod:`~hbm.school_rankings.sampler_exercise`: the simulated pupils and reference posterior of
  the "debug this sampler" exercise's check;
* :mod:`~hbm.school_rankings.benchmark_results`: :func:`gibbs_benchmark`, the repository's
  recorded Gibbs benchmark as a table.
"""

from __future__ import annotations

from hbm.school_rankings import checks
from hbm.school_rankings.benchmark_results import gibbs_benchmark
from hbm.school_rankings.design import (ALPHA_COLUMNS, BETA_COLUMNS, NODES, PRIOR_SD, WISHART_DF,
                                        validate_schools)
from hbm.school_rankings.gibbs import SchoolsGibbs, mvn_from_precision, sample_gibbs, wishart_draw
from hbm.school_rankings.models import (DEFAULT_PRIORS, PerCovariateSd, add_alpha_draws, build_bugs_model,
                                        build_lkj_model)
from hbm.school_rankings.published import bugs_summary, compare_with_published
from hbm.school_rankings.ranks import rank_draws, school_ranks


def benchmark_model():
    """The chapter's main model for the sampler benchmark: the BUGS (Wishart) model of the
    shipped data with the school coefficients integrated out, and a description."""
    import hbm

    return (build_bugs_model(hbm.data.load("london_schools")),
            "BUGS Schools model (Wishart prior), school effects marginalised")


__all__ = ["ALPHA_COLUMNS", "BETA_COLUMNS", "DEFAULT_PRIORS", "NODES", "PRIOR_SD", "PerCovariateSd",
           "SchoolsGibbs", "WISHART_DF", "add_alpha_draws", "benchmark_model", "bugs_summary",
           "build_bugs_model", "build_lkj_model", "checks", "compare_with_published", "gibbs_benchmark",
           "mvn_from_precision", "rank_draws", "sample_gibbs", "school_ranks", "validate_schools",
           "wishart_draw"]
