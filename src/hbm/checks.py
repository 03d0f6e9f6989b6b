"""Self-checks a student calls on their own answer.

Each check compares the student's value with the worked solution's within a
stated tolerance and returns a :class:`CheckResult` whose message says pass or
fail and why, without revealing the reference value.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a self-check; prints as one line, and is truthy when it passed."""

    name: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} [{self.name}] {self.message}"

    def _repr_html_(self) -> str:
        # Explicit text and background colours (dark text on a pale tint), so the result reads the
        # same on the book's light and dark themes and in Jupyter; long messages wrap.
        text, background, edge = ("#0f5323", "#dafbe1", "#1a7f37") if self.passed else ("#82071e", "#ffebe9", "#cf222e")
        style = (f"color:{text};background:{background};border-left:4px solid {edge};padding:0.35em 0.8em;"
                 "margin:0;font-family:monospace;white-space:pre-wrap;overflow-wrap:anywhere")
        return f'<div class="hbm-check" style="{style}">{html.escape(str(self))}</div>'

    __repr__ = __str__


def format_percent(fraction: float) -> str:
    """A relative tolerance as a readable percentage: 0.005 -> "0.5%", 0.1 -> "10%", 1e-4 -> "0.01%"."""
    return f"{100 * fraction:.3g}%"


def format_tolerance(*, atol: float = 0.0, rtol: float = 0.0) -> str:
    """The tolerance of :func:`check_close` in words: "tolerance 0.1 + 0.5% relative"."""
    return f"tolerance {atol:g}" + (f" + {format_percent(rtol)} relative" if rtol else "")


def check_close(name: str, answer, reference, *, atol: float = 0.0, rtol: float = 0.0, what: str = "value") -> CheckResult:
    """Compare an answer with a reference within ``atol + rtol * |reference|``.

    Parameters
    ----------
    name : str
        Name of the check, shown in the message.
    answer : float or array_like
        The student's value(s).
    reference : float or array_like
        The reference value(s); never printed.
    atol, rtol : float
        Absolute and relative tolerance.
    what : str
        What the value is, for the message ("pooled mean", "slopes", ...).

    Returns
    -------
    CheckResult
    """
    reference = np.asarray(reference, dtype=float)
    try:
        answer = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        return CheckResult(name, False, f"the {what} must be a number or an array of numbers")
    if answer.shape != reference.shape:
        return CheckResult(name, False, f"the {what} should have shape {reference.shape}, got {answer.shape}")
    if not np.all(np.isfinite(answer)):
        return CheckResult(name, False, f"the {what} contains NaN or infinite values")
    tol = atol + rtol * np.abs(reference)
    off = np.abs(answer - reference) > tol
    tolerance = format_tolerance(atol=atol, rtol=rtol)
    if not off.any():
        return CheckResult(name, True, f"the {what} agrees with the worked solution ({tolerance})")
    where = "" if reference.ndim == 0 else f" at position(s) {np.flatnonzero(off.ravel()).tolist()}"
    return CheckResult(name, False, f"the {what} is off by more than the {tolerance}{where}; check your working")


def check_statements(name: str, answers, truth: dict[str, bool]) -> CheckResult:
    """Judge a "check your understanding" exercise: true-or-false verdicts on lettered statements.

    Parameters
    ----------
    name : str
        Name of the check, shown in the message.
    answers : dict
        The student's verdicts: each statement's letter (``"a"``, ``"b"``, ...) to ``True`` or ``False``.
    truth : dict
        The correct verdicts, same keys; never printed.

    Returns
    -------
    CheckResult
        The message says how many statements are judged wrongly, not which.
    """
    keys = sorted(truth)
    if not isinstance(answers, dict) or sorted(answers) != keys:
        return CheckResult(name, False, f"give a dict with the keys {keys}, each True or False")
    if not all(isinstance(v, (bool, np.bool_)) for v in answers.values()):
        return CheckResult(name, False, "answer each statement with True or False")
    wrong = sum(bool(answers[k]) != truth[k] for k in keys)
    if wrong:
        return CheckResult(name, False, f"{wrong} of the {len(keys)} statements judged wrongly; reread the "
                                        "sections they are about")
    return CheckResult(name, True, f"all {len(keys)} statements judged correctly")
