import hbm  # noqa: F401  (first: links PyTensor to OpenBLAS before any test imports pymc)
import pytest


@pytest.fixture
def write_csv(tmp_path):
    """Write text to a CSV file in a temporary folder and return its path."""

    def _write(text: str, name: str = "bad.csv"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write


@pytest.fixture(scope="session")
def student_book_edition(tmp_path_factory):
    """The book's own chapters (and coursework templates) exported once into a student edition:
    (export folder, Edition). Shared by the tests that only read it (tests/test_student.py,
    tests/test_instructors.py), so the whole book is exported once per run, not once per module."""
    from hbm_book import student

    out = tmp_path_factory.mktemp("student_book") / "student"
    found = student.export(out)
    return out, found
