"""Numbers quoted in the book's prose: glued into the page and recorded for reproducibility checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

SUMMARY_ENV = "HBM_SUMMARY_DIR"
"""When set, :func:`glue` also records every number in ``$HBM_SUMMARY_DIR/key_numbers.json``."""


def glue(name: str, value, *, display: bool = False):
    """Glue a computed value into the book and record it.

    Parameters
    ----------
    name : str
        The glue key, used in prose as ``{glue:text}`name:.2f```. Prefix it
        with the chapter (``es_``, ``fd_``, ...) so keys stay unique.
    value : float, int, str or object
        The value. NumPy scalars are converted to Python numbers so that the
        ``{glue:text}`` format specification applies.
    display : bool, default False
        Also show the value in the cell's output.

    Returns
    -------
    object
        ``value`` (as converted), so ``x = glue("key", compute())`` reads naturally.
    """
    from myst_nb import glue as _glue

    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        value = value.item()
    _glue(name, value, display=display)
    folder = os.environ.get(SUMMARY_ENV)
    if folder and isinstance(value, (int, float, str)):
        path = Path(folder) / "key_numbers.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        numbers = json.loads(path.read_text()) if path.is_file() else {}
        numbers[name] = value
        path.write_text(json.dumps(numbers, indent=1, sort_keys=True) + "\n")
    return value
