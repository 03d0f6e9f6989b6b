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
