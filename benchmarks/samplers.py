"""PyMC's NUTS against nutpie (numba backend) on each chapter's main model, on this machine.

The chapters are those of ``hbm.chapters`` (each slice's ``chapter.toml``); each names, as
``benchmark_model``, the function of its slice that returns its main model and a description.
For every chapter and sampler this measures, in a fresh Python process (so that no
compiled function is reused from a previous run in memory):

- ``wall_seconds``: from the call of ``hbm.sampling.sample`` to its return, i.e. graph
  compilation (PyTensor C code, or numba for nutpie), initialisation, tuning and sampling;
- ``sampling_seconds``: the sampler's own time for tuning and draws (``sampling_time``);
- ``min_ess_bulk``: the smallest bulk effective sample size over all scalar parameters,
  and ``ess_per_second`` (per second of sampling) and ``ess_per_wall_second``;
- ``max_r_hat`` and ``divergences``, so that a fast but wrong run is visible, and each
  parameter's posterior mean with its Monte Carlo standard error, to check that both
  samplers agree.

Both samplers use the book's defaults (4 chains, 1000 tuning and 1000 kept draws, PyMC's
default target acceptance 0.8) and the same seed. PyTensor keeps compiled C modules in a
disk cache (``~/.pytensor``), so PyMC's compile time is the one a reader sees from the
second run of a notebook on. Results go to ``benchmarks/results/samplers.json``, which the
appendix "Sampler performance" shows.

Usage::

    python benchmarks/samplers.py                      # every chapter
    python benchmarks/samplers.py --chapters 01 04     # some chapters, updated in the existing file
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "samplers.json"
SAMPLERS = ("pymc", "nutpie")
SEED = 20261121


def chapter_models() -> dict:
    """``notebook -> chapter`` of every chapter (``hbm.chapters``), in book order."""
    from hbm.chapters import chapters

    return {c.notebook: c for c in chapters()}


def build_benchmark_model(notebook: str):
    """The chapter's main model and its description: the function ``benchmark_model`` of its
    ``chapter.toml`` names in its slice ``hbm.<slug>``."""
    import importlib

    chapter = chapter_models()[notebook]
    if not chapter.benchmark_model:
        raise ValueError(f"{chapter.folder / 'chapter.toml'} names no benchmark_model")
    return getattr(importlib.import_module(chapter.module), chapter.benchmark_model)()


def run_one(chapter: str, sampler: str) -> dict:
    """Build one chapter's model and sample it once with one sampler (in this process)."""
    import hbm  # noqa: F401  (before PyMC: OpenBLAS, quiet ArviZ)
    import arviz as az
    import numpy as np

    from hbm.sampling import sample

    model, label = build_benchmark_model(chapter)
    start = time.perf_counter()
    idata = sample(model, random_seed=SEED, nuts_sampler=sampler, progressbar=False)
    wall = time.perf_counter() - start
    ess = az.ess(idata, method="bulk")
    rhat = az.rhat(idata)
    min_ess = float(min(np.nanmin(ess[v].values) for v in ess.data_vars))
    max_rhat = float(max(np.nanmax(rhat[v].values) for v in rhat.data_vars))
    sampling = float(idata.posterior.attrs.get("sampling_time", np.nan))
    summary = az.summary(idata, kind="all", round_to="none")
    stats = idata.sample_stats
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else None
    return {"model": label, "wall_seconds": round(wall, 2), "sampling_seconds": round(sampling, 2),
            "compile_and_setup_seconds": round(wall - sampling, 2), "min_ess_bulk": round(min_ess, 1),
            "ess_per_second": round(min_ess / sampling, 1), "ess_per_wall_second": round(min_ess / wall, 1),
            "max_r_hat": round(max_rhat, 4), "divergences": divergences,
            "n_free_parameters": int(sum(np.prod(v.shape) for v in model.initial_point().values())),
            "posterior": {name: [float(row["mean"]), float(row["mcse_mean"])] for name, row in summary.iterrows()}}


def run_in_subprocess(chapter: str, sampler: str, timeout: float) -> dict:
    """:func:`run_one` in a fresh interpreter; a failure becomes ``{"error": ...}``."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, __file__, "--one", chapter, sampler]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["(no message)"])[-1]
        return {"error": last[:300]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", nargs="*", default=None, help="chapter prefixes, e.g. 01 04 (default all)")
    parser.add_argument("--out", default=str(RESULTS), help="result file (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run (default %(default)s)")
    parser.add_argument("--one", nargs=2, metavar=("CHAPTER", "SAMPLER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(*args.one)))
        return 0

    sys.path.insert(0, str(HERE.parent / "src"))
    from hbm_book import machine_info

    known = list(chapter_models())
    chosen = [c for c in known if not args.chapters or any(c.startswith(p) for p in args.chapters)]
    if not chosen:
        parser.error(f"no chapter matches {args.chapters}; chapters: {known}")
    out = Path(args.out)
    # With --chapters, the other chapters' results already in the file are kept.
    results = json.loads(out.read_text())["chapters"] if args.chapters and out.is_file() else {}
    started = time.time()
    for chapter in chosen:
        results[chapter] = {}
        for sampler in SAMPLERS:
            print(f"{chapter} with {sampler} ...", end=" ", flush=True)
            result = run_in_subprocess(chapter, sampler, args.timeout)
            result["measured"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            results[chapter][sampler] = result
            print(result.get("error") or f"{result['wall_seconds']} s wall, {result['ess_per_second']} ESS/s")
            record = {"machine": machine_info(), "seed": SEED, "benchmark_seconds": round(time.time() - started, 1),
                      "settings": {"chains": 4, "tune": 1000, "draws": 1000, "target_accept": 0.8, "cores": 2,
                                   "nutpie_backend": "numba"},
                      "chapters": dict(sorted(results.items()))}
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(record, indent=1) + "\n")  # after every run: nothing lost on a stop
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
