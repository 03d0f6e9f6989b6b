"""Sphinx extension: write ``<build dir>/exec_report.json`` at the end of every book build.

The report holds, for each notebook, myst-nb's execution data (run time in seconds,
execution mode, success) and whether it was executed during *this* build (rather than
taken from the execution cache or from an earlier build), plus the build's wall time
measured from the moment Sphinx loaded this extension. ``make timings`` prints it and
``tests/book/test_budget.py`` checks it against the chapters' time budgets.

Enable it in ``_config.yml`` under ``sphinx: extra_extensions: [hbm_book.build_report]``.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from hbm_book import machine_info, write_json

REPORT_NAME = "exec_report.json"


def _read_started(app, env, docnames) -> None:
    app._hbm_read_docs = set(docnames)


def _write_report(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    env = app.env
    started = app._hbm_started
    metadata = getattr(env, "nb_metadata", {})
    read = getattr(app, "_hbm_read_docs", set())
    notebooks = {}
    for docname in sorted(metadata):
        data = metadata[docname].get("exec_data")
        if not data:
            continue
        executed = docname in read and data.get("mtime", 0) >= started - 1
        notebooks[docname] = {
            "runtime": data.get("runtime"),
            "method": data.get("method"),
            "succeeded": data.get("succeeded"),
            "executed_in_this_build": executed,
            "executed_at": datetime.fromtimestamp(data["mtime"], timezone.utc).isoformat(timespec="seconds")
            if data.get("mtime") else None,
        }
    report = {
        "build": {
            "seconds": round(time.time() - started, 2),
            "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
            "execution_mode": app.config.nb_execution_mode,
            "documents_read": len(read),
            "outdir": str(app.outdir),
            "machine": machine_info(),
        },
        "notebooks": notebooks,
    }
    write_json(Path(app.outdir).parent / REPORT_NAME, report)


def setup(app):
    app._hbm_started = time.time()
    app.connect("env-before-read-docs", _read_started)
    app.connect("build-finished", _write_report)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
