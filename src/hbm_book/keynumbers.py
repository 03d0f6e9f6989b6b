"""The book's key numbers: read back from a build, recorded as a reference, compared statistically.

Every number the prose quotes is glued (:func:`hbm.glue`), and a number estimated from posterior
(or other random) draws is glued with its Monte Carlo standard error under ``<key>_mcse``. At the
end of every HTML build :mod:`hbm_book.summary` reads them back from the executed notebooks and
writes ``$HBM_SUMMARY_DIR/key_numbers.json`` (default ``<build dir>/summary/``); this module
records such a summary as the reference and compares summaries.

Comparison with the reference (``tests/book/key_numbers.reference.json``)
-------------------------------------------------------------------------
- A key ``K`` with a companion ``K_mcse`` is random: it passes when
  ``|a - b| <= z * sqrt(mcse_a**2 + mcse_b**2)``. Two correct builds on different machines or
  seeds are two independent Monte Carlo estimates of the same quantity, so ``(a - b) / that
  combined MCSE`` is close to a standard normal variable. ``z`` is chosen so that a correct build
  fails less than once in 1000 over all MCSE keys compared together (:func:`z_threshold`): with
  ``m`` such keys each may fail with probability ``alpha = 1 - (1 - 0.001) ** (1 / m)`` (Sidak;
  Bonferroni's ``0.001 / m`` is practically the same, and both are conservative when estimates
  are correlated), and because the MCSEs are themselves estimated (from an ESS), the two-sided
  quantile is that of a Student t distribution with :data:`MCSE_DOF` = 20 degrees of freedom
  instead of the normal: as if each combined MCSE were uncertain by about
  ``1 / sqrt(2 * 20)``, 16 % (relative standard deviation), a generous allowance for the error of
  an MCSE estimated from the ESS of a run that passed the book's convergence checks (bulk and
  tail ESS of several hundred at least). For 100 MCSE keys ``z`` is 5.85 (the normal quantile would be 4.42);
  for 10, 4.84.
- A key without a companion is deterministic (data summaries, exact or quadrature answers,
  simulation truths): floats agree within a relative :data:`RTOL` = 1e-6 (and an absolute
  :data:`ATOL` = 1e-12 for values that should be zero), integers, strings and booleans exactly.
- Left out, with the reason printed: times, speeds, machine loads and descriptions of a
  measurement (:func:`is_timing`), and random counts without an MCSE (keys ending ``_count``).
- ``make compare-keys SUMMARY=DIR`` compares only the chapters present in ``DIR`` (chapters known
  by their ``glue_prefix`` in ``chapter.toml``); the reference's keys of other chapters are ignored.

Usage::

    python -m hbm_book.keynumbers compare REFERENCE.json DIR_OR_SUMMARY [--all]  # statistical
    python -m hbm_book.keynumbers compare --exact A.json B.json                   # bit for bit
    python -m hbm_book.keynumbers record SUMMARY.json REFERENCE.json
    python -m hbm_book.keynumbers extract BUILD_DIR OUT.json     # read a build's glued values again
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hbm_book import PACKAGES, ROOT, machine_info, read_json, write_json
from hbm_book.summary import SUMMARY_NAME, build_numbers

MCSE_SUFFIX = "_mcse"
COUNT_SUFFIX = "_count"
RTOL = 1e-6
"""Relative tolerance of deterministic floats: far above floating-point noise across machines."""
ATOL = 1e-12
"""Absolute tolerance of deterministic floats (a value that is zero up to rounding)."""
FAMILY_ERROR = 1e-3
"""Largest acceptable probability that a correct build fails the comparison, over all keys together."""
MCSE_DOF = 20
"""Degrees of freedom of the Student t quantile that allows for the MCSEs being estimated."""

TIMING_SUFFIXES = ("_seconds", "_ms", "_minutes", "_per_s", "_load", "_measured")
"""Glue keys that end like this (or contain ``speed``) are measured times, speeds, machine loads or
descriptions of a measurement, which differ from run to run by nature; the comparison leaves them out."""


def is_timing(key: str) -> bool:
    """Whether a glue key holds a time or speed measured during the build (see :data:`TIMING_SUFFIXES`)."""
    return key.endswith(TIMING_SUFFIXES) or "speed" in key


def left_out_reason(key: str) -> str | None:
    """Why a key is not compared, or None when it is."""
    if is_timing(key):
        return "time or speed measured during the build"
    if key.endswith(COUNT_SUFFIX):
        return "random count without an MCSE"
    return None


# --------------------------------------------------------------------------------------------
# Reading summaries and references
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """One key number: its value and, for a Monte Carlo estimate, its MCSE."""

    value: object
    mcse: float | None = None


def numbers_of(data: dict) -> dict:
    """The flat ``key -> value`` numbers (companions ``K_mcse`` included) of a summary or a reference."""
    if isinstance(data.get("keys"), dict):  # a reference
        out = {}
        for key, entry in data["keys"].items():
            out[key] = entry["value"]
            if entry.get("mcse") is not None:
                out[key + MCSE_SUFFIX] = entry["mcse"]
        return out
    return data["numbers"] if isinstance(data.get("numbers"), dict) else data


def entries(numbers: dict) -> dict[str, Entry]:
    """Flat numbers as entries: each ``K_mcse`` becomes the MCSE of ``K`` instead of a key of its own."""
    out = {}
    for key, value in numbers.items():
        base = key.removesuffix(MCSE_SUFFIX)
        if key.endswith(MCSE_SUFFIX) and base in numbers:
            continue
        out[key] = Entry(value, numbers.get(key + MCSE_SUFFIX))
    return out


def notebooks_of(data: dict) -> list[str]:
    """The notebooks a summary says it was built from (empty for an older summary)."""
    return list(data.get("notebooks", []))


def load(path: str | Path) -> dict:
    """A summary or reference file; a folder means its ``key_numbers.json``."""
    path = Path(path)
    if path.is_dir():
        path = path / SUMMARY_NAME
    how = ("build first: HBM_SUMMARY_DIR=DIR make chapter NB=..., make build-force or make test "
           "(each writes key_numbers.json at the end of the build)")
    return read_json(path, how)


# --------------------------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------------------------

def z_threshold(n_keys: int, *, family_error: float = FAMILY_ERROR, dof: float = MCSE_DOF) -> float:
    """The multiple of the combined MCSE within which each of ``n_keys`` random keys must agree.

    The per-key error rate is Sidak's ``1 - (1 - family_error) ** (1 / n_keys)`` and the
    two-sided quantile that of a Student t with ``dof`` degrees of freedom (the MCSEs are
    estimated), so that a correct build fails with probability below ``family_error`` over all
    keys together. See the module docstring.
    """
    from scipy import stats

    alpha = -math.expm1(math.log1p(-family_error) / max(n_keys, 1))
    return float(stats.t.isf(alpha / 2, dof))


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _same_deterministic(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not (_is_number(a) and _is_number(b)):
        return type(a) is type(b) and a == b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL)


def prefix_of(key: str, prefixes: list[str]) -> str:
    """The chapter glue prefix a key starts with (the longest), else its first word and ``_``."""
    found = [p for p in prefixes if key.startswith(p)]
    return max(found, key=len) if found else key.split("_", 1)[0] + "_"


def chapter_prefixes() -> dict[str, str]:
    """``glue_prefix -> notebook`` of every chapter (from ``chapter.toml``)."""
    from hbm.chapters import chapters

    return {c.glue_prefix: c.notebook for c in chapters()}


@dataclass
class Comparison:
    """The outcome of :func:`compare`."""

    failures: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Keys of the reference that the build did not glue."""
    new: list[str] = field(default_factory=list)
    """Keys the build glued that the reference does not have (it needs re-recording)."""
    left_out: dict[str, str] = field(default_factory=dict)
    z: float = math.nan
    n_random: int = 0
    n_deterministic: int = 0
    largest: tuple[str, float] | None = None
    """The random key farthest from the reference, and its distance in combined MCSEs."""
    groups: list[str] = field(default_factory=list)
    """The glue prefixes compared."""
    ignored: int = 0
    """Reference keys of chapters not in the build, not compared."""
    stale_reference: bool = False
    """The build glued MCSEs but the reference (of the chapters compared) holds none."""

    @property
    def ok(self) -> bool:
        return not (self.failures or self.missing or self.new)

    def report(self) -> str:
        """What a person reads: the failures, the keys left out, the verdict and the largest deviation."""
        lines = [f"differs: {f}" for f in self.failures]
        if self.missing:
            lines.append(f"{len(self.missing)} keys of the reference were not glued by this build "
                         f"(renamed or dropped? if on purpose, re-record the reference): {', '.join(self.missing)}")
        if self.new:
            lines.append(f"{len(self.new)} keys of this build are not in the reference (it was recorded before "
                         f"they existed: re-record it with `make build-force record-results`): {', '.join(self.new)}")
        by_reason: dict[str, list[str]] = {}
        for key, why in sorted(self.left_out.items()):
            by_reason.setdefault(why, []).append(key)
        for why, keys in by_reason.items():
            lines.append(f"left out ({why}): {len(keys)} keys: {', '.join(keys)}")
        if self.ignored:
            lines.append(f"ignored {self.ignored} reference keys of chapters not in this build")
        largest = (f"largest deviation {self.largest[1]:.2f} MCSE ({self.largest[0]})" if self.largest
                   else "no key with an MCSE compared")
        lines.append(f"compared {', '.join(self.groups) or 'nothing'}: {self.n_random} random keys within "
                     f"z = {self.z:.2f} combined MCSE, {self.n_deterministic} deterministic keys within rtol {RTOL:g}; "
                     f"{largest}")
        if self.stale_reference:
            lines.append("note: the reference holds no MCSE for these chapters: it was recorded before the "
                         "numbers were glued with mcse=; the lead re-records it with `make build-force "
                         "record-results` after a whole-book build")
        problems = len(self.failures) + len(self.missing) + len(self.new)
        lines.append("verdict: PASS" if self.ok else f"verdict: FAIL ({problems} problems)")
        return "\n".join(lines)


def compare(reference: dict, actual: dict, *, actual_notebooks: list[str] | None = None,
            scope: str = "present", prefixes: dict[str, str] | None = None) -> Comparison:
    """Compare a build's key numbers with the reference, statistically (see the module docstring).

    Parameters
    ----------
    reference, actual : dict
        Flat numbers (``numbers_of`` of a file): values and ``K_mcse`` companions.
    actual_notebooks : list of str, optional
        The notebooks the build ran (from its summary): a chapter among them is compared even if
        it glued nothing.
    scope : {"present", "all"}
        ``"present"``: only the chapters (glue prefixes) present in ``actual``; ``"all"``: every
        key of the reference (a whole-book build).
    prefixes : dict, optional
        ``glue_prefix -> notebook`` of the chapters; by default read from ``chapter.toml``.
    """
    prefixes = chapter_prefixes() if prefixes is None else prefixes
    known = list(prefixes)
    ref, act = entries(reference), entries(actual)
    present = {prefix_of(k, known) for k in act}
    present |= {p for p, nb in prefixes.items() if nb in (actual_notebooks or [])}
    out = Comparison()
    if scope == "present":
        out.ignored = sum(1 for k in ref if prefix_of(k, known) not in present)
        ref = {k: e for k, e in ref.items() if prefix_of(k, known) in present}
    out.groups = sorted(present | {prefix_of(k, known) for k in ref})
    for key in sorted(ref.keys() | act.keys()):
        why = left_out_reason(key)
        if why:
            out.left_out[key] = why
        elif key not in act:
            out.missing.append(key)
        elif key not in ref:
            out.new.append(key)
    out.stale_reference = (any(e.mcse is not None for e in act.values())
                           and not any(e.mcse is not None for e in ref.values()))
    both = sorted(k for k in ref.keys() & act.keys() if k not in out.left_out)
    random_keys = [k for k in both if ref[k].mcse is not None and act[k].mcse is not None]
    out.z = z_threshold(len(random_keys))
    for key in both:
        a, b = ref[key], act[key]
        if key in random_keys:
            if not (_is_number(a.value) and _is_number(b.value)):
                out.failures.append(f"{key}: expected a number with an MCSE, got {a.value!r} and {b.value!r}")
                continue
            out.n_random += 1
            scale = math.hypot(a.mcse, b.mcse)
            if not scale > 0:
                dev = 0.0 if _same_deterministic(a.value, b.value) else math.inf
            else:
                dev = abs(a.value - b.value) / scale
            if math.isnan(dev):
                dev = 0.0 if math.isnan(a.value) and math.isnan(b.value) else math.inf
            if out.largest is None or dev > out.largest[1]:
                out.largest = (key, dev)
            if dev > out.z and not scale > 0:
                out.failures.append(f"{key}: {b.value!r} differs from the reference {a.value!r} and both MCSEs "
                                    "are 0 (rounded? glue az.summary(..., round_to='none') values)")
            elif dev > out.z:
                out.failures.append(f"{key}: {b.value!r} differs from the reference {a.value!r} by {dev:.1f} "
                                    f"combined MCSE (MCSE {a.mcse:.3g} and {b.mcse:.3g}; limit {out.z:.2f})")
        elif (a.mcse is None) != (b.mcse is None):
            which = "the reference" if a.mcse is not None else "this build"
            out.failures.append(f"{key}: only {which} glued it with an MCSE (mcse= added or dropped: "
                                "re-record the reference if on purpose)")
        else:
            out.n_deterministic += 1
            if not _same_deterministic(a.value, b.value):
                out.failures.append(f"{key}: expected {a.value!r}, got {b.value!r} (deterministic, rtol {RTOL:g})")
    return out


def exact_differences(expected: dict, actual: dict) -> list[str]:
    """Bit-for-bit comparison of two builds' numbers (``make reproducibility``): every key that is
    missing, new or different, companions and counts included; timing keys are left out."""
    expected = {k: v for k, v in expected.items() if not is_timing(k)}
    actual = {k: v for k, v in actual.items() if not is_timing(k)}
    found = [f"{k}: missing (expected {expected[k]!r})" for k in sorted(expected.keys() - actual.keys())]
    found += [f"{k}: new key (value {actual[k]!r})" for k in sorted(actual.keys() - expected.keys())]
    for k in sorted(expected.keys() & actual.keys()):
        a, b = expected[k], actual[k]
        nan = _is_number(a) and _is_number(b) and math.isnan(a) and math.isnan(b)
        if not (nan or (type(a) is type(b) and a == b)):
            found.append(f"{k}: expected {a!r}, got {b!r}")
    return found


LOCK_FILE = ROOT / "requirements-lock.txt"
"""The exact versions ``make install`` installs (``make upgrade-lock`` regenerates it)."""


def lock_info(path: Path = LOCK_FILE) -> dict:
    """The lock file's name, SHA-256 and the versions it pins for :data:`hbm_book.PACKAGES`.

    A package pinned differently per platform or Python (a line with an environment marker) is
    given as ``"version ; marker"`` alternatives joined by `` | ``. Empty when there is no lock.
    """
    import hashlib
    import re

    path = Path(path)
    if not path.is_file():
        return {}
    pins: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s*(;.*)?$", line.strip())
        if match:
            name = re.sub(r"[-_.]+", "-", match[1]).lower()
            pins.setdefault(name, []).append(match[2] + (f" {match[3]}" if match[3] else ""))
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "versions": {name: " | ".join(pins[name]) if name in pins else None for name in PACKAGES}}


def reference_record(summary: dict, lock: Path = LOCK_FILE) -> dict:
    """A reference file's content from a build's summary: each value with its MCSE, and the versions:
    ``versions`` and ``lock`` are those of the lock file (what ``make install`` gives any machine),
    ``machine`` the build's own (the same when the build ran in an environment made from the lock)."""
    numbers = numbers_of(summary)
    keys = {k: ({"value": e.value} if e.mcse is None else {"value": e.value, "mcse": e.mcse})
            for k, e in entries(numbers).items()}
    locked = lock_info(lock)
    return {"keys": keys, "notebooks": notebooks_of(summary), "seed_offset": summary.get("seed_offset", "0"),
            "versions": locked.get("versions", {}),
            "lock": {k: locked[k] for k in ("file", "sha256") if k in locked},
            "machine": summary.get("machine") or machine_info()}


def lock_differences(record: dict) -> list[str]:
    """Packages whose version in the build (``machine``) is not the lock's: the reference would
    then not be what a fresh ``make install`` reproduces."""
    built = record.get("machine", {}).get("versions", {})
    return [f"{name}: built with {built.get(name)}, locked {version}"
            for name, version in record.get("versions", {}).items() if version != built.get(name)]


def environment_changes(reference: dict) -> list[str]:
    """How this machine and software stack differ from those that made ``reference``
    (its locked versions; a reference recorded before the lock: the build's own)."""
    then, now = reference.get("machine", {}), machine_info()
    recorded = reference.get("versions") or then.get("versions", {})
    changes = [f"{name} {recorded.get(name)} -> {version}" for name, version in now["versions"].items()
               if recorded.get(name) != version]
    if then.get("cpu") != now["cpu"]:
        changes.append(f"CPU {then.get('cpu')!r} -> {now['cpu']!r}")
    return changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="read, record or compare the key numbers of a build")
    sub = parser.add_subparsers(dest="command", required=True)
    cmp_ = sub.add_parser("compare", help="compare a build's key numbers with the reference (or another build)")
    cmp_.add_argument("expected", help="the reference (or, with --exact, the first build's key_numbers.json)")
    cmp_.add_argument("actual", help="a summary folder or its key_numbers.json")
    cmp_.add_argument("--exact", action="store_true", help="bit-for-bit comparison of two builds")
    cmp_.add_argument("--all", action="store_true", help="compare every chapter of the reference, not only "
                      "those present in the build")
    rec = sub.add_parser("record", help="write a reference file from a build's key numbers")
    rec.add_argument("summary")
    rec.add_argument("reference")
    ext = sub.add_parser("extract", help="read the glued values of a build folder again")
    ext.add_argument("build_dir")
    ext.add_argument("out")
    args = parser.parse_args(argv)
    try:
        if args.command == "extract":
            numbers, notebooks = build_numbers(args.build_dir)
            write_json(args.out, {"numbers": numbers, "notebooks": [d.rsplit("/", 1)[-1] for d in notebooks],
                                  "machine": machine_info()})
            print(f"wrote {len(numbers)} key numbers of {len(notebooks)} notebooks to {args.out}")
            return 0
        if args.command == "record":
            record = reference_record(load(args.summary))
            write_json(args.reference, record)
            n_mcse = sum("mcse" in e for e in record["keys"].values())
            print(f"wrote {len(record['keys'])} key numbers ({n_mcse} with an MCSE) to {args.reference}")
            for line in lock_differences(record):
                print(f"warning: {line} (run `make install` and rebuild before recording)", file=sys.stderr)
            return 0
        expected, actual = load(args.expected), load(args.actual)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.exact:
        found = exact_differences(numbers_of(expected), numbers_of(actual))
        for line in found:
            print(f"differs: {line}")
        timing = sorted(k for k in numbers_of(expected) if is_timing(k))
        if timing:
            print(f"left out {len(timing)} timing keys: {', '.join(timing)}")
        n = len(numbers_of(expected)) - len(timing)
        print(f"{n} key numbers compared bit for bit: " + (f"{len(found)} differ" if found else "all identical"))
        return 1 if found else 0
    result = compare(numbers_of(expected), numbers_of(actual), actual_notebooks=notebooks_of(actual),
                     scope="all" if args.all else "present")
    print(result.report())
    if not result.ok:
        changes = environment_changes(expected)
        print("the reference was made on another stack: " + "; ".join(changes) if changes
              else "same machine and package versions as the reference")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
