"""The result of a self-check (``hbm.checks.CheckResult``) and the base comparison ``check_close``."""

import numpy as np

from hbm import checks


def test_check_close_passes_and_fails_without_revealing_the_reference():
    ok = checks.check_close("pooled", 7.69, 7.6856, atol=0.05, what="pooled mean")
    assert ok and "PASS" in str(ok)
    bad = checks.check_close("pooled", 9.0, 7.6856, atol=0.05, what="pooled mean")
    assert not bad and "FAIL" in str(bad)
    assert "7.68" not in str(bad) and "7.69" not in str(bad)


def test_check_close_arrays_shapes_and_nans():
    ref = np.array([1.0, 2.0, 3.0])
    assert checks.check_close("v", ref * 1.01, ref, rtol=0.02)
    res = checks.check_close("v", [1.0, 2.5, 3.0], ref, atol=0.1)
    assert not res and "position(s) [1]" in res.message
    assert "shape" in checks.check_close("v", [1.0, 2.0], ref, atol=1).message
    assert "NaN" in checks.check_close("v", [1.0, np.nan, 3.0], ref, atol=1).message
    assert not checks.check_close("v", "seven", 7.0, atol=1)



def test_a_check_result_is_truthy_only_when_it_passed_and_prints_one_line():
    ok, bad = checks.CheckResult("x", True, "fine"), checks.CheckResult("x", False, "off\nby far")
    assert ok and not bad
    assert str(ok) == "PASS [x] fine" and repr(bad) == "FAIL [x] off\nby far"
    assert "#1a7f37" in ok._repr_html_() and "#cf222e" in bad._repr_html_()
