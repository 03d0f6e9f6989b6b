"""Every strictly checked fit of every chapter, with the chapter's own settings, over 10 seeds.

A chapter asserts convergence with ``hbm.sampling.check_convergence(..., strict=True)``; a model
that passes only on the seed the book happens to use is not finished. This script re-runs each
of those fits (same builder, data, draws, tune, chains and target_accept as the notebook, through
``hbm.sampling.sample``) with the seed offsets ``0, 1, ..., N-1``: offset ``k`` is exactly what
``HBM_SEED_OFFSET=k`` does to the fit in a book build (offset 0 is the book's own run), including
the seeds of the chapter 1 simulated schools, of chapter 5's school-effect draws and of the
Gibbs and Stan runs. For each fit and seed it records the convergence check the chapter makes
(its ``var_names`` and thresholds): passed or not, divergences, the smallest bulk and tail ESS,
the largest R-hat, the smallest E-BFMI and the wall time.

nutpie compiles a model (numba) in several seconds, more than it then samples; the compiled
model does not depend on the seed, so it is compiled once per model and reused for the other
seeds (the first seed's time includes the compilation, ``seconds_first``).

Results go to ``benchmarks/results/seed_sweep.json`` (fits not run keep their earlier entry);
the appendix "Sampler performance" shows them.

Usage::

    nice -n 10 python benchmarks/seed_sweep.py              # every fit, 10 seeds (CPU-heavy)
    python benchmarks/seed_sweep.py --fit es_noncentred --seeds 2
    python benchmarks/seed_sweep.py --list
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "seed_sweep.json"
N_SEEDS = 10


@dataclass
class Fit:
    """One strictly checked fit of a chapter.

    ``settings`` are the notebook's: its ``seed`` and the keywords of ``hbm.sampling.sample``
    (or of the Gibbs or Stan run). ``model()`` builds the PyMC model (``None`` for the Gibbs and
    Stan runs); ``run(model, settings)`` samples it once (the seed offset is set in the
    environment) and returns the InferenceData to check, by default with ``hbm.sampling.sample``.
    ``check`` holds the keywords of the chapter's ``check_convergence`` call (``var_names``,
    ``ess_min``).
    """

    name: str
    notebook: str
    description: str
    settings: dict
    model: Callable | None = None
    run: Callable | None = None
    model_per_seed: bool = False  # the model's data depend on the seed (chapter 1's simulation)
    check: dict = field(default_factory=dict)


def nuts(model, settings: dict):
    """``hbm.sampling.sample`` with a fit's settings (its ``seed`` is the ``random_seed``)."""
    from hbm.sampling import sample

    kwargs = dict(settings)
    return sample(model, random_seed=kwargs.pop("seed"), **kwargs)


# ---------------------------------------------------------------- the fits, in book order
def _eight_schools() -> list[Fit]:
    from hbm import eight_schools as es

    def data():
        import hbm

        df = hbm.data.load("eight_schools")
        return df["y"].to_numpy(), df["sigma"].to_numpy(), df["school"].tolist()

    def nc(**kw):
        y, sigma, labels = data()
        return lambda: es.build_model(y, sigma, centred=False, schools=labels, **kw)

    def simulated():
        y, sigma, labels = data()
        sim = es.simulated_schools()  # seed 31, shifted by HBM_SEED_OFFSET as in the book
        return es.build_model(sim["y"], sim["sigma"], centred=False, schools=labels)

    def stan(_model, settings):
        y, sigma, _ = data()
        kwargs = {k: v for k, v in settings.items() if k not in ("seed", "sampler")}
        return es.sample_stan(y, sigma, random_seed=settings["seed"], **kwargs)

    small = {"target_accept": 0.99}
    tau_priors = {  # the chapter's table; its seeds are 200 + position (HalfCauchy(5) is es_noncentred)
        "halfcauchy25": ({"dist": "HalfCauchy", "beta": 25}, 201),
        "halfnormal10": ({"dist": "HalfNormal", "sigma": 10}, 202),
        "exponential": ({"dist": "Exponential", "lam": 0.1}, 203),
        "uniform100": ({"dist": "Uniform", "lower": 0, "upper": 100}, 204),
        "invgamma11": ({"dist": "InverseGamma", "alpha": 1, "beta": 1}, 205),
    }
    sensitivity = {"var_names": ["mu", "tau", "theta"]}
    fits = [
        Fit("es_noncentred", "01_eight_schools", "non-centred, HalfCauchy(5) on tau",
            {"seed": 102, "target_accept": 0.95}, nc()),
        Fit("es_flat", "01_eight_schools", "non-centred, BDA3 (flat) priors",
            {"seed": 104, "target_accept": 0.99}, nc(priors=es.BDA3_PRIORS)),
    ]
    for key, (prior, seed) in tau_priors.items():
        fits.append(Fit(f"es_prior_{key}", "01_eight_schools", f"non-centred, tau ~ {prior['dist']}",
                        {"seed": seed, **small}, nc(priors={"tau": prior}), check=sensitivity))
    fits += [
        Fit("es_student_t", "01_eight_schools", "non-centred, Student-t(4) population",
            {"seed": 210, **small}, nc(population="student_t", nu=4), check=sensitivity),
        Fit("es_simulated", "01_eight_schools", "non-centred, eight simulated schools",
            {"seed": 302, "target_accept": 0.95}, simulated, model_per_seed=True),
        Fit("es_stan", "01_eight_schools", "PyStan, non-centred",
            {"seed": 401, "adapt_delta": 0.95, "sampler": "stan"}, run=stan),
    ]
    return fits


def _five_districts() -> list[Fit]:
    import hbm
    from hbm import five_districts as fd

    def model(**kw):
        return lambda: fd.build_model(hbm.data.load("five_districts"), **kw)

    hyper = {"var_names": ["mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "sigma_school",
                           "alpha", "beta"]}
    fits = [
        Fit("fd_pooled", "02_five_districts", "complete pooling", {"seed": 2021, "target_accept": 0.9},
            model(pooling="complete")),
        Fit("fd_unpooled", "02_five_districts", "no pooling", {"seed": 2022}, model(pooling="none")),
        Fit("fd_noncentred", "02_five_districts", "partial pooling, non-centred",
            {"seed": 2023, "target_accept": 0.99}, model(pooling="partial", centred=False),
            check=hyper),
    ]
    for name in ("wide", "heavy-tailed"):
        fits.append(Fit(f"fd_prior_{name.replace('-', '_')}", "02_five_districts",
                        f"partial pooling, {name} priors, lines integrated out",
                        {"seed": 2025, "target_accept": 0.95},
                        model(pooling="partial", marginal=True, priors=fd.PRIOR_SETS[name]), check=hyper))
    return fits


def _dyson_spheres() -> list[Fit]:
    import hbm
    from hbm import dyson_spheres as ds

    def model(pooling):
        def build():
            df = hbm.data.load("dyson_spheres")
            return ds.build_model(df, windows=ds.frequency_windows(df), pooling=pooling)
        return build

    def grid():
        return ds.build_grid_model(ds.frequency_grid(hbm.data.load("dyson_spheres")))

    no_phase = {"var_names": ["~phase"]}
    return [
        Fit("ds_partial", "03_dyson_spheres", "sinusoid population, frequency windows",
            {"seed": 20313, "target_accept": 0.99, "draws": 2000}, model("partial"), check=no_phase),
        Fit("ds_none", "03_dyson_spheres", "independent objects, frequency windows",
            {"seed": 20314, "target_accept": 0.95, "draws": 2000}, model("none"), check=no_phase),
        Fit("ds_grid", "03_dyson_spheres", "population of log-frequencies on the grid",
            {"seed": 20315, "target_accept": 0.95}, grid),
    ]


def _cepheids() -> list[Fit]:
    import hbm
    from hbm import cepheids as ceph

    def leavitt(pooling, hosts=None, **kw):
        return lambda: ceph.build_leavitt_model(
            ceph.validate_cepheids(hbm.data.load("cepheids"), hosts), pooling=pooling, **kw)

    def clusters():
        return ceph.build_cluster_model(ceph.validate_clusters(hbm.data.load("gaia_clusters")))

    fits = [Fit("ceph_few", "04_cepheids", "partial pooling, four hosts, slopes integrated out",
                {"seed": 401, "target_accept": 0.95, "draws": 2000},
                leavitt("partial", ["N4258", "M101", "N4424", "N5917"], marginal=True))]
    for pooling, seed, target_accept, draws, label in [("complete", 402, 0.9, 3000, "complete"),
                                                       ("none", 403, 0.9, 2000, "no"),
                                                       ("partial", 404, 0.99, 2000, "partial")]:
        fits.append(Fit(f"ceph_{pooling}", "04_cepheids", f"Leavitt law, {label} pooling",
                        {"seed": seed, "target_accept": target_accept, "draws": draws}, leavitt(pooling)))
    fits.append(Fit("ceph_clusters", "04_cepheids", "Gaia open clusters", {"seed": 406}, clusters))
    return fits


def _school_rankings() -> list[Fit]:
    import hbm
    from hbm import school_rankings as ls

    def with_alpha(model, settings):
        kwargs = dict(settings)
        alpha_seed = kwargs.pop("alpha_seed")
        idata = nuts(model, kwargs)
        return ls.add_alpha_draws(idata, hbm.data.load("london_schools"), random_seed=alpha_seed)

    def gibbs(_model, settings):
        kwargs = {k: v for k, v in settings.items() if k not in ("seed", "sampler")}
        return ls.sample_gibbs(hbm.data.load("london_schools"), random_seed=settings["seed"], **kwargs)

    nodes = ["beta", "gamma", "theta", "phi"]
    return [
        Fit("ls_bugs", "05_school_rankings", "BUGS model, Wishart, alpha marginalised",
            {"seed": 501, "alpha_seed": 502, "tune": 500},
            lambda: ls.build_bugs_model(hbm.data.load("london_schools")), run=with_alpha,
            check={"var_names": [*nodes, "T", "alpha"]}),
        Fit("ls_lkj", "05_school_rankings", "LKJ model, alpha marginalised",
            {"seed": 503, "alpha_seed": 504, "tune": 500},
            lambda: ls.build_lkj_model(hbm.data.load("london_schools")), run=with_alpha,
            check={"var_names": [*nodes, "sigma_alpha", "alpha"]}),
        Fit("ls_gibbs", "05_school_rankings", "hand-written Gibbs sampler",
            {"seed": 505, "draws": 1000, "tune": 500, "chains": 4, "sampler": "gibbs"},
            run=gibbs, check={"var_names": nodes, "ess_min": 400}),
    ]


def fits() -> dict[str, Fit]:
    """Every strictly checked fit of the book, by name, in book order."""
    out = {}
    for chapter in (_eight_schools, _five_districts, _dyson_spheres, _cepheids, _school_rankings):
        out.update({f.name: f for f in chapter()})
    return out


# ---------------------------------------------------------------- running
@contextlib.contextmanager
def seed_offset(offset: int):
    """``HBM_SEED_OFFSET=offset`` for the duration (every hbm seed is shifted by it)."""
    old = os.environ.get("HBM_SEED_OFFSET")
    os.environ["HBM_SEED_OFFSET"] = str(offset)
    try:
        yield
    finally:
        if old is None:
            del os.environ["HBM_SEED_OFFSET"]
        else:
            os.environ["HBM_SEED_OFFSET"] = old


def cache_nutpie_compilation() -> None:
    """Compile each PyMC model for nutpie once and reuse it for the other seeds (the compiled
    model does not depend on the seed). Keyed by the model object, which the sweep keeps; so is
    the frozen copy that ``hbm.sampling.sample`` hands the sampler (the sweep never changes a
    model's data)."""
    try:
        import nutpie
    except ImportError:
        return
    if getattr(nutpie.compile_pymc_model, "_seed_sweep_cache", None) is not None:
        return
    from hbm import sampling

    freeze, frozen = sampling.freeze_dims_and_data, {}

    def freeze_once(model):
        if id(model) not in frozen:
            frozen[id(model)] = (model, freeze(model))
        return frozen[id(model)][1]

    sampling.freeze_dims_and_data = freeze_once
    compile_model, cache = nutpie.compile_pymc_model, {}

    def cached(model, **kwargs):
        key = (id(model), tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        if key not in cache:
            cache[key] = (model, compile_model(model, **kwargs))
        return cache[key][1]

    cached._seed_sweep_cache = cache
    nutpie.compile_pymc_model = cached


def run_fit(fit: Fit, offsets: list[int], log=print, overrides: dict | None = None) -> dict:
    """Run one fit at every seed offset (with ``overrides`` of its settings) and return its entry
    of the results."""
    import hbm
    import numpy as np

    from hbm.sampling import check_convergence

    settings = {**fit.settings, **(overrides or {})}
    model = fit.model() if fit.model and not fit.model_per_seed else None
    rows = []
    for offset in offsets:
        start = time.perf_counter()
        row = {"offset": offset}
        try:
            with seed_offset(offset):
                if fit.model_per_seed:
                    model = fit.model()
                idata = (fit.run or nuts)(model, settings)
                report = check_convergence(idata, **fit.check)
            table = report.table
            row.update(passed=report.ok, divergences=report.divergences,
                       min_ess_bulk=round(float(table["ess_bulk"].min()), 1),
                       min_ess_tail=round(float(table["ess_tail"].min()), 1),
                       max_r_hat=round(float(table["r_hat"].max()), 4),
                       min_bfmi=(round(float(np.nanmin(report.bfmi)), 3)  # Stan: no energy
                                 if np.isfinite(report.bfmi).any() else None),
                       failures=report.failures)
        except Exception as exc:  # a crash is a failed seed, recorded, not the end of the sweep
            row.update(passed=False, divergences=None, error=f"{type(exc).__name__}: {exc}"[:2000])
            traceback.print_exc()
        row["seconds"] = round(time.perf_counter() - start, 2)
        rows.append(row)
        log(f"  {fit.name} seed {settings['seed']}+{offset}: "
            + ("pass" if row["passed"] else "FAIL") + f", {row.get('divergences')} divergences, "
            f"min ESS {row.get('min_ess_bulk')}/{row.get('min_ess_tail')}, "
            f"max R-hat {row.get('max_r_hat')}, {row['seconds']} s"
            + (f" [{'; '.join(row.get('failures') or [row.get('error', '')])}]" if not row["passed"] else ""))
    ok = [r for r in rows if "error" not in r]
    seconds = [r["seconds"] for r in rows]

    def extreme(key, pick):
        values = [r[key] for r in ok if r[key] is not None]
        return pick(values) if values else None

    return {
        "notebook": fit.notebook,
        "description": fit.description,
        "settings": settings,
        "check": fit.check,
        "sampler": settings.get("sampler", hbm.sampling.NUTS_SAMPLER),
        "seeds": len(rows),
        "seeds_passing": sum(r["passed"] for r in rows),
        "divergences": [r["divergences"] for r in rows],
        "min_ess_bulk": extreme("min_ess_bulk", min),
        "min_ess_tail": extreme("min_ess_tail", min),
        "max_r_hat": extreme("max_r_hat", max),
        "min_bfmi": extreme("min_bfmi", min),
        "seconds_first": seconds[0],
        "seconds_median": round(float(np.median(seconds)), 2),
        "seconds_total": round(sum(seconds), 1),
        "runs": rows,
    }


def machine() -> dict:
    """:func:`hbm_book.machine_info`, with the version of PyStan (the Stan cross-check's fit)."""
    from importlib.metadata import PackageNotFoundError, version

    from hbm_book import machine_info

    info = machine_info()
    with contextlib.suppress(PackageNotFoundError):
        info["versions"]["pystan"] = version("pystan")
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="append", default=[],
                        help="run only this fit (repeatable; a prefix such as 'ceph_' selects several)")
    parser.add_argument("--seeds", type=int, default=N_SEEDS, help=f"seed offsets 0..N-1 (default {N_SEEDS})")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting of the chosen fits, e.g. target_accept=0.99 (to try a fix; "
                        "use with --out elsewhere)")
    parser.add_argument("--list", action="store_true", help="list the fits and exit")
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value

    os.environ.setdefault("HBM_QUIET", "1")
    import hbm  # noqa: F401  (before PyMC: OpenBLAS, quiet ArviZ)

    everything = fits()
    if args.list:
        for f in everything.values():
            print(f"{f.name:24} {f.notebook:20} {f.description}  {f.settings}")
        return 0
    chosen = [f for f in everything.values()
              if not args.fit or any(f.name == p or f.name.startswith(p) for p in args.fit)]
    if not chosen:
        parser.error(f"no fit matches {args.fit}; see --list")
    cache_nutpie_compilation()

    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results.setdefault("fits", {})
    offsets = list(range(args.seeds))
    for fit in chosen:
        print(f"{fit.name} ({fit.notebook}: {fit.description}), {len(offsets)} seeds", flush=True)
        entry = run_fit(fit, offsets, log=lambda line: print(line, flush=True), overrides=overrides)
        results["fits"][fit.name] = entry
        results["fits"] = {name: results["fits"][name] for name in everything if name in results["fits"]}
        results.update(machine=machine(), seed_offsets=offsets if not args.fit else results.get(
            "seed_offsets", offsets), all_fits=list(everything))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        print(f"{fit.name}: {entry['seeds_passing']}/{entry['seeds']} seeds pass, divergences "
              f"{entry['divergences']}, {entry['seconds_total']} s", flush=True)
    failed = [f.name for f in chosen if results["fits"][f.name]["seeds_passing"] < len(offsets)]
    print("all seeds pass" if not failed else f"not every seed passes: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
