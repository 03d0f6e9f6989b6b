"""The simulated Dyson-sphere light curves: a population of sinusoids observed sparsely.

``python -m hbm.simulate`` writes ``data/dyson_spheres.csv`` and its truth with
:func:`simulate_light_curves`; the tests draw other data sets with it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

POPULATION = {
    "n_objects": 8,
    "mean_log_amplitude": float(np.log(0.2)),  # relative amplitude A/m, log-normal
    "sd_log_amplitude": 0.3,
    "mean_log_frequency": float(np.log(0.2)),  # cycles per day, log-normal
    "sd_log_frequency": 0.25,
    "corr_log_amplitude_log_frequency": -0.6,  # slower objects vary more
    "mean_log_flux": float(np.log(100.0)),  # mean flux m, log-normal
    "sd_log_flux": 0.4,
    "relative_noise": 0.04,  # flux_err = relative_noise * m * U(0.7, 1.3)
    "span_days": 40.0,
    "min_points": 8,
    "max_points": 15,
}
"""The population the shipped data are drawn from."""


def simulate_light_curves(rng: np.random.Generator, population: dict | None = None,
                          seed: int | None = None) -> tuple[pd.DataFrame, dict]:
    """Draw sparse, irregular light curves of a population of sinusoidal variables.

    Object ``k`` has mean flux ``m_k`` (log-normal), relative amplitude ``r_k``
    and frequency ``f_k`` (jointly log-normal, correlated), a phase
    ``phi_k ~ Uniform(0, 2 pi)``, and ``n_k`` observation times drawn uniformly
    over ``span_days``. The flux is ``m_k (1 + r_k sin(2 pi f_k t + phi_k))``
    plus Gaussian noise of standard deviation ``flux_err``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (``python -m hbm.simulate`` passes a child stream of its seed, so the
        shipped data are reproduced bit for bit).
    population : dict, optional
        Overrides of :data:`POPULATION` (same keys), e.g. ``{"n_objects": 20, "span_days": 45}``.
    seed : int, optional
        Recorded in the truth as ``seed``.

    Returns
    -------
    (pandas.DataFrame, dict)
        The data (columns ``object_id, time, flux, flux_err``) and the true
        parameters, with amplitude ``A_k = m_k r_k`` in flux units.
    """
    unknown = sorted(set(population or {}) - set(POPULATION))
    if unknown:
        raise ValueError(f"unknown population setting(s) {unknown}; known: {list(POPULATION)}")
    p = {**POPULATION, **(population or {})}
    n = p["n_objects"]
    sd = np.array([p["sd_log_amplitude"], p["sd_log_frequency"]])
    corr = p["corr_log_amplitude_log_frequency"]
    cov = np.outer(sd, sd) * np.array([[1.0, corr], [corr, 1.0]])
    log_r, log_f = rng.multivariate_normal([p["mean_log_amplitude"], p["mean_log_frequency"]], cov, n).T
    rel_amp, freq = np.exp(log_r), np.exp(log_f)
    mean_flux = np.exp(rng.normal(p["mean_log_flux"], p["sd_log_flux"], n))
    phase = rng.uniform(0, 2 * np.pi, n)
    names = [f"DS-{k + 1:02d}" for k in range(n)]
    rows = []
    for k in range(n):
        n_k = int(rng.integers(p["min_points"], p["max_points"] + 1))
        t = np.sort(np.round(rng.uniform(0, p["span_days"], n_k), 3))
        err = p["relative_noise"] * mean_flux[k] * rng.uniform(0.7, 1.3, n_k)
        model = mean_flux[k] * (1 + rel_amp[k] * np.sin(2 * np.pi * freq[k] * t + phase[k]))
        flux = model + rng.normal(0, err)
        rows.append(pd.DataFrame({"object_id": names[k], "time": t, "flux": flux, "flux_err": err}))
    df = pd.concat(rows, ignore_index=True)
    truth = {
        "description": "Simulated by hbm.simulate.dyson_spheres; see its docstring for the model.",
        "seed": seed,
        "population": p,
        "objects": {
            names[k]: {
                "mean_flux": round(float(mean_flux[k]), 6),
                "relative_amplitude": round(float(rel_amp[k]), 6),
                "amplitude": round(float(mean_flux[k] * rel_amp[k]), 6),
                "frequency": round(float(freq[k]), 6),
                "period": round(float(1 / freq[k]), 6),
                "phase": round(float(phase[k]), 6),
            }
            for k in range(n)
        },
    }
    return df, truth
