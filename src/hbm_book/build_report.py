"""Sphinx extension: the build report and the key numbers, written at the end of every HTML build.

- ``<build dir>/exec_report.json``: for each notebook, myst-nb's execution data (run time in
  seconds, execution mode, success), whether it was executed during *this* build (rather than
  taken from the execution cache or from an earlier build) and its time budget
  (``budget_seconds`` of its ``chapter.toml``; a report, not a gate), plus the build's wall time
  measured from the moment Sphinx loaded this extension. In ``make build-force`` the notebooks
  run first, side by side, in :mod:`hbm_book.execute`; its record (``$HBM_EXECUTION_RECORD``) then
  gives the start, the run times and the execution mode ``force``. ``make timings`` prints it and
  ``tests/book/test_budget.py`` fails only on a runaway chapter (over 3 times its budget).
- ``$HBM_SUMMARY_DIR/key_numbers.json`` (default ``<build dir>/summary/``): every value the
  notebooks glued, read back from the executed notebooks in ``<build dir>/jupyter_execute/``
  (:mod:`hbm_book.summary`), with the machine and package versions.

Enable it in ``_config.yml`` under ``sphinx: extra_extensions: [hbm_book.build_report]``.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

from sphinx.util import logging

from hbm_book import machine_info, read_json, summary, write_json
from hbm_book.execute import RECORD_ENV
from hbm_book.timings import budget

REPORT_NAME = "exec_report.json"


def _read_started(app, env, docnames) -> None:
    app._hbm_read_docs = set(docnames)


def _prerun_record() -> dict | None:
    """The record of :mod:`hbm_book.execute` when ``$HBM_EXECUTION_RECORD`` names one."""
    path = os.environ.get(RECORD_ENV)
    return read_json(path, "run python -m hbm_book.execute --record FILE first") if path else None


def _write_report(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    env = app.env
    started = app._hbm_started
    mode = app.config.nb_execution_mode
    metadata = getattr(env, "nb_metadata", {})
    read = getattr(app, "_hbm_read_docs", set())
    prerun = _prerun_record()
    if prerun:  # make build-force: hbm_book.execute ran the notebooks into a fresh cache just before
        started, mode = prerun["started"], "force"
    notebooks = {}
    for docname in sorted(metadata):
        data = metadata[docname].get("exec_data")
        if not data:
            continue
        executed = docname in prerun["notebooks"] if prerun else (docname in read and data.get("mtime", 0) >= started - 1)
        notebooks[docname] = {
            "runtime": data.get("runtime"),
            "budget_seconds": budget(docname),
            "method": f"force ({prerun['jobs']} at a time)" if prerun and docname in prerun["notebooks"]
            else data.get("method"),
            "succeeded": data.get("succeeded"),
            "executed_in_this_build": executed,
            "executed_at": datetime.fromtimestamp(data["mtime"], timezone.utc).isoformat(timespec="seconds")
            if data.get("mtime") else None,
        }
    report = {
        "build": {
            "seconds": round(time.time() - started, 2),
            "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
            "execution_mode": mode,
            "notebooks_at_a_time": prerun["jobs"] if prerun else 1,
            "documents_read": len(read),
            "outdir": str(app.outdir),
            "machine": machine_info(),
        },
        "notebooks": notebooks,
    }
    build_dir = Path(app.outdir).parent
    write_json(build_dir / REPORT_NAME, report)
    executed = sorted(d for d in env.found_docs if str(env.doc2path(d)).endswith(".ipynb"))
    path = summary.write_summary(build_dir, executed)
    logging.getLogger(__name__).info(f"key numbers of {len(executed)} notebooks written to {path}")


def setup(app):
    app._hbm_started = time.time()
    app.connect("env-before-read-docs", _read_started)
    app.connect("build-finished", _write_report)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
