"""Where the built book is and which pages it has (shared by the tests of the built book)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("HBM_BOOK_BUILD_DIR", ROOT / "_build")).resolve()
HTML = BUILD / "html"
SCREENSHOTS = "screenshots"
"""The folder of ``BUILD`` that keeps one screenshot per page (``make check-book``)."""


def _toc_files(entries) -> list[str]:
    files = []
    for entry in entries or []:
        if "file" in entry:
            files.append(entry["file"])
        files += _toc_files(entry.get("sections"))
    return files


def toc_path() -> Path:
    """``$HBM_BOOK_TOC`` if set, else ``_toc.yml`` beside the build folder, else the repository's."""
    if os.environ.get("HBM_BOOK_TOC"):
        return Path(os.environ["HBM_BOOK_TOC"]).resolve()
    return BUILD.parent / "_toc.yml" if (BUILD.parent / "_toc.yml").is_file() else ROOT / "_toc.yml"


def toc_pages() -> list[str]:
    """Every page of the table of contents, as docnames (``book/01_eight_schools``), in order."""
    toc = yaml.safe_load(toc_path().read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += _toc_files(part.get("chapters"))
    pages += _toc_files(toc.get("chapters"))
    return [p.removesuffix(".md").removesuffix(".ipynb") for p in pages]


def notebook_pages() -> list[str]:
    """The pages made from notebooks (the chapters and appendices): their source is an ``.ipynb``."""
    source = BUILD.parent if (BUILD.parent / "_toc.yml").is_file() else ROOT
    return [p for p in toc_pages() if (source / f"{p}.ipynb").is_file()]
