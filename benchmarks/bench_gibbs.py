"""Benchmarks of chapter 5: the vectorised Gibbs sampler against a per-pupil loop, and NUTS against Gibbs.

Run from the repository root (takes several minutes; the sampler appendix shows the results)::

    .venv/bin/python benchmarks/bench_gibbs.py            # writes benchmarks/results/bench_gibbs.json

1. One Gibbs sweep of :class:`hbm.school_rankings.SchoolsGibbs` (vectorised NumPy) against
   :class:`LoopSchoolsGibbs`, the same full conditionals accumulated with Python loops over
   the pupils, as a first hand-written sampler usually is. Both are run from the same state
   with the same random numbers, and must give the same draws.
2. Effective sample size per second: NUTS (nutpie) on the marginalised Wishart model, NUTS on
   the joint non-centred model (optional, ``--joint``: slow), and the Gibbs sampler; the ESS is
   the smallest bulk ESS over the 13 published nodes, divided by the wall time and by the CPU
   time of the process (all threads). On a shared machine the CPU time is the fairer measure:
   the wall time grows with whatever else is running.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import hbm  # noqa: F401  (before pymc: links PyTensor to OpenBLAS)
import arviz as az
import numpy as np

from hbm import data, sampling
from hbm import school_rankings as ls
from hbm.school_rankings import gibbs

RESULTS = Path(__file__).parent / "results" / "bench_gibbs.json"
NODE_VARS = ["beta", "gamma", "theta", "phi"]


class LoopSchoolsGibbs(gibbs.SchoolsGibbs):
    """The same sampler with every per-pupil sum written as a Python loop over the pupils."""

    def residual(self, state):
        e = np.empty(self.N)
        for p in range(self.N):
            j = self.school[p]
            e[p] = self.y[p] - self.Z[p] @ state["alpha"][j] - self.X[p] @ state["beta"]
        return e

    def beta_conditional(self, state, w=None):
        P = gibbs.PRIOR_PREC * np.eye(8)
        b = np.zeros(8)
        for p in range(self.N):
            j = self.school[p]
            w_p = np.exp(state["theta"] + state["phi"] * self.lrt[p])
            r = self.y[p] - self.Z[p] @ state["alpha"][j]
            P += w_p * np.outer(self.X[p], self.X[p])
            b += w_p * self.X[p] * r
        return P, b

    def alpha_conditional(self, state, w=None):
        T = state["T"]
        P = np.repeat(T[None], self.M, axis=0)
        b = np.repeat((T @ state["gamma"])[None], self.M, axis=0)
        for p in range(self.N):
            j = self.school[p]
            w_p = np.exp(state["theta"] + state["phi"] * self.lrt[p])
            r = self.y[p] - self.X[p] @ state["beta"]
            P[j] += w_p * np.outer(self.Z[p], self.Z[p])
            b[j] += w_p * self.Z[p] * r
        return P, b

    def log_tau_density(self, theta, phi, e2):
        total = -0.5 * gibbs.PRIOR_PREC * (theta**2 + phi**2)
        for p in range(self.N):
            eta = theta + phi * self.lrt[p]
            total += 0.5 * eta - 0.5 * np.exp(eta) * e2[p]
        return total

    def update_tau(self, rng, state, step):
        # the textbook version: recompute the full log density for current and proposal
        e2 = self.residual(state) ** 2
        accepted = np.zeros(2, dtype=bool)
        for i, name in enumerate(("theta", "phi")):
            current = self.log_tau_density(state["theta"], state["phi"], e2)
            proposal = {"theta": state["theta"], "phi": state["phi"]}
            proposal[name] = state[name] + step[i] * rng.standard_normal()
            lp = self.log_tau_density(proposal["theta"], proposal["phi"], e2)
            if np.log(rng.uniform()) < lp - current:
                state[name], accepted[i] = proposal[name], True
        return accepted


def time_sweeps(sampler, n_sweeps: int, seed: int) -> tuple[float, dict]:
    """CPU seconds per sweep (best of 3 repeats of ``n_sweeps``) and the final state."""
    best = np.inf
    for _ in range(3):
        rng = np.random.default_rng(seed)
        state = sampler.initial_state(rng)
        step = np.array([0.03, 0.003])
        start = time.process_time()
        for _ in range(n_sweeps):
            sampler.step(rng, state, step)
        best = min(best, (time.process_time() - start) / n_sweeps)
    return best, state


def min_ess(idata) -> dict:
    ess = az.ess(idata, var_names=NODE_VARS, method="bulk")
    tail = az.ess(idata, var_names=NODE_VARS, method="tail")
    return {"min_bulk_ess": float(min(ess[v].min() for v in NODE_VARS)),
            "min_tail_ess": float(min(tail[v].min() for v in NODE_VARS))}


def nuts_run(model, *, draws, tune, seed):
    """NUTS with nutpie; returns the posterior, wall seconds and CPU seconds (compilation included)."""
    start, cpu = time.perf_counter(), time.process_time()
    idata = sampling.sample(model, random_seed=seed, draws=draws, tune=tune, chains=2,
                            nuts_sampler="nutpie", progressbar=False)
    return idata, time.perf_counter() - start, time.process_time() - cpu


def rates(entry: dict) -> dict:
    entry["ess_per_second"] = entry["min_bulk_ess"] / entry["seconds"]
    entry["ess_per_cpu_second"] = entry["min_bulk_ess"] / entry["cpu_seconds"]
    return entry


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joint", action="store_true", help="also time NUTS on the joint non-centred model")
    parser.add_argument("--joint-draws", type=int, default=500, help="tuning and kept draws per chain, joint model")
    parser.add_argument("--gibbs-draws", type=int, default=10000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    df = data.load("london_schools")
    results = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "load_average_at_start": os.getloadavg()[0]}

    # 1. vectorised sweep (CPU time per sweep, so that other jobs on the machine matter less) against the per-pupil loop, same random numbers, same result
    vec, loop = gibbs.SchoolsGibbs(df), LoopSchoolsGibbs(df)
    t_vec, s_vec = time_sweeps(vec, 200, seed=1)
    t_loop, s_loop = time_sweeps(loop, 5, seed=1)
    _, s_vec5 = time_sweeps(vec, 5, seed=1)
    same = all(np.allclose(s_vec5[k], s_loop[k], rtol=1e-8, atol=1e-12) for k in s_loop)
    if not same:
        raise AssertionError("the loop and vectorised samplers disagree from the same random numbers")
    results["sweep"] = {"vectorised_ms": 1e3 * t_vec, "loop_ms": 1e3 * t_loop,
                        "speed_ratio": t_loop / t_vec, "same_draws": same}
    print(results["sweep"], flush=True)

    # 2. ESS per second
    cpu = time.process_time()
    idata = gibbs.sample_gibbs(df, random_seed=2, draws=args.gibbs_draws, tune=1000, chains=2)
    g = {"draws_per_chain": args.gibbs_draws, "tune": 1000, "chains": 2,
         "seconds": idata.posterior.attrs["sampling_time"], "cpu_seconds": time.process_time() - cpu,
         **min_ess(idata)}
    results["gibbs"] = g = rates(g)
    print("gibbs", g, flush=True)

    idata, wall, cpu = nuts_run(ls.build_bugs_model(df), draws=1000, tune=1000, seed=3)
    n = {"model": "Wishart (Bartlett), alpha marginalised", "draws_per_chain": 1000, "tune": 1000,
         "chains": 2, "seconds": wall, "cpu_seconds": cpu,
         "divergences": int(idata.sample_stats["diverging"].sum()), **min_ess(idata)}
    results["nuts_marginal"] = n = rates(n)
    print("nuts marginal", n, flush=True)

    if args.joint:
        n_joint = args.joint_draws
        idata, wall, cpu = nuts_run(ls.build_bugs_model(df, marginalise_alpha=False),
                                    draws=n_joint, tune=n_joint, seed=4)
        j = {"model": "Wishart (Bartlett), alpha non-centred", "draws_per_chain": n_joint, "tune": n_joint,
             "chains": 2, "seconds": wall, "cpu_seconds": cpu,
             "divergences": int(idata.sample_stats["diverging"].sum()), **min_ess(idata)}
        results["nuts_joint"] = j = rates(j)
        print("nuts joint", j, flush=True)

    results["load_average_at_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
