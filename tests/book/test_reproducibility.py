"""The forced build's key numbers equal the committed reference (every sampling call has a fixed seed).

``make test`` builds the book once; its glued numbers (``_build/summary/key_numbers.json``)
must equal ``tests/book/key_numbers.reference.json`` to a relative 1e-9, which was made from
an earlier forced build by ``make record-results``. ``make reproducibility`` runs two forced
builds back to back and compares them with each other. When a chapter changes its numbers on
purpose, regenerate the reference with ``make build-force record-results`` and commit it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from book_site import BUILD

from hbm_book import keynumbers, read_json

REFERENCE = Path(__file__).with_name("key_numbers.reference.json")


def test_key_numbers_match_reference(build_dir):
    summary = BUILD / "summary" / "key_numbers.json"
    if not summary.is_file():
        pytest.fail(f"{summary} is missing: build with `make build-force` (it sets HBM_SUMMARY_DIR)")
    if not REFERENCE.is_file():
        pytest.fail(f"{REFERENCE} is missing: make it with `make record-results` after a forced build")
    reference = read_json(REFERENCE, "make record-results")
    found = keynumbers.differences(keynumbers.numbers_of(reference), read_json(summary, "make build-force"))
    if found:
        changes = keynumbers.environment_changes(reference)
        context = ("the reference was made on another stack: " + "; ".join(changes)) if changes else \
            "same machine and package versions as the reference"
        pytest.fail(f"{len(found)} key numbers differ from the reference ({context}). If a chapter changed "
                    f"them on purpose, run `make build-force record-results` and commit the reference.\n"
                    + "\n".join(found[:40]))
