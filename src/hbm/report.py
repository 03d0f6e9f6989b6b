"""Numbers quoted in the book's prose: glued into the page where they are computed."""

from __future__ import annotations

import numpy as np

MCSE_SUFFIX = "_mcse"
"""A number glued with ``mcse=`` also glues its Monte Carlo standard error under ``<name>_mcse``."""


def glue(name: str, value, *, mcse: float | None = None):
    """Glue a computed value into the book (a no-op outside a Jupyter Book build environment).

    Parameters
    ----------
    name : str
        The glue key, used in prose as ``{glue:text}`name:.2f```. It starts with the chapter's
        ``glue_prefix`` (``es_``, ``fd_``, ...; see ``chapter.toml``).
    value : float, int or str
        The value. NumPy scalars are converted to Python numbers so that the
        ``{glue:text}`` format specification applies.
    mcse : float, optional
        The Monte Carlo standard error of ``value`` when it is estimated from posterior (or
        other random) draws, e.g. ``az.mcse``. The build compares such numbers with the
        reference within a multiple of their MCSE instead of exactly.

    Returns
    -------
    object
        ``value`` (as converted), so ``x = glue("key", compute())`` reads naturally.

    Notes
    -----
    The build tooling (:mod:`hbm_book.keynumbers`) reads the glued values back from the executed
    notebooks; nothing is written here. Without ``myst_nb`` installed (a plain Jupyter or Colab
    session) the value is simply returned.
    """
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        value = value.item()
    try:
        from myst_nb import glue as _glue
    except ImportError:  # plain Jupyter, Colab: nothing to glue into
        return value
    _glue(name, value, display=False)
    if mcse is not None:
        _glue(name + MCSE_SUFFIX, float(np.asarray(mcse)), display=False)
    return value
