"""The key numbers of a build, read back from the executed notebooks and written to ``key_numbers.json``.

Nothing is written while a notebook runs: :func:`hbm.glue` only glues (``myst_nb.glue``). At the
end of every HTML build (:mod:`hbm_book.build_report`, on ``build-finished``) the glued values
are read back from the executed notebooks that myst-nb leaves in ``<build dir>/jupyter_execute/``
(forced and cached builds alike; the files of a notebook not re-read in a cached build are those
of the build that last executed it) and written, with the machine and package versions, to
``$HBM_SUMMARY_DIR/key_numbers.json``: by default ``<build dir>/summary/``, i.e. ``_build/summary/``
for the book and ``_build/chapters/NB/_build/summary/`` for ``make chapter NB=...``.
:mod:`hbm_book.keynumbers` records and compares these files.
"""

from __future__ import annotations

import ast
import json
import math
import os
from pathlib import Path

from hbm_book import machine_info, write_json

SUMMARY_ENV = "HBM_SUMMARY_DIR"
"""Folder of ``key_numbers.json``; default ``summary/`` in the build folder."""

SUMMARY_NAME = "key_numbers.json"
EXECUTED_FOLDER = "jupyter_execute"
"""Where myst-nb writes the executed notebooks (and their ``.glue.json``), beside ``html/``."""



def _nonfinite(text: str):
    return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(text.strip())


def glued_value(output: dict):
    """The Python value of one glue output (``int``, ``float``, ``str`` or ``bool``), else None.

    myst-nb stores a glued value as its ``text/plain`` representation (``repr``), under the MIME
    type ``application/papermill.record/text/plain`` in the executed notebook (glue with
    ``display=False``) and as ``text/plain`` in its ``.glue.json``. The ``repr`` of a Python
    float gives back the same float, so nothing is lost.
    """
    data = output.get("data", {})
    text = next((v for k, v in data.items() if k.endswith("text/plain")), None)
    if text is None:
        return None
    text = "".join(text) if isinstance(text, list) else text
    special = _nonfinite(text)
    if special is not None:
        return special
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None  # a figure, a table, an object: not a key number
    return value if isinstance(value, (bool, int, float, str)) else None


def notebook_glue(folder: str | Path, docname: str) -> dict:
    """The glued scalar values of one executed notebook, ``docname`` like ``book/01_eight_schools``.

    Reads ``<folder>/<docname>.glue.json`` (every glued value; myst-nb removes the outputs of
    ``glue(..., display=False)`` from the executed notebook it writes) and the outputs carrying
    ``metadata.scrapbook.name`` left in ``<folder>/<docname>.ipynb`` (``display=True``). A
    ``.glue.json`` older than its notebook is left over from an earlier build in which the notebook
    glued something and is ignored.
    """
    folder = Path(folder)
    notebook, glue_file = folder / f"{docname}.ipynb", folder / f"{docname}.glue.json"
    if not notebook.is_file():
        raise FileNotFoundError(f"{notebook} is missing: myst-nb did not write the executed notebook")
    values = {}
    if glue_file.is_file() and glue_file.stat().st_mtime >= notebook.stat().st_mtime - 60:
        for key, output in json.loads(glue_file.read_text(encoding="utf8")).items():
            values[key] = glued_value(output)
    nb = json.loads(notebook.read_text(encoding="utf8"))
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None:
                values[name] = glued_value(output)
    return {k: v for k, v in values.items() if v is not None}


def build_numbers(build_dir: str | Path, docnames: list[str] | None = None) -> tuple[dict, list[str]]:
    """Every glued scalar of a build, and the notebooks it came from.

    Parameters
    ----------
    build_dir : path
        The build folder (``_build``), holding ``jupyter_execute/``.
    docnames : list of str, optional
        The notebooks of the build (``book/01_eight_schools``); by default every executed
        notebook found in ``jupyter_execute/``.

    Raises
    ------
    ValueError
        If two notebooks glue the same key with different values.
    """
    folder = Path(build_dir) / EXECUTED_FOLDER
    if docnames is None:
        docnames = sorted(str(p.relative_to(folder).with_suffix("")) for p in folder.rglob("*.ipynb"))
    numbers, origin = {}, {}
    for docname in docnames:
        for key, value in notebook_glue(folder, docname).items():
            if key in numbers and numbers[key] != value:
                raise ValueError(f"glue key {key!r} is glued by both {origin[key]} and {docname}")
            numbers[key], origin[key] = value, docname
    return dict(sorted(numbers.items())), list(docnames)


def summary_dir(build_dir: str | Path) -> Path:
    """``$HBM_SUMMARY_DIR`` if set, else ``<build_dir>/summary``."""
    return Path(os.environ.get(SUMMARY_ENV) or Path(build_dir) / "summary").resolve()


def write_summary(build_dir: str | Path, docnames: list[str] | None = None) -> Path:
    """Write ``key_numbers.json`` for a build (see :func:`summary_dir`); return its path."""
    numbers, notebooks = build_numbers(build_dir, docnames)
    path = summary_dir(build_dir) / SUMMARY_NAME
    write_json(path, {"numbers": numbers, "notebooks": [d.rsplit("/", 1)[-1] for d in notebooks],
                      "seed_offset": os.environ.get("HBM_SEED_OFFSET", "0") or "0", "machine": machine_info()})
    return path
