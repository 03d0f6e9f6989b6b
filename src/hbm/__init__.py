"""Helper package for the hierarchical Bayesian modelling workbook.

The notebooks in ``book/`` tell the story; this package is what they and the students import:
one folder per chapter (``hbm.eight_schools``, ``hbm.five_districts``, ``hbm.dyson_spheres``,
``hbm.cepheids``, ``hbm.school_rankings``: models, exact answers, self-checks), the data registry
(``hbm.data.load(name)``; the data sets are package data), sampling and convergence checks
(``hbm.sampling``), the base of the self-checks (``hbm.checks``), priors, plotting style,
:func:`glue` and :func:`seed`. Submodules load on first use, so ``import hbm`` is cheap. The
tools that build and measure the book are in ``hbm_book``, which ``hbm`` never imports.

Importing :mod:`hbm` before PyMC (and NumPy) does four things: it keeps OpenBLAS to one thread
(faster for these small models, and no slowdown when two notebooks share the cores), it has numba
compile nutpie's log densities at LLVM optimisation level 1 (about a fifth less compile time, the
same sampling speed), and two that
keep notebook output clean: it points PyTensor at the system OpenBLAS when one is installed (so
PyTensor does not warn that it falls back to a slow NumPy BLAS), and it
silences ArviZ's once-a-day notice about its upcoming 1.0 refactor (this
book is pinned to ArviZ 0.x on purpose).
"""

from __future__ import annotations

import ctypes.util
import os
import sys
import warnings

if "pytensor" not in sys.modules and "blas__ldflags" not in os.environ.get("PYTENSOR_FLAGS", ""):
    if ctypes.util.find_library("openblas"):
        flags = os.environ.get("PYTENSOR_FLAGS", "")
        os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (flags, "blas__ldflags=-lopenblas") if f)

if "numpy" not in sys.modules:
    # One BLAS thread. The models' matrices are small, so more threads only wait: OpenBLAS's idle
    # threads spin, and chapter 5's NUTS fit took 55 s with two threads against 37 s with one, and
    # 290 s when another notebook ran beside it (49 s with one thread). Set the variable to override.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

if "numba" not in sys.modules:
    # LLVM optimisation level 1 for what numba compiles (nutpie's log densities): on a new machine
    # chapter 5's two models compiled in 64 and 61 s against 82 and 74 s at numba's default level 3,
    # and then sampled as fast (the speed issue's closing note). Set the variable to override.
    os.environ.setdefault("NUMBA_OPT", "1")

if os.environ.get("HBM_QUIET", "") not in ("", "0"):
    # PyMC logs at INFO level to stderr unless logging is configured when it is imported; with
    # HBM_QUIET (set by the book build) only warnings and errors reach the page.
    import logging

    logging.basicConfig(level=logging.WARNING)

warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing a major refactor", category=FutureWarning)

from hbm.report import glue  # noqa: E402

SEED_OFFSET_ENV = "HBM_SEED_OFFSET"


def seed(n: int) -> int:
    """The random seed ``n`` shifted by ``$HBM_SEED_OFFSET`` (default 0).

    Every random seed the book uses goes through this function (``hbm`` functions that take a
    ``random_seed`` call it themselves), so that ``HBM_SEED_OFFSET=7 make build-force`` re-runs the
    whole book with other seeds: a model that converges only on its own seed is not finished.
    Simulated data sets (``python -m hbm.simulate``) are not shifted.
    """
    from numbers import Integral

    if isinstance(n, bool) or not isinstance(n, Integral):
        raise TypeError(f"a random seed must be an integer, got {n!r}")
    offset = os.environ.get(SEED_OFFSET_ENV, "0").strip() or "0"
    try:
        return int(n) + int(offset)
    except ValueError:
        raise ValueError(f"{SEED_OFFSET_ENV} must be an integer, got {offset!r}") from None

_SUBMODULES = {"checks", "data", "plotting", "priors", "sampling", "simulate", "chapters", "validation"}


def __getattr__(name: str):
    """Import submodules on first use (``hbm.data``, ``hbm.eight_schools``, ...), so that
    ``import hbm`` stays cheap and reading chapter descriptors does not load PyMC."""
    import importlib

    if name in _SUBMODULES or (PACKAGE_DIR / name / "chapter.toml").is_file():
        return importlib.import_module(f"hbm.{name}")
    raise AttributeError(f"module 'hbm' has no attribute {name!r}")


from pathlib import Path  # noqa: E402

PACKAGE_DIR = Path(__file__).resolve().parent
__all__ = ["glue", "seed", *sorted(_SUBMODULES)]
__version__ = "0.1.0"
