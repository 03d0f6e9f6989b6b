"""Tests of the BUILT book: they read ``_build/`` and run after the forced build (``make check-book``).

Every test in this folder is marked ``book``; the plain unit-test run (``make unit``,
``pytest``) deselects them through ``-m "not book"`` in ``pyproject.toml``, and
``make check-book`` runs them with ``-m book``. Set ``HBM_BOOK_BUILD_DIR`` to test another
build folder (default: ``_build`` of this repository; its ``_toc.yml`` is looked for in the
folder's parent first) and ``HBM_BOOK_TOC`` to name the table of contents, e.g. for one chapter::

    HBM_BOOK_BUILD_DIR=_build/chapters/01_eight_schools/_build HBM_BOOK_TOC=_build/_toc_01_eight_schools.yml \
        .venv/bin/python -m pytest -m book tests/book/test_browser.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from book_site import BUILD, HTML, SCREENSHOTS


def pytest_sessionstart(session):
    """Empty the screenshot folder once per run: in the single process, or in pytest-xdist's
    controller before it starts the workers (``make check-book``), never in a worker."""
    if not hasattr(session.config, "workerinput"):
        shutil.rmtree(BUILD / SCREENSHOTS, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.book)


@pytest.fixture(scope="session")
def build_dir() -> Path:
    """The build folder; fails (never skips) when the book has not been built."""
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book in {HTML}: run `make build-force` (or `make test`) first")
    return BUILD
