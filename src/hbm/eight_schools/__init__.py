"""Chapter 1, the Eight Schools: complete pooling, the exact posterior, PyMC models (centred and
non-centred), prior sensitivity and a Stan cross-check.

The hierarchical model of Rubin (1981) and Gelman et al. (BDA3, section 5.5) is
``y_j ~ N(theta_j, sigma_j)``, ``theta_j ~ N(mu, tau)``, with the standard errors ``sigma_j`` known.

- :mod:`.models`: :func:`validate_schools`, :func:`build_model`, :func:`simulate_schools`
- :mod:`.exact`: :func:`pooled_estimate`, the exact posterior (:func:`tau_posterior`,
  :func:`exact_posterior_draws`, ...) and :func:`prior_sensitivity`
- :mod:`.checks`: the chapter's self-checks
- :mod:`.stan`: the Stan program (``stan/noncentred.stan``) and its PyStan runner
"""

from . import checks, stan
from .exact import (TAIL_TOLERANCE, exact_mu_quantiles, exact_posterior_draws, exact_posterior_means,
                    exact_tau_cdf, exact_tau_quantiles, mu_given_tau, pooled_estimate, pooled_ppc,
                    prior_sensitivity, shrinkage_curves, tau_grid, tau_posterior, theta_given_mu_tau)
from .models import (BDA3_PRIORS, DEFAULT_PRIORS, POPULATIONS, SIM_SEED, SIM_TRUTH, benchmark_model,
                     build_model, simulate_schools, simulated_schools, validate_schools)
from .stan import sample_stan, stan_available

__all__ = [
    "BDA3_PRIORS", "DEFAULT_PRIORS", "POPULATIONS", "SIM_SEED", "SIM_TRUTH", "TAIL_TOLERANCE",
    "benchmark_model", "build_model", "checks", "exact_mu_quantiles", "exact_posterior_draws",
    "exact_posterior_means", "exact_tau_cdf", "exact_tau_quantiles", "mu_given_tau", "pooled_estimate",
    "pooled_ppc", "prior_sensitivity", "sample_stan", "shrinkage_curves", "simulate_schools",
    "simulated_schools", "stan", "stan_available", "tau_grid", "tau_posterior", "theta_given_mu_tau",
    "validate_schools",
]
