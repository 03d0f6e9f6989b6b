"""The "debug this sampler" exercise: small simulated data and the reference posterior on them.

The self-check :func:`hbm.school_rankings.checks.check_debugged_sampler` runs a student's
sampler on :func:`exercise_data` (a small pupil table simulated from the Schools model) and
compares the summaries of :data:`QUANTITIES` with :func:`exercise_reference`, a long run of the
book's vectorised sampler (:func:`hbm.school_rankings.sample_gibbs`) on the same table.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from hbm.school_rankings.design import ALPHA_COLUMNS, BETA_COLUMNS

DATA_SEED = 20251130
"""Seed of the simulated table (fixed: every run of the check sees the same pupils)."""

REFERENCE_SETTINGS = {"draws": 5000, "tune": 500, "chains": 4, "random_seed": 20251201}
"""The reference run of the correct sampler on the simulated table."""

REFERENCE_FILE = Path(__file__).with_name("sampler_exercise.json")
"""Where the stored reference lives (written by ``python -m hbm.school_rankings.sampler_exercise``)."""

QUANTITIES = ([f"beta[{k}]" for k in range(1, 9)] + [f"gamma[{k}]" for k in range(1, 4)]
              + ["theta", "phi"] + [f"sd of {c}" for c in ALPHA_COLUMNS])
"""What the check compares: the 13 BUGS nodes and the between-school sds of the school
coefficients, ``sqrt(diag(T^-1))``."""


def simulate_pupils(rng: np.random.Generator, *, M: int = 10, n_per: int = 30,
                    gamma=(0.5, 0.03, 1.0), sd=(0.3, 0.01, 0.2), theta: float = 1.4,
                    phi: float = -0.02) -> pd.DataFrame:
    """A pupil table like ``hbm.data.load("london_schools")``, simulated from the Schools model.

    ``M`` mixed, non-denominational schools of ``n_per`` pupils (the school-level covariates of
    ``beta[4..8]`` are zero, so those coefficients keep their vague priors and the school
    intercepts are not confounded with them: a Gibbs sampler mixes fast); school coefficients
    ``alpha[j] ~ N(gamma, diag(sd)^2)``; pupil precision ``exp(theta + phi LRT)``; the BUGS
    scale matrix ``R`` in ``attrs["R"]``.
    """
    school = np.repeat(np.arange(1, M + 1), n_per)
    n = school.size
    lrt = rng.normal(0.0, 10.0, n)
    lrt -= lrt.mean()
    band = rng.choice(3, size=n, p=[0.25, 0.5, 0.25])       # VR band 1, 2, 3
    df = pd.DataFrame({"school": school, "LRT": lrt, "vr1": (band == 0) * 1.0,
                       "vr2": (band == 1) * 1.0, "girl": rng.integers(0, 2, n) * 1.0})
    for column in BETA_COLUMNS[3:]:
        df[column] = 0.0
    beta = np.array([2.5e-4, 0.4, 0.17, 0, 0, 0, 0, 0])
    alpha = np.asarray(gamma) + rng.standard_normal((M, 3)) * np.asarray(sd)
    X = np.column_stack([lrt**2] + [df[c].to_numpy() for c in BETA_COLUMNS[1:]])
    s = school - 1
    mu = alpha[s, 0] + alpha[s, 1] * lrt + alpha[s, 2] * df["vr1"].to_numpy() + X @ beta
    df["Y"] = mu + rng.standard_normal(n) / np.sqrt(np.exp(theta + phi * lrt))
    df.attrs["R"] = np.array([[0.1, 0.005, 0.005], [0.005, 0.1, 0.005], [0.005, 0.005, 0.1]])
    return df


def exercise_data() -> pd.DataFrame:
    """The simulated table of the exercise's check (a fresh copy on every call)."""
    df = _exercise_data()
    copy = df.copy()
    copy.attrs["R"] = df.attrs["R"].copy()
    return copy


@lru_cache(maxsize=1)
def _exercise_data() -> pd.DataFrame:
    return simulate_pupils(np.random.default_rng(DATA_SEED))


def quantities(beta, gamma, T, theta, phi) -> np.ndarray:
    """The :data:`QUANTITIES` of every draw, shape (draws, 16), from draws of shapes (draws, 8),
    (draws, 3), (draws, 3, 3), (draws,), (draws,)."""
    sd = np.sqrt(np.diagonal(np.linalg.inv(T), axis1=-2, axis2=-1))
    return np.column_stack([beta, gamma, theta, phi, sd])


def compute_exercise_reference(**settings) -> dict:
    """Posterior mean and sd of :data:`QUANTITIES` on :func:`exercise_data`, from a long run of
    the book's vectorised sampler :func:`hbm.school_rankings.sample_gibbs` (``settings``
    override :data:`REFERENCE_SETTINGS`)."""
    from hbm.school_rankings.gibbs import sample_gibbs

    settings = {**REFERENCE_SETTINGS, **settings}
    post = sample_gibbs(exercise_data(), **settings).posterior
    flat = {k: post[k].values.reshape((-1,) + post[k].shape[2:])
            for k in ("beta", "gamma", "T", "theta", "phi")}
    q = quantities(flat["beta"], flat["gamma"], flat["T"], flat["theta"], flat["phi"])
    return {"settings": settings, "data_checksum": data_checksum(exercise_data()),
            "quantities": QUANTITIES, "mean": q.mean(axis=0).tolist(),
            "sd": q.std(axis=0, ddof=1).tolist()}


def data_checksum(df: pd.DataFrame) -> float:
    """A fingerprint of the simulated table, stored with the reference to detect a changed simulator."""
    return round(float(np.sum(df["Y"].to_numpy() * (1 + np.arange(len(df)) % 7))), 6)


@lru_cache(maxsize=1)
def exercise_reference() -> dict:
    """The stored reference (see :func:`compute_exercise_reference`) with ``mean`` and ``sd`` as
    arrays in the order of :data:`QUANTITIES`."""
    if not REFERENCE_FILE.is_file():
        raise FileNotFoundError(f"{REFERENCE_FILE} is missing: "
                                "run python -m hbm.school_rankings.sampler_exercise")
    ref = json.loads(REFERENCE_FILE.read_text())
    if ref["quantities"] != QUANTITIES or ref["data_checksum"] != data_checksum(exercise_data()):
        raise ValueError(f"{REFERENCE_FILE} does not match the simulated data: "
                         "run python -m hbm.school_rankings.sampler_exercise")
    return {**ref, "mean": np.array(ref["mean"]), "sd": np.array(ref["sd"])}


def main() -> None:
    """Recompute the reference and write it to :data:`REFERENCE_FILE`."""
    REFERENCE_FILE.write_text(json.dumps(compute_exercise_reference(), indent=1) + "\n")
    print(f"wrote {REFERENCE_FILE}")


if __name__ == "__main__":
    main()
