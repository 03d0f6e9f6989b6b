"""benchmarks/cold_make_test.py (speed issue): its stages follow the Makefile's commands, and its
time and core-second accounting is right on a made-up run."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def cold():
    spec = importlib.util.spec_from_file_location("cold_make_test", ROOT / "benchmarks" / "cold_make_test.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["cold_make_test"] = module
    spec.loader.exec_module(module)
    return module


def test_every_stage_starts_at_a_command_of_make_test_in_order(cold):
    """The commands `make -n test` prints (what make echoes in a real run) start the five stages."""
    printed = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    lines = [(float(i), line) for i, line in enumerate(printed.splitlines())]
    found = cold.stages(lines, end=float(len(lines)), cpu=[])
    assert list(found) == [name for name, _ in cold.STAGES]
    starts = [s["start"] for s in found.values()]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert "hbm_book.execute" in printed.splitlines()[int(found["notebooks"]["start"])]


def test_stage_times_and_core_seconds_of_a_made_up_run(cold):
    # install 0-10 s on one core, then two cores busy until the end at 100 s; make stopped in the
    # notebooks stage (no Jupyter Book, no book checks)
    lines = [(0.5, "python3 -m venv --without-pip .venv"),
             (10.0, '.venv/bin/python -m pytest -q -n auto --dist loadgroup -m "not book" --durations=20'),
             (50.0, "567 passed in 39.90s (0:00:39)"),
             (60.0, "HBM_QUIET=1 .venv/bin/python -m hbm_book.execute --cache _build/.jupyter_cache"),
             (90.0, "executed book/01_eight_schools in 29.5 s")]
    cpu = [(float(t), (t if t <= 10 else 10 + 2 * (t - 10)) * TICK) for t in range(0, 101, 2)]
    found = cold.stages(lines, end=100.0, cpu=cpu)
    assert list(found) == ["install", "tests", "notebooks"]
    assert [found[s]["seconds"] for s in found] == [10.0, 50.0, 40.0]
    assert [found[s]["core_seconds"] for s in found] == [10.0, 100.0, 80.0]
    assert [found[s]["mean_busy_cores"] for s in found] == [1.0, 2.0, 2.0]
    assert cold.core_seconds(cpu, 0.0, 100.0) == 190.0
    assert cold.core_seconds(cpu[:1], 0.0, 100.0) is None   # too few samples: unknown, not zero
    parts = cold.details(lines + [(95.0, "12.30s call     tests/test_x.py::test_y"),
                                  (99.0, "1 failed, 85 passed in 61.00s (0:01:01)")])
    assert parts["notebooks"] == {"book/01_eight_schools": 29.5}
    assert parts["pytest_summaries"] == ["567 passed in 39.90s (0:00:39)", "1 failed, 85 passed in 61.00s (0:01:01)"]
    assert parts["slowest_tests"] == ["12.30s call     tests/test_x.py::test_y"]
