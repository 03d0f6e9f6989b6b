"""Simulate the workbook's two synthetic data sets, with their true parameters.

Run ``python -m hbm.simulate`` to (re)write ``data/five_districts.csv``,
``data/dyson_spheres.csv`` and, beside each, ``*_truth.json``. The output is
bit-for-bit reproducible: a fixed seed, NumPy's PCG64 generator and fixed
number formatting.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from hbm.data import DATA_DIR

SEED = 20240611
"""The seed both data sets are drawn with."""

DISTRICT_SIZES = {"A": 9, "B": 7, "C": 5, "D": 4, "E": 2}
"""Schools per district: uneven on purpose, two districts with few schools."""

FIVE_DISTRICTS_POPULATION = {
    "mu_alpha": 2.0,  # mean district intercept: score change at zero hours (points)
    "sigma_alpha": 1.5,  # spread of district intercepts (points)
    "mu_beta": 0.35,  # mean district slope (points per hour studied)
    "sigma_beta": 0.12,  # spread of district slopes (points per hour)
    "sigma_school": 1.0,  # school-to-school scatter about the district line (points)
}

DYSON_POPULATION = {
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


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, float_format="%.4f", lineterminator="\n")


def _write_json(obj: dict, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def five_districts(rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """Draw 27 schools in 5 districts from a hierarchical linear model.

    District ``d`` has intercept ``alpha_d ~ Normal(mu_alpha, sigma_alpha)`` and
    slope ``beta_d ~ Normal(mu_beta, sigma_beta)``. School ``i`` in district
    ``d`` has ``hours_i ~ Uniform(5, 40)``, a true mean improvement
    ``alpha_d + beta_d hours_i + Normal(0, sigma_school)``, a standard error
    ``err_i ~ Uniform(1.5, 4)`` and an observed ``score_change ~ Normal(true, err_i)``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    (pandas.DataFrame, dict)
        The data (columns ``district, hours_studied, score_change,
        score_change_err``) and the true parameters.
    """
    p = FIVE_DISTRICTS_POPULATION
    districts = list(DISTRICT_SIZES)
    alpha = rng.normal(p["mu_alpha"], p["sigma_alpha"], len(districts))
    beta = rng.normal(p["mu_beta"], p["sigma_beta"], len(districts))
    label = np.repeat(districts, list(DISTRICT_SIZES.values()))
    d = np.repeat(np.arange(len(districts)), list(DISTRICT_SIZES.values()))
    hours = np.round(rng.uniform(5, 40, d.size), 1)
    true_mean = alpha[d] + beta[d] * hours + rng.normal(0, p["sigma_school"], d.size)
    err = np.round(rng.uniform(1.5, 4.0, d.size), 2)
    score = true_mean + rng.normal(0, err)
    df = pd.DataFrame({"district": label, "hours_studied": hours, "score_change": score, "score_change_err": err})
    truth = {
        "description": "Simulated by hbm.simulate.five_districts; see its docstring for the model.",
        "seed": SEED,
        "population": p,
        "districts": districts,
        "schools_per_district": DISTRICT_SIZES,
        "alpha": dict(zip(districts, alpha.round(6).tolist())),
        "beta": dict(zip(districts, beta.round(6).tolist())),
        "school_true_mean": true_mean.round(6).tolist(),
    }
    return df, truth


def dyson_spheres(rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """Draw sparse, irregular light curves of a population of sinusoidal variables.

    Object ``k`` has mean flux ``m_k`` (log-normal), relative amplitude ``r_k``
    and frequency ``f_k`` (jointly log-normal, correlated), a phase
    ``phi_k ~ Uniform(0, 2 pi)``, and ``n_k`` observation times drawn uniformly
    over ``span_days``. The flux is ``m_k (1 + r_k sin(2 pi f_k t + phi_k))``
    plus Gaussian noise of standard deviation ``flux_err``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    (pandas.DataFrame, dict)
        The data (columns ``object_id, time, flux, flux_err``) and the true
        parameters, with amplitude ``A_k = m_k r_k`` in flux units.
    """
    p = DYSON_POPULATION
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
        "seed": SEED,
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


def write_all(directory: str | Path = DATA_DIR, seed: int = SEED) -> list[Path]:
    """Simulate both data sets and write them, with their truths, to ``directory``.

    Parameters
    ----------
    directory : str or pathlib.Path, default the repository's ``data/``
        Output folder (created if needed).
    seed : int, default :data:`SEED`
        Seed of the generator; each data set gets its own child stream.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    district_rng, dyson_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    written = []
    for name, (df, truth) in {"five_districts": five_districts(district_rng),
                              "dyson_spheres": dyson_spheres(dyson_rng)}.items():
        truth["seed"] = seed
        _write_csv(df, directory / f"{name}.csv")
        _write_json(truth, directory / f"{name}_truth.json")
        written += [directory / f"{name}.csv", directory / f"{name}_truth.json"]
    return written


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: ``python -m hbm.simulate [--out DIR] [--seed N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DATA_DIR), help="output folder (default: the repository's data/)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    args = parser.parse_args(argv)
    for path in write_all(args.out, args.seed):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
