"""Compare the key numbers of two builds (every value passed to :func:`hbm.report.glue`).

A forced build with ``HBM_SUMMARY_DIR`` set writes ``$HBM_SUMMARY_DIR/key_numbers.json``.
Every sampling call has a fixed seed, so two builds on the same machine and software
stack must give the same numbers.

Usage::

    python -m hbm_book.keynumbers compare A.json B.json     # exit 1 and list the differences
    python -m hbm_book.keynumbers record SUMMARY.json REFERENCE.json
"""

from __future__ import annotations

import argparse
import math
import sys

from hbm_book import machine_info, read_json, write_json

RTOL = 1e-9
"""Relative tolerance for floats: far below any Monte Carlo error, above last-digit JSON noise."""

TIMING_SUFFIXES = ("_seconds", "_ms", "_minutes", "_per_s", "_load", "_measured")
"""Glue keys that end like this (or contain ``speed``) are measured times, speeds, machine loads or
descriptions of a measurement, which differ from run to run by nature; the comparison leaves them out."""


def is_timing(key: str) -> bool:
    """Whether a glue key holds a time or speed measured during the build (see :data:`TIMING_SUFFIXES`)."""
    return key.endswith(TIMING_SUFFIXES) or "speed" in key


def numbers_of(data: dict) -> dict:
    """The key numbers of a summary file or of a reference file (which nests them under ``numbers``)."""
    return data["numbers"] if isinstance(data.get("numbers"), dict) else data


def differences(expected: dict, actual: dict, *, rtol: float = RTOL) -> list[str]:
    """Every key that is missing, new or different; empty when the two sets agree.

    Floats agree when within ``rtol`` relative to the larger magnitude (NaNs agree
    with NaNs); integers and strings must be equal. Timing keys (:func:`is_timing`)
    are left out.
    """
    expected = {k: v for k, v in expected.items() if not is_timing(k)}
    actual = {k: v for k, v in actual.items() if not is_timing(k)}
    found = [f"{k}: missing (expected {expected[k]!r})" for k in sorted(expected.keys() - actual.keys())]
    found += [f"{k}: new key (value {actual[k]!r})" for k in sorted(actual.keys() - expected.keys())]
    for k in sorted(expected.keys() & actual.keys()):
        a, b = expected[k], actual[k]
        if isinstance(a, float) or isinstance(b, float):
            same = (isinstance(a, (int, float)) and isinstance(b, (int, float))
                    and ((math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rtol, abs_tol=0.0)))
        else:
            same = a == b
        if not same:
            found.append(f"{k}: expected {a!r}, got {b!r}")
    return found


def environment_changes(reference: dict) -> list[str]:
    """How this machine and software stack differ from those that made ``reference``."""
    then, now = reference.get("machine", {}), machine_info()
    changes = [f"{name} {then['versions'].get(name)} -> {version}" for name, version in now["versions"].items()
               if then.get("versions", {}).get(name) != version]
    if then.get("cpu") != now["cpu"]:
        changes.append(f"CPU {then.get('cpu')!r} -> {now['cpu']!r}")
    return changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="compare or record the key numbers of a build")
    sub = parser.add_subparsers(dest="command", required=True)
    cmp_ = sub.add_parser("compare", help="compare two key-number files")
    cmp_.add_argument("expected")
    cmp_.add_argument("actual")
    rec = sub.add_parser("record", help="write a reference file from a build's key numbers")
    rec.add_argument("summary")
    rec.add_argument("reference")
    args = parser.parse_args(argv)
    how = "run a forced build first (make build-force, make test or make reproducibility)"
    try:
        if args.command == "record":
            numbers = numbers_of(read_json(args.summary, how))
            write_json(args.reference, {"numbers": numbers, "machine": machine_info()})
            print(f"wrote {len(numbers)} key numbers to {args.reference}")
            return 0
        expected = numbers_of(read_json(args.expected, how))
        actual = numbers_of(read_json(args.actual, how))
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    found = differences(expected, actual)
    for line in found:
        print(f"differs: {line}")
    timing = sorted(k for k in expected if is_timing(k))
    if timing:
        print(f"left out {len(timing)} timing keys: {', '.join(timing)}")
    print(f"{len(expected) - len(timing)} key numbers compared: " + (f"{len(found)} differ" if found else "all identical"))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
