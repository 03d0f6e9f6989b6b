"""Chapter time budgets (from each slice's ``chapter.toml``), the ``make timings`` table, recorded times.

Timing is a report, not a gate: a chapter's ``budget_seconds`` is its expected run time on the
reference 2-core machine. ``make timings`` prints each notebook's time beside its budget and the
build report records both; a test fails only on a runaway (a notebook over :data:`RUNAWAY`
times its budget), and nothing fails because a machine is slower or busier than the reference.

Usage::

    python -m hbm_book.timings                      # print the table of the last build
    python -m hbm_book.timings --record benchmarks/results/chapter_times.json
    python -m hbm_book.timings --chapter-builds --record benchmarks/results/chapter_times.json

The second form merges the reports of single-chapter builds (``make chapter NB=...``), for
when no forced build of the whole book exists yet; it records no whole-build time.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

from hbm_book import ROOT, read_json, write_json

REPORT = "_build/exec_report.json"
"""Where :mod:`hbm_book.build_report` writes the report of ``make book`` / ``make test``."""

CHAPTER_TIMES = ROOT / "benchmarks" / "results" / "chapter_times.json"
"""The chapter times recorded by ``make record-results`` (shown on the instructors page)."""

OTHER_NOTEBOOK_BUDGET = 60
"""Budget of any other executed page (appendices, front matter), in seconds."""

RUNAWAY = 3
"""A notebook that runs longer than this many times its budget is a runaway: the budget test fails."""

WARM_BUDGET = 60
"""Longest acceptable wall time of ``make book`` when nothing changed (``make warm-rebuild``)."""


def budgets() -> dict[str, float]:
    """``notebook -> budget_seconds`` of every chapter, from its ``chapter.toml``."""
    from hbm.chapters import chapters

    return {c.notebook: c.budget_seconds for c in chapters()}


def stem(docname: str) -> str:
    """``book/01_eight_schools`` -> ``01_eight_schools``."""
    return docname.rsplit("/", 1)[-1]


def budget(docname: str) -> float:
    """The time budget of a notebook, in seconds."""
    return budgets().get(stem(docname), OTHER_NOTEBOOK_BUDGET)


def load_report(path: str = REPORT) -> dict:
    """Read the execution report of the last build."""
    return read_json(path, "build the book first (make book, make build-force or make test)")


def problems(report: dict, *, require_forced: bool = True) -> list[str]:
    """Runaways and failures in a build report; empty when all is well.

    A notebook fails here only when its execution failed or took more than :data:`RUNAWAY` times
    its budget: a slow or busy machine is not a failure (the table shows it).

    Parameters
    ----------
    report : dict
        The content of ``_build/exec_report.json``.
    require_forced : bool, default True
        Demand that the report comes from a forced build in which every chapter was
        executed, so that its times are those of a cold build.
    """
    build, notebooks = report["build"], report["notebooks"]
    found = []
    if require_forced and build["execution_mode"] != "force":
        found.append(f"the last build used execution mode {build['execution_mode']!r}, not a forced "
                     "build: run make build-force (or make test) first")
    for chapter in budgets():
        key = f"book/{chapter}"
        if key not in notebooks:
            found.append(f"{chapter}: not in the build report (was it built?)")
        elif require_forced and not notebooks[key]["executed_in_this_build"]:
            found.append(f"{chapter}: not executed in the last build, so its time is not a cold time")
    for docname, data in notebooks.items():
        if not data["succeeded"]:
            found.append(f"{stem(docname)}: execution failed ({data.get('method')})")
        elif data["runtime"] is None:
            found.append(f"{stem(docname)}: no execution time recorded")
        elif data["runtime"] > RUNAWAY * budget(docname):
            found.append(f"{stem(docname)}: executed in {data['runtime']:.0f} s, more than {RUNAWAY} times its "
                         f"budget of {budget(docname):.0f} s (a runaway)")
    return found


def table(report: dict) -> str:
    """The report as a plain-text table, one row per notebook, with the budgets."""
    build, notebooks = report["build"], report["notebooks"]
    rows = [("notebook", "seconds", "budget", "", "executed in this build", "mode")]
    for docname, data in notebooks.items():
        runtime = data["runtime"]
        if runtime is None or not data["succeeded"]:
            verdict = "FAILED"
        elif runtime > RUNAWAY * budget(docname):
            verdict = "RUNAWAY"
        else:
            verdict = "over" if runtime > budget(docname) else "ok"
        rows.append((stem(docname), "-" if runtime is None else f"{runtime:.1f}", f"{budget(docname):.0f}", verdict,
                     "yes" if data["executed_in_this_build"] else "no (cached)", str(data["method"])))
    total = sum(d["runtime"] or 0 for d in notebooks.values())
    rows.append(("all notebooks", f"{total:.1f}", "", "", "", ""))
    rows.append(("sum of chapter builds" if "source" in build else "whole build (wall)", f"{build['seconds']:.1f}",
                 "", "", f"{build['documents_read']} pages read", build["execution_mode"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i in (0, 4, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 2, "-" * len(lines[0]))
    machine = build["machine"]
    load = machine.get("load_average")
    lines.append(f"built {build['started']} on {machine['cpu']} ({machine['cores']} cores), "
                 f"load average at the end {', '.join(f'{x:.2f}' for x in load) if load else 'unknown'}")
    lines.append(f"budgets: each chapter's budget_seconds (chapter.toml), a report; a notebook fails only "
                 f"over {RUNAWAY} times its budget (RUNAWAY); 'over' is a slow run, not a failure")
    return "\n".join(lines)


def recorded_times(path: str | Path = CHAPTER_TIMES) -> dict:
    """The chapter times recorded by ``make record-results`` (see :func:`chapter_times`)."""
    return read_json(path, "record them after a forced build: make build-force record-results")


def chapter_times(report: dict) -> dict:
    """The record written to ``benchmarks/results/chapter_times.json`` from a forced build.

    Chapter stems map to execution seconds; ``build_seconds``, ``budgets`` and
    ``machine`` describe the build.
    """
    found = problems(report, require_forced=True)
    not_cold = [p for p in found if "not executed" in p or "execution mode" in p or "not in the build" in p]
    if not_cold:
        raise ValueError("the last build cannot be recorded: " + "; ".join(not_cold))
    record = {stem(d): round(v["runtime"], 1) for d, v in report["notebooks"].items()}
    record["build_seconds"] = None if "source" in report["build"] else round(report["build"]["seconds"], 1)
    if "source" in report["build"]:
        record["source"] = report["build"]["source"]
    elif report["build"].get("notebooks_at_a_time", 1) > 1:
        record["source"] = (f"one forced build of the whole book, {report['build']['notebooks_at_a_time']} notebooks "
                            "at a time, so each time includes sharing the cores with another notebook; "
                            "a chapter run alone takes less")
    record["budgets"] = budgets()
    record["machine"] = report["build"]["machine"]
    return record


CHAPTER_REPORTS = "_build/chapters/*/_build/exec_report.json"
"""Where ``make chapter`` builds leave their execution reports."""


def merge_chapter_reports(paths: list[str]) -> dict:
    """One report from single-chapter forced builds: each chapter's time from its own build.

    The merged report's ``build.seconds`` is the sum of the chapters' times (not a
    whole-build wall time) and its ``build.source`` says so.
    """
    notebooks, machines = {}, []
    for path in sorted(paths):
        report = load_report(path)
        if report["build"]["execution_mode"] != "force":
            continue
        machines.append((report["build"]["started"], report["build"]["machine"]))
        for docname, data in report["notebooks"].items():
            if stem(docname) in budgets() and data["executed_in_this_build"] and data["succeeded"]:
                notebooks[docname] = data
    if not notebooks:
        raise ValueError(f"no forced single-chapter build report among {paths}")
    started, machine = max(machines, key=lambda m: m[0])
    return {"build": {"seconds": sum(d["runtime"] for d in notebooks.values()), "started": started,
                      "execution_mode": "force", "documents_read": len(notebooks),
                      "source": "single-chapter builds (make chapter), merged; no whole-book build time",
                      "machine": machine},
            "notebooks": dict(sorted(notebooks.items()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", default=REPORT, help="execution report (default %(default)s)")
    parser.add_argument("--record", metavar="JSON", help="write the chapter times of the last forced build here")
    parser.add_argument("--chapter-builds", action="store_true",
                        help=f"merge the reports of single-chapter builds ({CHAPTER_REPORTS}) instead")
    args = parser.parse_args(argv)
    try:
        report = merge_chapter_reports(glob.glob(CHAPTER_REPORTS)) if args.chapter_builds else load_report(args.report)
        print(table(report))
        if args.record:
            write_json(args.record, chapter_times(report))
            print(f"wrote {args.record}")
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    found = problems(report, require_forced=report["build"]["execution_mode"] == "force")
    for p in found:
        print(f"problem: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
