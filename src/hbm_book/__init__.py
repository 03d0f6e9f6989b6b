"""Build tooling of the workbook: it builds, exports and measures; :mod:`hbm` is what students import.

``hbm_book`` may import :mod:`hbm` (its chapter descriptors, :mod:`hbm.chapters`, need only the
standard library); ``hbm`` never imports ``hbm_book``.

- :mod:`hbm_book.build_report`: a Sphinx extension that writes ``_build/exec_report.json``
  (each notebook's execution time and budget, the build's wall time, the machine) and the key
  numbers glued by the notebooks (``$HBM_SUMMARY_DIR/key_numbers.json``).
- :mod:`hbm_book.execute`: runs the notebooks two at a time into the execution cache (the first step
  of ``make build-force``).
- :mod:`hbm_book.summary`: reads the glued key numbers back from a build's executed notebooks.
- :mod:`hbm_book.keynumbers`: records and compares key numbers (``make compare-keys``,
  ``make record-results``, ``make reproducibility``), within their Monte Carlo error.
- :mod:`hbm_book.timings`: budgets from ``chapter.toml``, ``make timings``, ``make record-results``.
- :mod:`hbm_book.student`: the student edition (``make student``).
- :mod:`hbm_book.samplers`: the sampler benchmark's results, for the sampler appendix.
- :mod:`hbm_book.html_fixes`: small fixes of the rendered pages.
- :mod:`hbm_book.bytecode`: compiles the bytecode of ``hbm``'s dependencies after the install (``make install``).
"""

from __future__ import annotations

import json
import os
import platform
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository root (where ``_toc.yml``, ``book/``, ``benchmarks/`` and ``src/`` are)."""

PACKAGES = ("pymc", "pytensor", "numpy", "scipy", "arviz", "nutpie", "jupyter-book", "myst-nb")
"""Packages whose versions are recorded with every measurement."""


def machine_info() -> dict:
    """Describe this machine and software stack, for recording beside measurements."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "hostname": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        # the Makefile's default is 1; two per process spin against each other on 2 cores
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "python": platform.python_version(),
        "versions": versions,
    }


def read_json(path, what: str) -> dict:
    """Read a JSON file, or fail with a message saying how to produce it."""
    try:
        with open(path, encoding="utf8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: {what}") from None


def write_json(path, data: dict) -> None:
    """Write ``data`` as indented JSON, creating the folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
