"""The forced build's key numbers agree with the committed reference within their Monte Carlo error.

``make test`` builds the book once; the numbers it glued (``_build/summary/key_numbers.json``,
written by ``hbm_book.build_report``) are compared with ``tests/book/key_numbers.reference.json``
(made from an earlier forced build by ``make record-results``) by ``hbm_book.keynumbers.compare``:
a number glued with an MCSE agrees within ``z`` combined MCSEs, ``z`` chosen so that a correct
build fails less than once in 1000 over all such numbers together; other numbers are deterministic
and agree to a relative 1e-6; times and random counts are left out. So the test passes on another
machine, another software stack or with ``HBM_SEED_OFFSET`` set, and fails on a real change.
``make reproducibility`` still compares two builds on one machine bit for bit. When a chapter
changes its numbers on purpose, regenerate the reference with ``make build-force record-results``.
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
    built = read_json(summary, "make build-force")
    result = keynumbers.compare(keynumbers.numbers_of(reference), keynumbers.numbers_of(built),
                                actual_notebooks=keynumbers.notebooks_of(built), scope="all")
    print(result.report())
    if not result.ok:
        changes = keynumbers.environment_changes(reference)
        context = ("the reference was made on another stack: " + "; ".join(changes)) if changes else \
            "same machine and package versions as the reference"
        pytest.fail(f"the key numbers disagree with the reference ({context}). If a chapter changed them on "
                    f"purpose, run `make build-force record-results` and commit the reference.\n" + result.report())
