import json

import numpy as np

from hbm import checks, report


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


def test_glue_records_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv(report.SUMMARY_ENV, str(tmp_path))
    assert report.glue("t_mean", np.float64(1.5)) == 1.5
    assert type(report.glue("t_count", np.int64(3))) is int
    saved = json.loads((tmp_path / "key_numbers.json").read_text())
    assert saved == {"t_count": 3, "t_mean": 1.5}
