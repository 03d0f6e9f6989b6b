"""Compile the bytecode of the packages ``import hbm`` needs, on every core, once after the install.

``make install`` installs with uv, which does not compile bytecode (pip compiles every file it
installs). Python then compiles each module on its first import, in whichever process imports
it first. On a new machine that cost the first ``make unit`` about 15 s: pytest's two workers
imported PyMC, SciPy, pandas and astropy at the same moment, and each compiled the same modules
(72.8 s with no bytecode against 57.5 s with it, every other cache warm). Compiling everything
the install holds would take longer than it saves (about 11,700 files: 27 s on 2 cores).

This compiles the import packages of ``hbm``'s own dependencies (``dependencies`` in
``pyproject.toml``: NumPy, SciPy, pandas, matplotlib, PyMC, ArviZ, PyTensor, numba, xarray,
astropy), their test folders left out, in parallel: the bulk of what the book, the tests and a
student's ``import hbm`` import. Files whose bytecode is up to date are skipped, so a second
run costs a second. Usage (``make install`` runs it)::

    python -m hbm_book.bytecode
"""

from __future__ import annotations

import compileall
import importlib.util
import os
import re
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path

TEST_FOLDERS = re.compile(r"^(tests?|testing)$")
"""Folders left out: the packages' own test suites, which the book never imports."""


def dependency_folders(dist: str = "hbm") -> list[Path]:
    """The folders of the import packages of ``dist``'s required dependencies (not its extras).

    Parameters
    ----------
    dist : str
        An installed distribution.

    Returns
    -------
    list of pathlib.Path
        One folder per import package (matplotlib gives ``matplotlib`` and ``mpl_toolkits``),
        sorted; a dependency that is a single module has none.
    """
    required = {_normalise(re.match(r"[A-Za-z0-9._-]+", r)[0])
                for r in metadata.requires(dist) or [] if "extra ==" not in r}
    folders = set()
    for top, dists in metadata.packages_distributions().items():
        if required.intersection(map(_normalise, dists)):
            spec = importlib.util.find_spec(top)
            for location in (spec and spec.submodule_search_locations) or []:
                folders.add(Path(location))
    return sorted(folders)


def _normalise(name: str) -> str:
    """A distribution's name as PEP 503 compares them (``typing_extensions`` is ``typing-extensions``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def source_files(folders: list[Path]) -> list[str]:
    """The ``.py`` files under ``folders``, outside :data:`TEST_FOLDERS`."""
    files = []
    for folder in folders:
        for root, dirs, names in os.walk(folder):
            dirs[:] = [d for d in dirs if not TEST_FOLDERS.match(d) and d != "__pycache__"]
            files += [os.path.join(root, n) for n in names if n.endswith(".py")]
    return files


def compile_files(files: list[str], workers: int | None = None) -> bool:
    """Compile ``files`` to bytecode in ``workers`` processes (default: one per core), as an import
    would (timestamp-checked ``.pyc`` in ``__pycache__``); True if every file compiled."""
    workers = workers or os.cpu_count() or 1
    chunk = max(1, len(files) // (8 * workers))
    with ProcessPoolExecutor(workers) as pool:
        return all(pool.map(_compile_quietly, files, chunksize=chunk))


def _compile_quietly(path: str) -> bool:
    return bool(compileall.compile_file(path, quiet=2))


def main() -> None:
    files = source_files(dependency_folders())
    if not compile_files(files):
        # a file that does not compile is compiled (and reported) by the import that needs it
        print("hbm_book.bytecode: some files did not compile; Python compiles them on import")


if __name__ == "__main__":
    main()
