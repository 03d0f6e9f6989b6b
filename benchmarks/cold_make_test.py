"""A cold ``make test``, as a new machine runs it: a fresh clone, empty caches, timed by stage.

The speed issue's goal is a fresh clone's ``make test`` on a 2-core machine with nothing cached (no
pip, uv, PyTensor, numba, httpstan or Matplotlib cache). This script runs exactly that and reports
where the time goes, so that anyone (an instructor's CI, a contributor) measures it the same way:

1. ``git clone`` of this repository at ``--rev`` (default ``HEAD``, committed work only) into a new
   folder, with every cache pointed at new empty folders beside it (``PIP_CACHE_DIR``,
   ``UV_CACHE_DIR``, ``XDG_CACHE_HOME``, ``NUMBA_CACHE_DIR``, ``MPLCONFIGDIR``, PyTensor's
   ``base_compiledir``). The system packages of ``make sysdeps`` must already be there.
2. A fixed Python loop is timed before and after (``calibration_seconds``): shared machines change
   speed by up to 2x within minutes, and this says which speed a run had.
3. ``make test`` runs; every line it prints is time-stamped, and on Linux the CPU time of the whole
   machine is read from ``/proc/stat`` every 2 s. The stages start where make prints their
   command: install, tests (unit and end-to-end), notebooks (the forced execution), Jupyter Book,
   book checks. Each stage gets its wall time, its core-seconds and the mean number of busy cores
   (these count everything the machine ran, so run nothing else beside it).

Usage (with any Python >= 3.11, from the repository; the clone makes its own ``.venv``)::

    python3 benchmarks/cold_make_test.py                       # writes benchmarks/results/cold_make_test.json
    python3 benchmarks/cold_make_test.py --rev 782aef8 --out /tmp/old.json --keep

It takes as long as a cold ``make test`` (10 to 15 minutes on a 2-core machine) and needs about 4 GB
in the work folder (removed at the end unless ``--keep``). The standard library only: it runs before
any environment exists.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "cold_make_test.json"

STAGES = [
    ("install", None),
    ("tests", re.compile(r"-m pytest .*-m \"not book\"")),
    ("notebooks", re.compile(r"-m hbm_book\.execute")),
    ("jupyter_book", re.compile(r"jupyter-book build ")),
    ("check_book", re.compile(r"-m pytest .*-m book ")),
]
"""Each stage and the command line (as make prints it) that starts it; a stage ends where the next starts."""

GOALS = {"total": 480, "tests": 60, "notebooks+jupyter_book": 300}
"""The speed issue's goals in seconds (its unit-test goal is for the unit tests alone, which run
mixed with the end-to-end tests in the tests stage)."""

CPU_PERIOD = 2.0


def calibrate(n: int = 20_000_000) -> float:
    """Seconds for a fixed pure-Python loop: the machine's speed at the moment."""
    start = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return round(time.perf_counter() - start, 2)


def busy_ticks() -> int | None:
    """User, nice, system, irq and softirq clock ticks of all CPUs so far (Linux), else None."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[1:8])
    return user + nice + system + irq + softirq


def core_seconds(cpu: list[tuple[float, int]], t0: float, t1: float) -> float | None:
    """Core-seconds the machine was busy between ``t0`` and ``t1``, from ``(time, ticks)`` samples
    (linear between samples, clamped at the ends); None without samples."""
    if len(cpu) < 2:
        return None

    def at(t: float) -> float:
        if t <= cpu[0][0]:
            return cpu[0][1]
        for (ta, a), (tb, b) in zip(cpu, cpu[1:]):
            if t <= tb:
                return a + (b - a) * (t - ta) / (tb - ta)
        return cpu[-1][1]

    return round((at(t1) - at(t0)) / os.sysconf("SC_CLK_TCK"), 1)


def stages(lines: list[tuple[float, str]], end: float, cpu: list[tuple[float, int]]) -> dict:
    """Wall time, core-seconds and mean busy cores of each stage of :data:`STAGES`, from the
    time-stamped output lines of ``make test`` (time 0 is its start; ``end`` its exit). A stage
    whose command never appeared (make stopped before it) is left out."""
    starts = {"install": 0.0}
    for name, pattern in STAGES[1:]:
        after = max(starts.values())
        found = next((t for t, line in lines if t >= after and pattern.search(line)), None)
        if found is None:
            break
        starts[name] = found
    names = list(starts)
    out = {}
    for name, nxt in zip(names, names[1:] + [None]):
        t0, t1 = starts[name], (starts[nxt] if nxt else end)
        cores = core_seconds(cpu, t0, t1)
        out[name] = {"start": round(t0, 1), "seconds": round(t1 - t0, 1), "core_seconds": cores,
                     "mean_busy_cores": round(cores / (t1 - t0), 2) if cores is not None and t1 > t0 else None}
    return out


def details(lines: list[tuple[float, str]]) -> dict:
    """What make test printed about its parts: pytest's summary lines, the slowest tests and each
    notebook's execution time."""
    text = [line for _, line in lines]
    return {
        "pytest_summaries": [x for x in text if re.match(r"^\d+ (passed|failed|errors?)\b.* in [\d.]+s", x)],
        "slowest_tests": [x for x in text if re.match(r"^\d+\.\d+s (call|setup|teardown) ", x)][:10],
        "notebooks": {m.group(1): float(m.group(2)) for x in text
                      if (m := re.match(r"^executed (\S+) in ([\d.]+) s", x))},
    }


def run(rev: str, work: Path) -> dict:
    """Clone ``rev`` into ``work`` and run ``make test`` there with empty caches; the measurements."""
    clone, caches = work / "clone", work / "caches"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", rev], cwd=clone, check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, check=True,
                            capture_output=True, text=True).stdout.strip()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    for var, folder in [("PIP_CACHE_DIR", "pip"), ("UV_CACHE_DIR", "uv"), ("XDG_CACHE_HOME", "xdg"),
                        ("NUMBA_CACHE_DIR", "numba"), ("MPLCONFIGDIR", "matplotlib")]:
        env[var] = str(caches / folder)
    env["PYTENSOR_FLAGS"] = ",".join(f for f in (env.get("PYTENSOR_FLAGS", ""),
                                                 f"base_compiledir={caches / 'pytensor'}") if f)

    result = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "rev": commit,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, {cpu_model()}",
              "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
              "calibration_seconds": {"before": calibrate()}}
    cpu: list[tuple[float, int]] = []
    stop = threading.Event()
    start = time.monotonic()

    def sample():
        while True:
            ticks = busy_ticks()
            if ticks is not None:
                cpu.append((time.monotonic() - start, ticks))
            if stop.wait(CPU_PERIOD):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines: list[tuple[float, str]] = []
    with open(work / "make_test.log", "w", buffering=1) as log:   # line by line: tail -f it
        process = subprocess.Popen(["make", "test"], cwd=clone, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, errors="replace")
        for line in process.stdout:
            t = time.monotonic() - start
            lines.append((t, line.rstrip("\n")))
            log.write(f"{t:8.1f} {line}")
        code = process.wait()
    end = time.monotonic() - start
    stop.set()
    sampler.join()
    if (ticks := busy_ticks()) is not None:
        cpu.append((end, ticks))
    result.update({
        "exit_code": code, "seconds": round(end, 1),
        "core_seconds": core_seconds(cpu, 0.0, end),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "stages": stages(lines, end, cpu), **details(lines), "goals_seconds": GOALS,
    })
    result["calibration_seconds"]["after"] = calibrate()
    return result


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def report(result: dict) -> str:
    rows = [f"cold make test of {result['rev']} on {result['machine']}: exit {result['exit_code']}, "
            f"{result['seconds']} s, {result['core_seconds']} core-seconds "
            f"(calibration loop {result['calibration_seconds']}, load at start {result['load_average_at_start']})"]
    for name, s in result["stages"].items():
        rows.append(f"  {name:<13} {s['seconds']:7.1f} s  {s['core_seconds'] or 0:7.1f} core-s  "
                    f"{s['mean_busy_cores'] or 0:4.2f} busy cores")
    rows += ["  " + x for x in result["pytest_summaries"]]
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD", help="the commit to clone (default HEAD)")
    parser.add_argument("--work", type=Path, help="folder for the clone and its caches (default: a new temporary one)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS.relative_to(ROOT)})")
    parser.add_argument("--keep", action="store_true", help="keep the clone, its caches and make_test.log")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="cold_make_test_"))
    work.mkdir(parents=True, exist_ok=True)
    if any(work.iterdir()):
        parser.error(f"{work} is not empty: the clone and its caches need a new folder")
    try:
        result = run(args.rev, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(report(result))
    print(f"written to {args.out}" + (f"; clone, caches and make_test.log kept in {work}" if args.keep else ""))
    return 0 if result["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
