"""Chapter 3, the Dyson Spheres: periodograms and a hierarchical population of sinusoids.

Object ``k`` is observed at a few irregular times with flux ``y +- dy`` and modelled as a single
sinusoid ``m_k (1 + r_k sin(2 pi f_k t + phi_k))``. The slice holds

* :mod:`.lightcurves`: validation of a light-curve table (:func:`validate_light_curves`) and a
  per-object summary;
* :mod:`.periodogram`: Lomb-Scargle periodograms, their highest peaks, the window of the highest
  peak and the spectral window of a sampling;
* :mod:`.exact`: each object's exact marginal likelihood of its frequency over the whole band, the
  sinusoid's coefficients integrated out (:func:`frequency_grid`), and the flat-prior posterior
  (:func:`frequency_posterior`, :func:`window_mass`);
* :mod:`.mixture`: the frequency posterior as weights on the grid, with or without the population
  (:func:`frequency_weights`, :func:`frequency_summary`, :func:`peak_masses`), and the population's
  exact posterior by quadrature (:func:`population_quadrature`, :func:`population_moments`);
* :mod:`.models`: the window-restricted sinusoid population (:func:`build_model`) and the grid
  mixture in which every peak competes (:func:`build_grid_model`);
* :mod:`.posterior`: predicted light curves, exact draws of the grid model, recovery of the truth;
* :mod:`.checks`: the chapter's self-checks; :mod:`.simulate`: the data generator.
"""

from hbm.dyson_spheres import checks
from hbm.dyson_spheres.exact import (
    POINTS_PER_PEAK,
    REL_AMPLITUDE_PRIOR,
    FrequencyGrid,
    frequency_grid,
    frequency_posterior,
    window_mass,
)
from hbm.dyson_spheres.lightcurves import COLUMNS, MIN_POINTS, light_curve_summary, validate_light_curves
from hbm.dyson_spheres.mixture import (
    frequency_summary,
    frequency_weights,
    peak_masses,
    population_moments,
    population_quadrature,
)
from hbm.dyson_spheres.models import DEFAULT_PRIORS, GRID_PRIORS, build_grid_model, build_model
from hbm.dyson_spheres.periodogram import (
    MAX_FREQUENCY,
    SAMPLES_PER_PEAK,
    frequency_windows,
    periodograms,
    top_peaks,
    window_function,
)
from hbm.dyson_spheres.posterior import TRUTH_KEYS, grid_posterior, predict_flux, recovery_table
from hbm.dyson_spheres.simulate import POPULATION, simulate_light_curves


def benchmark_model():
    """The chapter's main NUTS model for the sampler benchmark: ``(model, description)``."""
    from hbm import data

    return (build_model(data.load("dyson_spheres"), pooling="partial"),
            "hierarchical sinusoid population in the periodogram windows (partial pooling)")


__all__ = [
    "COLUMNS", "DEFAULT_PRIORS", "GRID_PRIORS", "MAX_FREQUENCY", "MIN_POINTS", "POINTS_PER_PEAK", "POPULATION",
    "REL_AMPLITUDE_PRIOR", "SAMPLES_PER_PEAK", "TRUTH_KEYS", "FrequencyGrid", "benchmark_model",
    "build_grid_model", "build_model", "checks", "frequency_grid", "frequency_posterior",
    "frequency_summary", "frequency_weights", "frequency_windows", "grid_posterior", "light_curve_summary",
    "peak_masses", "periodograms", "population_moments", "population_quadrature", "predict_flux", "recovery_table", "simulate_light_curves", "top_peaks",
    "validate_light_curves", "window_function", "window_mass",
]
