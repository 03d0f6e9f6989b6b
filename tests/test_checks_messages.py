"""The base of every self-check, ``hbm.checks.check_close``, answers a wrong answer with FAIL and never
shows the reference value, at any usual precision.

The chapters' own checks (``hbm.<slug>.checks``) are tested in each chapter's test file
(``tests/test_<slug>.py``): the right answer passes, a wrong answer of the right shape fails, and the
message does not contain the reference.
"""

from __future__ import annotations

import re

import numpy as np

from hbm import checks


def _renderings(value: float) -> set[str]:
    """How a reference value could appear in a message; only renderings with two significant digits or more."""
    out = {f"{value:.{d}f}" for d in (1, 2, 3, 4)} | {f"{value:g}", f"{value:.3g}", repr(float(value))}
    return {s for s in out if len(re.sub(r"[^1-9]", "", s.lstrip("-0.")) or "") >= 2}


def _without_tolerance(message: str) -> str:
    """The message without the tolerance clause and positions, which are numbers by design."""
    message = re.sub(r"tolerance [^;)]*", "", message)
    return re.sub(r"position\(s\) \[[\d, ]*\]", "", message)


def test_check_close_never_shows_the_reference_in_any_message():
    reference = np.array([7.6856, 4.0724])
    for answer in ([9.1, 4.0724], [7.6856, 4.0724], [np.nan, 1.0], [1.0], "seven"):
        msg = str(checks.check_close("pooled", answer, reference, atol=0.05, rtol=0.1, what="pooled mean"))
        for value in reference:
            assert not any(s in _without_tolerance(msg) for s in _renderings(value)), msg
    assert checks.check_close("scalar", 7.69, 7.6856, atol=0.01)
    assert not checks.check_close("scalar", 7.70, 7.6856, atol=0.01)
    assert checks.check_close("relative", 110.0, 100.0, rtol=0.1)
    assert not checks.check_close("relative", 111.0, 100.0, rtol=0.1)
    res = checks.check_close("named", 1.0, 2.0, atol=0.1, what="slope")
    assert res.name == "named" and "slope" in res.message and str(res).startswith("FAIL [named]")
    assert 'style="color:' in res._repr_html_() and "background:" in res._repr_html_()
    assert "&lt;b&gt;" in checks.check_close("<b>", 1.0, 1.0, atol=0.1)._repr_html_()  # the message is escaped


def test_check_close_treats_integers_lists_and_arrays_alike():
    assert checks.check_close("v", [1, 2, 3], np.array([1.0, 2.0, 3.0]), atol=1e-9)
    assert checks.check_close("v", np.float32(0.5), 0.5, atol=1e-6)
    assert not checks.check_close("v", [[1.0, 2.0]], [1.0, 2.0], atol=1)  # shape (1, 2) is not (2,)


def test_tolerances_are_written_with_enough_digits():
    assert checks.format_percent(0.005) == "0.5%" and checks.format_percent(0.1) == "10%"
    assert checks.format_percent(1e-4) == "0.01%" and checks.format_percent(0.0125) == "1.25%"
    assert checks.format_tolerance(atol=0.1, rtol=0.005) == "tolerance 0.1 + 0.5% relative"
    assert checks.format_tolerance(atol=0.05) == "tolerance 0.05"
    msg = str(checks.check_close("r", 1.2, 1.0, rtol=0.0125))
    assert "1.25% relative" in msg and msg.startswith("FAIL [r]")
