"""Self-checks of chapter 5, each against a reference computed by hbm, never the student's own run.

The references are the published OpenBUGS/MultiBUGS tables (``hbm.data.load("london_published")``)
and the stored summaries of long NUTS runs (:mod:`hbm.school_rankings.reference`). Tolerances
allow for the Monte Carlo error of a run of the chapter's length, not for a different answer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hbm.checks import CheckResult, check_close, check_statements, format_percent

NODE_ATOL = 0.25
"""Largest accepted difference of a node's posterior mean, in reference posterior sds."""

SD_RTOL = 0.2
"""Largest accepted relative difference of a node's posterior sd."""

RANK_ATOL = 1.0
"""Largest accepted difference of a school's mean rank, in places."""


def _node_draws_summary(idata, name: str):
    from hbm.school_rankings.published import bugs_summary

    try:
        return bugs_summary(idata), None
    except (ValueError, KeyError, AttributeError, IndexError, TypeError) as err:
        return None, CheckResult(name, False, f"could not read the posterior: {err}")


def _compare_nodes(name: str, ours: pd.DataFrame, ref_mean, ref_sd, against: str) -> CheckResult:
    """Means within :data:`NODE_ATOL` reference sds, then sds within :data:`SD_RTOL`."""
    z = (ours["mean"].to_numpy() - np.asarray(ref_mean)) / np.asarray(ref_sd)
    means = check_close(name, z, np.zeros(len(z)), atol=NODE_ATOL,
                        what=f"posterior means of the 13 nodes (in {against} posterior sds)")
    if not means:
        return means
    sds = check_close(name, ours["sd"].to_numpy(), ref_sd, rtol=SD_RTOL,
                      what="posterior sds of the 13 nodes")
    if not sds:
        return sds
    return CheckResult(name, True, f"the posterior means and sds of the 13 nodes agree with {against} "
                                   f"(means within {NODE_ATOL:g} sd, sds within {format_percent(SD_RTOL)})")


def check_schools_posterior(idata, *, source: str = "OpenBUGS-3.2.3") -> CheckResult:
    """Exercise ls-ex-bugs: posterior means and sds of the 13 published nodes (beta[1..8],
    gamma[1..3], phi, theta) against the published BUGS run ``source``: means within 0.25
    published posterior sd, sds within 20%."""
    from hbm import data
    from hbm.school_rankings.design import NODES

    name = "Schools posterior"
    published = data.load("london_published")
    if source not in set(published["source"]):
        raise ValueError(f"unknown source {source!r}; the table has {sorted(set(published['source']))}")
    ours, failed = _node_draws_summary(idata, name)
    if failed is not None:
        return failed
    pub = published[published["source"] == source].set_index("node").loc[NODES]
    return _compare_nodes(name, ours, pub["mean"].astype(float), pub["sd"].astype(float),
                          f"the published {source} run")


def check_gibbs_agreement(idata_gibbs) -> CheckResult:
    """Exercise ls-ex-gibbs: the hand-written sampler's posterior of the 13 nodes against the
    reference posterior of the Wishart model (long NUTS runs stored by hbm): means within 0.25
    reference posterior sd, sds within 20%."""
    from hbm.school_rankings.design import NODES
    from hbm.school_rankings.reference import load_reference

    name = "Gibbs sampler"
    ours, failed = _node_draws_summary(idata_gibbs, name)
    if failed is not None:
        return failed
    ref = pd.DataFrame(load_reference()["nodes"]).T.loc[NODES]
    return _compare_nodes(name, ours, ref["mean"], ref["sd"], "the reference posterior")


def check_school_ranks(ranks) -> CheckResult:
    """Exercise ls-ex-ranks: each school's posterior mean rank of its intercept (1 = highest),
    in a DataFrame ``ranks`` with columns ``school`` and ``mean_rank``, against the reference
    posterior of the Wishart model, within one place (:data:`RANK_ATOL`)."""
    from hbm.school_rankings.reference import load_reference

    name = "school ranks"
    if not isinstance(ranks, pd.DataFrame) or not {"school", "mean_rank"} <= set(ranks.columns):
        return CheckResult(name, False, "ranks must be a DataFrame with columns 'school' and 'mean_rank'")
    schools = ranks["school"].astype(str)
    if schools.duplicated().any():
        return CheckResult(name, False, "ranks must have one row per school (a school appears twice)")
    ref = pd.Series(load_reference()["mean_rank"])
    unknown = sorted(set(schools) - set(ref.index))
    if unknown or len(schools) != len(ref):
        return CheckResult(name, False, f"give one row for each of the {len(ref)} schools, labelled as in "
                                        f"the data (1..{len(ref)})" + (f"; unknown: {unknown}" if unknown else ""))
    got = pd.Series(ranks["mean_rank"].to_numpy(), index=schools).reindex(ref.index)
    result = check_close(name, got.to_numpy(), ref.to_numpy(), atol=RANK_ATOL, what="mean ranks")
    if result or "off by" not in result.message:
        return result
    off = [int(s) for s in ref.index[~(np.abs(got.to_numpy() - ref.to_numpy()) <= RANK_ATOL)]]
    return CheckResult(name, False, f"the mean rank of school(s) {off} is off by more than {RANK_ATOL:g} "
                                    "place; rank within each draw, with rank 1 the highest intercept")


def check_slope_sd(sd_slope_wishart, sd_slope_lkj) -> CheckResult:
    """Exercise ls-ex-lkj: posterior medians of the between-school sd of the LRT slope under
    the Wishart prior (from ``Sigma``) and under the LKJ model's default priors (from
    ``sigma_alpha``), against the reference posteriors, within 10%."""
    from hbm.school_rankings.reference import load_reference

    ref = load_reference()["sd_slope_median"]
    return check_close("slope sd", [sd_slope_wishart, sd_slope_lkj], [ref["wishart"], ref["lkj"]],
                       rtol=0.1, what="between-school sds of the LRT slope (Wishart, LKJ)")


SAMPLER_SWEEPS = 300
"""Sweeps of each chain the debugging check runs; the first :data:`SAMPLER_WARMUP` are dropped."""

SAMPLER_WARMUP = 60
SAMPLER_CHAINS = 2

SAMPLER_Z = 0.6
"""Largest accepted difference of a posterior mean, in reference posterior sds, for the debugging
check. Measured: a correct sampler stays within 0.25 on every seed tried; each classic bug alone
moves some mean by 2 sds or more, or (an untuned step) the spread below."""

SAMPLER_SD_FACTOR = 1.5
"""Largest accepted factor between a chain's sd and the reference posterior sd (either way);
a correct sampler stays within 1.35 on every seed tried, a stuck or over-dispersed chain does not."""


def check_debugged_sampler(sampler, *, random_seed: int = 5050) -> CheckResult:
    """Exercise ls-ex-debug: run the student's ``sampler(df, n_sweeps=..., random_seed=...)``
    on a small simulated pupil table and compare it with the reference posterior of the correct
    sampler on the same table.

    The sampler must return a dict of the draws of every sweep: ``beta`` (n_sweeps, 8),
    ``gamma`` (n_sweeps, 3), ``T`` (n_sweeps, 3, 3), ``theta`` and ``phi`` (n_sweeps,).
    :data:`SAMPLER_CHAINS` chains of :data:`SAMPLER_SWEEPS` sweeps are run, the first
    :data:`SAMPLER_WARMUP` of each dropped; the posterior means of the 13 nodes and of the
    between-school sds ``sqrt(diag(T^-1))`` must be within :data:`SAMPLER_Z` reference
    posterior sds, and each chain's sds within a factor :data:`SAMPLER_SD_FACTOR` of the
    reference's. The message names the quantities that are off (never their values).
    """
    import warnings

    import hbm
    from hbm.school_rankings.sampler_exercise import QUANTITIES, exercise_data, exercise_reference, quantities

    name = "debugged sampler"
    if not callable(sampler):
        return CheckResult(name, False, "pass the sampler function itself, e.g. check_debugged_sampler(schools_sampler)")
    shapes = {"beta": (8,), "gamma": (3,), "T": (3, 3), "theta": (), "phi": ()}
    n, kept = SAMPLER_SWEEPS, []
    for chain in range(SAMPLER_CHAINS):
        seed = hbm.seed(random_seed) + chain
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                draws = sampler(exercise_data(), n_sweeps=n, random_seed=seed)
        except Exception as err:  # the student's code: report any error, do not raise it
            return CheckResult(name, False, f"the sampler raised {type(err).__name__}: {err}")
        try:
            draws = {k: np.asarray(draws[k], dtype=float) for k in shapes}
        except (KeyError, TypeError, ValueError, IndexError):
            return CheckResult(name, False, f"the sampler must return a dict with {list(shapes)} "
                                            "holding arrays of numbers")
        wrong = [f"{k} {v.shape}, expected {(n, *shapes[k])}" for k, v in draws.items() if v.shape != (n, *shapes[k])]
        if wrong:
            return CheckResult(name, False, "draws of the wrong shape: " + "; ".join(wrong))
        if not all(np.all(np.isfinite(v)) for v in draws.values()):
            return CheckResult(name, False, "the draws contain NaN or infinite values")
        d = {k: v[SAMPLER_WARMUP:] for k, v in draws.items()}
        with np.errstate(all="ignore"):
            try:
                q = quantities(d["beta"], d["gamma"], d["T"], d["theta"], d["phi"])
            except np.linalg.LinAlgError:
                q = np.full((n - SAMPLER_WARMUP, len(QUANTITIES)), np.nan)
        if not np.all(np.isfinite(q)):
            return CheckResult(name, False, "some draws of T are not positive definite")
        kept.append(q)
    ref = exercise_reference()
    z = (np.concatenate(kept).mean(axis=0) - ref["mean"]) / ref["sd"]
    off = [QUANTITIES[i] for i in np.flatnonzero(~(np.abs(z) <= SAMPLER_Z))]
    if off:
        return CheckResult(name, False, f"the posterior mean of {', '.join(off)} is off by more than {SAMPLER_Z:g} "
                                        "posterior sd: look for the updates that feed it")
    ratio = np.array([q.std(axis=0, ddof=1) for q in kept]) / ref["sd"]
    bad = np.abs(np.log(ratio)) > np.log(SAMPLER_SD_FACTOR)
    off = [QUANTITIES[i] for i in np.flatnonzero(bad.any(axis=0))]
    if off:
        return CheckResult(name, False, f"the spread of {', '.join(off)} within a chain is off by more than a factor "
                                        f"{SAMPLER_SD_FACTOR:g} (too wide, too narrow or stuck)")
    return CheckResult(name, True, f"{SAMPLER_CHAINS} chains of {n} sweeps agree with the reference posterior: "
                                   f"16 means within {SAMPLER_Z:g} posterior sd, spreads within a factor "
                                   f"{SAMPLER_SD_FACTOR:g}")


_STATEMENTS = {"a": True, "b": False, "c": True, "d": False, "e": True, "f": False}


def check_understanding(answers) -> CheckResult:
    """Exercise ls-ex-summary: "check your understanding", a dict mapping each statement ``"a"``
    to ``"f"`` to ``True`` (the statement is true) or ``False``. The message says how many are
    judged wrongly, not which."""
    return check_statements("check your understanding", answers, _STATEMENTS)
