"""Reference posterior summaries of the chapter, computed by hbm and stored for the self-checks.

The self-checks compare a student's answer with these numbers, never with the student's own
posterior. They come from long NUTS runs of both models on the shipped data (far more draws
than the chapter uses), written to ``reference.json`` beside this module by::

    python -m hbm.school_rankings.reference        # a few minutes

and read back by :func:`load_reference`. A unit test checks the stored Wishart summaries against
the published OpenBUGS and MultiBUGS tables.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

REFERENCE_FILE = Path(__file__).with_name("reference.json")
"""Where the stored reference summaries live."""

SETTINGS = {"draws": 1500, "tune": 500, "chains": 4, "random_seed": 20250501}
"""The settings of the reference runs."""


def compute_reference(*, random_seed: int = SETTINGS["random_seed"], draws: int = SETTINGS["draws"],
                      tune: int = SETTINGS["tune"], chains: int = SETTINGS["chains"]) -> dict:
    """Fit the Wishart and the LKJ model to the shipped data and summarise what the checks need.

    Returns
    -------
    dict
        ``nodes``: posterior mean, sd and MCSE of the mean of the 13 BUGS nodes (Wishart);
        ``mean_rank``: each school's posterior mean rank by intercept (Wishart), by school label;
        ``sd_slope_median``: posterior median of the between-school sd of the LRT slope under
        the Wishart (``"wishart"``) and the LKJ (``"lkj"``) prior; ``settings``.
    """
    import arviz as az

    import hbm
    from hbm.school_rankings.models import add_alpha_draws, build_bugs_model, build_lkj_model
    from hbm.school_rankings.published import bugs_summary
    from hbm.school_rankings.ranks import school_ranks

    df = hbm.data.load("london_schools")
    settings = {"draws": draws, "tune": tune, "chains": chains, "random_seed": random_seed,
                "nuts_sampler": hbm.sampling.NUTS_SAMPLER}
    runs = {}
    for i, (name, model) in enumerate([("wishart", build_bugs_model(df)), ("lkj", build_lkj_model(df))]):
        idata = hbm.sampling.sample(model, random_seed=random_seed + 2 * i, draws=draws, tune=tune,
                                    chains=chains)
        hbm.sampling.check_convergence(idata, var_names=["beta", "gamma", "theta", "phi", "T"],
                                       strict=True)
        runs[name] = add_alpha_draws(idata, df, random_seed=random_seed + 2 * i + 1)
    wishart = runs["wishart"]
    nodes = bugs_summary(wishart)
    mcse = _node_mcse(wishart, az)
    sd_slope = {"wishart": np.sqrt(wishart.posterior["Sigma"].values[..., 1, 1]),
                "lkj": runs["lkj"].posterior["sigma_alpha"].values[..., 1]}
    ranks = school_ranks(wishart).set_index("school")["mean_rank"].sort_index()
    return {"settings": settings,
            "nodes": {node: {"mean": float(nodes.loc[node, "mean"]), "sd": float(nodes.loc[node, "sd"]),
                             "mcse_mean": float(mcse[node])} for node in nodes.index},
            "mean_rank": {str(k): float(v) for k, v in ranks.items()},
            "sd_slope_median": {k: float(np.median(v)) for k, v in sd_slope.items()}}


def _node_mcse(idata, az) -> dict:
    mcse = az.mcse(idata, var_names=["beta", "gamma", "theta", "phi"])
    out = {f"beta[{k + 1}]": float(v) for k, v in enumerate(mcse["beta"].values)}
    out.update({f"gamma[{k + 1}]": float(v) for k, v in enumerate(mcse["gamma"].values)})
    out.update({"theta": float(mcse["theta"]), "phi": float(mcse["phi"])})
    return out


@lru_cache(maxsize=1)
def load_reference() -> dict:
    """The stored reference summaries (see :func:`compute_reference`)."""
    if not REFERENCE_FILE.is_file():
        raise FileNotFoundError(f"{REFERENCE_FILE} is missing: run python -m hbm.school_rankings.reference")
    return json.loads(REFERENCE_FILE.read_text())


def main() -> None:
    """Recompute the reference and write it to :data:`REFERENCE_FILE`."""
    reference = compute_reference()
    REFERENCE_FILE.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {REFERENCE_FILE}")


if __name__ == "__main__":
    main()
