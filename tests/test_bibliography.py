"""The bibliography: one valid BibTeX file without duplicate keys, and every citation in the book resolves.

A Sphinx build with ``-W -n`` catches an unknown key too, but only for the pages
it builds and only minutes later; this test checks every page of ``_toc.yml`` in
a fraction of a second.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import yaml
from pybtex.database import parse_file


ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "book" / "references.bib"
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


def _toc_pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [e["file"] for part in toc.get("parts", []) for e in part.get("chapters", []) if "file" in e]
    for name in files:
        for suffix in (".ipynb", ".md"):
            if (ROOT / f"{name}{suffix}").is_file():
                yield ROOT / f"{name}{suffix}"


def _markdown(path):
    if path.suffix == ".ipynb":
        return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    return path.read_text()


def test_bibtex_file_parses_and_keys_are_unique():
    text = BIB.read_text()
    keys = re.findall(r"^@\w+\s*\{\s*([^,\s]+)\s*,", text, re.M)
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    assert not duplicates, f"duplicate BibTeX keys in {BIB.name}: {duplicates}"
    entries = parse_file(str(BIB), bib_format="bibtex").entries
    assert sorted(entries.keys()) == sorted(keys)
    for key, entry in entries.items():
        assert "title" in entry.fields and "year" in entry.fields, f"{key} needs a title and a year"
        assert entry.persons.get("author") or entry.persons.get("editor"), f"{key} needs an author"


def test_every_citation_resolves_and_the_references_page_lists_them():
    known = set(parse_file(str(BIB), bib_format="bibtex").entries.keys())
    cited = {}
    for page in _toc_pages():
        for group in CITE.findall(_markdown(page)):
            for key in (k.strip() for k in group.split(",")):
                cited.setdefault(key, []).append(page.name)
    unknown = {k: v for k, v in cited.items() if k not in known}
    assert not unknown, f"citations with no entry in references.bib: {unknown}"
    references = (ROOT / "book" / "references.md").read_text()
    assert "```{bibliography}" in references and ":all:" in references
    assert any(p.name == "references.md" for p in _toc_pages()), "the references page is not in _toc.yml"
