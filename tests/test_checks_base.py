"""The base of every self-check: hbm.checks.check_close and its messages (issue 14, item 5)."""

import re

import numpy as np
import pytest

from hbm import checks


@pytest.mark.parametrize("rtol, shown", [(0.005, "0.5%"), (0.1, "10%"), (0.02, "2%"), (1e-4, "0.01%"),
                                         (1 / 3, "33.3%")])
def test_relative_tolerances_print_readably(rtol, shown):
    assert checks.format_percent(rtol) == shown
    assert checks.format_tolerance(atol=0.1, rtol=rtol) == f"tolerance 0.1 + {shown} relative"
    result = checks.check_close("x", 100.0, 100.0, rtol=rtol)
    assert f"{shown} relative" in result.message and "0%" not in result.message.replace(shown, "")


def test_right_answer_passes_and_wrong_one_fails_without_showing_the_reference():
    reference = np.array([3.14159, 2.71828])
    passed = checks.check_close("pair", [3.1416, 2.7183], reference, rtol=0.005, what="constants")
    assert passed and passed.passed and str(passed).startswith("PASS [pair]")
    wrong = checks.check_close("pair", [3.1416, 2.6], reference, rtol=0.005, what="constants")
    assert not wrong and "position(s) [1]" in wrong.message and "0.5% relative" in wrong.message
    for value in ("3.14159", "2.71828", "3.142", "2.718"):
        assert value not in str(wrong) and value not in wrong._repr_html_()


@pytest.mark.parametrize("answer, pattern", [
    ("pi", "must be a number"), ([1.0, 2.0, 3.0], r"shape \(2,\)"), ([np.nan, 1.0], "NaN or infinite"),
])
def test_malformed_answers_fail_with_a_reason(answer, pattern):
    result = checks.check_close("pair", answer, [1.0, 2.0], atol=0.1)
    assert not result
    assert re.search(pattern, result.message)


def test_absolute_tolerance_is_a_bound():
    assert checks.check_close("x", 1.09, 1.0, atol=0.1)
    assert not checks.check_close("x", 1.11, 1.0, atol=0.1)
