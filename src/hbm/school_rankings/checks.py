"""Self-checks of chapter 5, each against a reference computed by hbm, never the student's own run.

The references are the published OpenBUGS/MultiBUGS tables (``hbm.data.load("london_published")``)
and the stored summaries of long NUTS runs (:mod:`hbm.school_rankings.reference`). Tolerances
allow for the Monte Carlo error of a run of the chapter's length, not for a different answer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hbm.checks import CheckResult, check_close, format_percent

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
