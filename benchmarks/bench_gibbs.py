"""Benchmarks of chapter 5: the vectorised Gibbs sampler against a per-pupil loop, and NUTS against Gibbs.

Run from the repository root (takes several minutes; the sampler appendix shows the results)::

    .venv/bin/python benchmarks/bench_gibbs.py            # writes benchmarks/results/bench_gibbs.json

1. One Gibbs sweep of :class:`hbm.school_rankings.SchoolsGibbs` (vectorised NumPy) against
   :class:`LoopSchoolsGibbs`, the same sweep with every sum over pupils written as a Python
   loop over the pupils, as a first hand-written sampler usually is, for the blocked sweep
   (the default: per-school sums of ``exp(phi LRT_p) d_p d_p'``, residuals, their moments and
   weighted sums of squares) and for the textbook sweep (the conditionals of ``beta`` and
   ``alpha``, residuals and the log densities of the random-walk steps). Both are run from the
   same state with the same random numbers, and must give the same draws; CPU time, best of 10
   runs of each, alternating (this machine's speed swings by up to 1.7x within seconds; the best
   run of each is its cost on the machine at full speed).
2. Effective sample size per second: the Gibbs sampler (blocked sweep) and NUTS (nutpie) on
   the marginalised Wishart model, alternating, ``--repeats`` times each (medians reported);
   then the textbook sweep once, and NUTS on the joint non-centred model (optional,
   ``--joint``: slow). The ESS is the smallest bulk ESS over the 13 published nodes, divided
   by the wall time and by the CPU time of the process (all threads) of the whole call: the
   Gibbs set-up and NUTS' model compilation are included. On a shared machine the CPU time is
   the fairer measure: the wall time grows with whatever else is running.
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

    def __init__(self, df, **kwargs):
        super().__init__(df, **kwargs)
        self.D = np.column_stack([self.Z, self.X, self.y])   # d_p = (z_p, x_p, y_p), one row per pupil

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

    def school_stats(self, phi):
        S = np.zeros((self.M, 12, 12))
        for p in range(self.N):
            d = self.D[p]
            S[self.school[p]] += np.exp(phi * self.lrt[p]) * np.outer(d, d)
        return S

    def _block_stats(self, phi, w):
        # the parts of school_stats (the loop above) that the blocked sweep reads, in the layout
        # of SchoolsGibbs._block_stats; the loop runs again whenever phi has changed
        if getattr(self, "_loop_phi", None) != phi:
            self._loop_phi, self._loop_S = phi, self.school_stats(phi)
        S = self._loop_S
        z_rows = np.zeros((self.M, 3, 15))     # columns (z, x, [gamma], y)
        z_rows[:, :, :11], z_rows[:, :, 14] = S[:, :3, :11], S[:, :3, 11]
        xgy = np.r_[0:8, 11]
        total = np.zeros((12, 12))
        total[np.ix_(xgy, xgy)] = S[:, 3:, 3:].sum(axis=0)
        return w * z_rows, w * total

    def residual_sums(self, state):
        e2 = self.residual(state) ** 2
        moments = np.zeros(3)
        for p in range(self.N):
            moments += e2[p] * self.lrt[p] ** np.arange(3)

        def weighted_sse(phi):
            q = 0.0
            for p in range(self.N):
                q += np.exp(phi * self.lrt[p]) * e2[p]
            return q

        return moments, weighted_sse

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
    """CPU seconds per sweep over ``n_sweeps`` sweeps from the seed's initial state, and the final state."""
    rng = np.random.default_rng(seed)
    state = sampler.initial_state(rng)
    step = np.array([0.03, 0.003])
    start = time.process_time()
    for _ in range(n_sweeps):
        sampler.step(rng, state, step)
    return (time.process_time() - start) / n_sweeps, state


def compare_sweeps(df, *, blocked: bool, repeats: int = 10) -> dict:
    """Vectorised against per-pupil loop, one sweep, best of ``repeats`` (alternating the two),
    after checking that both give the same draws from the same random numbers."""
    vec, loop = gibbs.SchoolsGibbs(df, blocked=blocked), LoopSchoolsGibbs(df, blocked=blocked)
    _, s_vec = time_sweeps(vec, 5, seed=1)
    t_loop, s_loop = time_sweeps(loop, 5, seed=1)
    same = all(np.allclose(s_vec[k], s_loop[k], rtol=1e-8, atol=1e-12) for k in s_loop)
    if not same:
        raise AssertionError("the loop and vectorised samplers disagree from the same random numbers")
    t_vec = np.inf
    for _ in range(repeats):
        t_vec = min(t_vec, time_sweeps(vec, 500, seed=1)[0])
        t_loop = min(t_loop, time_sweeps(loop, 5, seed=1)[0])
    return {"sweep": "blocked" if blocked else "textbook", "vectorised_ms": 1e3 * t_vec,
            "loop_ms": 1e3 * t_loop, "speed_ratio": t_loop / t_vec, "same_draws": same}


def min_ess(idata) -> dict:
    ess = az.ess(idata, var_names=NODE_VARS, method="bulk")
    tail = az.ess(idata, var_names=NODE_VARS, method="tail")
    bulk = {f"{v}[{i + 1}]" if ess[v].ndim else v: float(x)
            for v in NODE_VARS for i, x in enumerate(np.atleast_1d(ess[v].values))}
    node = min(bulk, key=bulk.get)
    return {"min_bulk_ess": bulk[node], "min_bulk_ess_node": node,
            "min_tail_ess": float(min(tail[v].min() for v in NODE_VARS))}


def gibbs_run(df, *, draws, tune, seed, blocked=True):
    """The Gibbs sampler; wall and CPU seconds of the whole call (set-up included)."""
    start, cpu = time.perf_counter(), time.process_time()
    idata = gibbs.sample_gibbs(df, random_seed=seed, draws=draws, tune=tune, chains=2, blocked=blocked)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"sweep": "blocked" if blocked else "textbook", "seed": seed, "draws_per_chain": draws,
            "tune": tune, "chains": 2, "seconds": wall, "cpu_seconds": cpu,
            "accept_rate_theta": float(idata.sample_stats["accept_theta"].mean()), **min_ess(idata)}


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


def load() -> list[float]:
    """Load averages over 1, 5 and 15 minutes (as ``uptime`` prints them)."""
    return [round(x, 2) for x in os.getloadavg()]


def summary(runs: list[dict]) -> dict:
    """Medians over repeated runs."""
    keys = ("ess_per_second", "ess_per_cpu_second", "min_bulk_ess", "seconds", "cpu_seconds")
    return {k: float(np.median([r[k] for r in runs])) for k in keys} | {"runs": runs}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joint", action="store_true", help="also time NUTS on the joint non-centred model")
    parser.add_argument("--joint-draws", type=int, default=500, help="tuning and kept draws per chain, joint model")
    parser.add_argument("--gibbs-draws", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=2, help="Gibbs and NUTS runs, alternating")
    parser.add_argument("--no-textbook", action="store_true", help="skip the textbook Gibbs sweep's ESS run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    df = data.load("london_schools")
    results = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "load_average_at_start": load(),
               "notes": "ESS: smallest bulk ESS over the 13 published nodes. Gibbs seconds: the whole "
                        "sample_gibbs call (set-up included). NUTS seconds: the whole sampling call, "
                        "model compilation included. Sweep times: CPU time, best of 10."}

    # 1. one sweep, vectorised against the per-pupil loop (CPU time, so that other jobs matter less)
    results["sweep"] = compare_sweeps(df, blocked=True)
    print("sweep", results["sweep"], flush=True)
    results["sweep_textbook"] = compare_sweeps(df, blocked=False)
    print("sweep (textbook)", results["sweep_textbook"], flush=True)

    # 2. ESS per second, Gibbs and NUTS alternating
    gibbs_runs, nuts_runs = [], []
    for r in range(args.repeats):
        g = rates(gibbs_run(df, draws=args.gibbs_draws, tune=1000, seed=2 + 10 * r) | {"load": load()})
        gibbs_runs.append(g)
        print("gibbs", g, flush=True)
        idata, wall, cpu = nuts_run(ls.build_bugs_model(df), draws=1000, tune=1000, seed=3 + 10 * r)
        n = rates({"model": "Wishart (Bartlett), alpha marginalised", "seed": 3 + 10 * r,
                   "draws_per_chain": 1000, "tune": 1000, "chains": 2, "seconds": wall, "cpu_seconds": cpu,
                   "nutpie_sampling_seconds": idata.posterior.attrs.get("sampling_time"),
                   "divergences": int(idata.sample_stats["diverging"].sum()), **min_ess(idata), "load": load()})
        nuts_runs.append(n)
        print("nuts marginal", n, flush=True)
    results["gibbs"], results["nuts_marginal"] = summary(gibbs_runs), summary(nuts_runs)
    results["gibbs_over_nuts"] = {
        k: results["gibbs"][k] / results["nuts_marginal"][k] for k in ("ess_per_second", "ess_per_cpu_second")}
    print("gibbs / nuts", results["gibbs_over_nuts"], flush=True)

    if not args.no_textbook:
        t = rates(gibbs_run(df, draws=args.gibbs_draws, tune=1000, seed=2, blocked=False) | {"load": load()})
        results["gibbs_textbook"] = t
        print("gibbs (textbook sweep)", t, flush=True)

    if args.joint:
        n_joint = args.joint_draws
        idata, wall, cpu = nuts_run(ls.build_bugs_model(df, marginalise_alpha=False),
                                    draws=n_joint, tune=n_joint, seed=4)
        j = {"model": "Wishart (Bartlett), alpha non-centred", "draws_per_chain": n_joint, "tune": n_joint,
             "chains": 2, "seconds": wall, "cpu_seconds": cpu,
             "divergences": int(idata.sample_stats["diverging"].sum()), **min_ess(idata)}
        results["nuts_joint"] = j = rates(j)
        print("nuts joint", j, flush=True)

    results["load_average_at_end"] = load()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
