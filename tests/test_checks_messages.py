"""Every self-check in hbm.checks answers a wrong answer with FAIL and never shows the reference value.

The chapters' checks are found by introspection, so a check added later is covered
without touching this file. Each is called with answers that cannot be right; the
references it compares against are captured by wrapping ``check_close``, and the
message must contain none of them, at any usual precision.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

from hbm import checks

CORE = {"check_close"}
CHAPTER_CHECKS = sorted(
    name for name, f in vars(checks).items()
    if name.startswith("check_") and name not in CORE and inspect.isfunction(f) and f.__module__ == checks.__name__
)


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


def test_there_are_chapter_checks():
    assert CHAPTER_CHECKS, "no chapter self-checks found in hbm.checks"


@pytest.mark.parametrize("name", CHAPTER_CHECKS)
def test_a_chapter_check_fails_wrong_answers_without_showing_the_reference(name, monkeypatch):
    seen = []
    original = checks.check_close

    def recording(label, answer, reference, **kwargs):
        seen.append(np.atleast_1d(np.asarray(reference, dtype=float)).ravel())
        return original(label, answer, reference, **kwargs)

    monkeypatch.setattr(checks, "check_close", recording)
    func = getattr(checks, name)
    assert func.__doc__, f"{name} needs a docstring saying which exercise it checks"
    for wrong in (1.0e6, -12345.678):
        for args, kwargs in _calls(func, wrong):
            try:
                result = func(*args, **kwargs)
            except ValueError as err:  # refusing nonsense with a clear error is fine, if it does not leak either
                message = str(err)
            else:
                assert isinstance(result, checks.CheckResult), f"{name} must return a CheckResult"
                assert not result.passed, f"{name} passed the answer {wrong}"
                message = str(result)
            leaked = [s for ref in seen for value in ref for s in _renderings(value) if s in _without_tolerance(message)]
            assert not leaked, f"{name}: the message {message!r} shows the reference ({leaked})"


def _choices(param) -> list:
    """Valid values of a check's option parameters (which model, which parameter), read from hbm."""
    if param.name == "model":
        return ["unpooled", "hierarchical"]
    if param.name == "name":
        from hbm import data

        return list(data.load_truth("five_districts")["population"])
    return [param.default] if param.default is not inspect.Parameter.empty else ["no-such-option"]


def _calls(func, wrong: float):
    """Calls of ``func`` with a wrong number for every answer, once for each valid option value."""
    params = inspect.signature(func).parameters.values()
    answers = [p for p in params if p.kind == p.POSITIONAL_OR_KEYWORD and p.annotation not in (str, "str")
               and p.default is inspect.Parameter.empty]
    options = [p for p in params if p not in answers and p.default is inspect.Parameter.empty]
    calls = [({}, [])]
    for p in options:
        calls = [({**kw, p.name: v}, []) for kw, _ in calls for v in _choices(p)]
    return [([wrong] * len(answers), kw) for kw, _ in calls]
