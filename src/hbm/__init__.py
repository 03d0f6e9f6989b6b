"""Helper package for the hierarchical Bayesian modelling workbook.

The notebooks in ``book/`` tell the story; this package holds the plumbing
(data loading, sampling defaults, convergence checks, plotting style) and the
models of each chapter.

Importing :mod:`hbm` before PyMC does two things that keep notebook output
clean: it points PyTensor at the system OpenBLAS when one is installed (so
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

warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing a major refactor", category=FutureWarning)

from hbm import checks, data, plotting, report, sampling  # noqa: E402

__all__ = ["checks", "data", "plotting", "report", "sampling"]
__version__ = "0.1.0"
