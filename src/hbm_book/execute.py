"""Execute the book's notebooks side by side into a fresh execution cache (the forced build's first step).

``make build-force`` runs every notebook of ``_toc.yml`` here, ``--jobs`` at a time (default: one per
CPU core, at most two), longest first by the recorded chapter times, each in its own kernel in
``book/`` exactly as myst-nb would run it (same kernel alias, time-out and ``allow_errors: false``);
the executed notebooks go into a new jupyter-cache. Jupyter Book then builds with
``execute_notebooks: cache`` pointed at that cache, so every page shows this run's outputs and no
notebook runs twice. Most of a chapter's time is single-threaded (imports, compiling each model,
plots), so two notebooks on two cores finish sooner than one after the other.

Usage::

    python -m hbm_book.execute --cache _build/.jupyter_cache [--jobs 2] [--record FILE]

Exit status 1 if any notebook fails; its traceback is printed. ``--record FILE`` writes each
notebook's wall time, the start time and the number of workers (read by :mod:`hbm_book.build_report`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from hbm_book import ROOT, read_json, write_json

BOOK_CONFIG = ROOT / "_config.yml"
RECORD_ENV = "HBM_EXECUTION_RECORD"
"""Environment variable naming the ``--record`` file, for :mod:`hbm_book.build_report`."""


def toc_notebooks(toc: Path = ROOT / "_toc.yml") -> list[Path]:
    """The notebooks (``.ipynb``) that ``_toc.yml`` includes, in its order (read by Jupyter Book's own
    TOC parser, ``sphinx_external_toc``)."""
    from sphinx_external_toc.parsing import parse_toc_yaml

    return [ROOT / f"{doc}.ipynb" for doc in parse_toc_yaml(toc) if (ROOT / f"{doc}.ipynb").is_file()]


def _settings() -> dict:
    """Time-out, kernel aliases and ``allow_errors`` from ``_config.yml``, as myst-nb reads them."""
    import yaml

    config = yaml.safe_load(BOOK_CONFIG.read_text(encoding="utf8"))
    execute = config.get("execute", {})
    aliases = config.get("sphinx", {}).get("config", {}).get("nb_kernel_rgx_aliases", {})
    return {"timeout": execute.get("timeout", 30), "allow_errors": bool(execute.get("allow_errors", False)),
            "aliases": aliases}


def _run(path: str, settings: dict) -> dict:
    """Execute one notebook in its folder; return its executed form (or its traceback) and wall time."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    nb = nbformat.read(path, as_version=4)
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    for rgx, alias in settings["aliases"].items():   # myst-nb's nb_kernel_rgx_aliases
        if kernel is not None and re.fullmatch(rgx, kernel):
            nb.metadata["kernelspec"]["name"] = alias
            break
    result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=settings["timeout"],
                                 allow_errors=settings["allow_errors"], meta_override=True)
    return {"path": path, "nb": nb, "seconds": result.time, "error": result.exc_string}


def execute(notebooks: list[Path], cache_dir: Path, jobs: int) -> dict:
    """Execute ``notebooks`` ``jobs`` at a time, longest first, into a new cache at ``cache_dir``.

    Returns ``{"started": epoch seconds, "jobs": jobs, "seconds": wall time, "notebooks":
    {docname: seconds}, "failed": {docname: traceback}}``; the executed notebooks are cached even
    when another one fails.
    """
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    from hbm_book.timings import CHAPTER_TIMES

    shutil.rmtree(cache_dir, ignore_errors=True)
    cache = get_cache(str(cache_dir))
    recorded = read_json(CHAPTER_TIMES, "") if CHAPTER_TIMES.exists() else {}
    order = sorted(notebooks, key=lambda p: -float(recorded.get(p.stem, 0) or 0))
    settings = _settings()
    started = time.time()
    record = {"started": started, "jobs": jobs, "notebooks": {}, "failed": {}}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_run, str(p), settings) for p in order]
        for future in as_completed(futures):
            done = future.result()
            path = Path(done["path"])
            docname = (path.relative_to(ROOT) if path.is_relative_to(ROOT) else Path(path.name)).with_suffix("").as_posix()
            if done["error"]:
                record["failed"][docname] = done["error"]
                print(f"FAILED {docname} after {done['seconds']:.1f} s", flush=True)
                continue
            stage = cache.add_nb_to_project(str(path))
            cache.cache_notebook_bundle(CacheBundleIn(done["nb"], stage.uri, data={"execution_seconds": done["seconds"]}),
                                        check_validity=False, overwrite=True)
            record["notebooks"][docname] = round(done["seconds"], 2)
            print(f"executed {docname} in {done['seconds']:.1f} s", flush=True)
    record["seconds"] = round(time.time() - started, 2)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, required=True, help="the execution cache to create (emptied first)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="notebooks at a time")
    parser.add_argument("--record", type=Path, help="write the run's times to this JSON file")
    args = parser.parse_args(argv)
    record = execute(toc_notebooks(), args.cache, max(1, args.jobs))
    print(f"{len(record['notebooks'])} notebooks executed in {record['seconds']:.1f} s, {record['jobs']} at a time")
    if args.record:
        write_json(args.record, record)
    for docname, tb in record["failed"].items():
        print(f"\n{docname} failed:\n{tb}", file=sys.stderr)
    return 1 if record["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
