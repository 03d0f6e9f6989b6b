"""Round trip of the student edition: put the solutions back into the stubs and run every chapter.

``make student-roundtrip`` (``python -m hbm_book.student_roundtrip [--nb 01_eight_schools]``) exports
the student edition into a temporary folder (:func:`hbm_book.student.export`), replaces every code
stub by the solution cells it was made from (the export records them), and runs each notebook from
the top with ``nbclient``, in the edition's folder, with the edition's own copy of ``hbm`` and
``data/`` (``PYTHONPATH=<edition>/src``) and ``HBM_QUIET=1``. A chapter passes when every cell runs
and every self-check cell shows PASS (one per check call) and no FAIL.

``alternatives`` answers chosen exercises with other code than the book's (other names for every
temporary, the same announced names): the run then proves that later cells need only the names the
exercise text announces.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

from hbm_book import ROOT
from hbm_book import student

PROBE = "import json, hbm, hbm.data\nprint(json.dumps([hbm.__file__, str(hbm.data.DATA_DIR)]))"


@dataclass
class RunResult:
    """The outcome of running one restored student notebook."""

    notebook: str
    seconds: float = 0.0
    error: str | None = None
    """``"cell N: Name: message"`` of the first failing cell, else None."""
    checks: list[str] = field(default_factory=list)
    """Every self-check line printed (``PASS [...] ...`` / ``FAIL [...] ...``)."""
    problems: list[str] = field(default_factory=list)
    """Self-check cells that showed a FAIL or fewer PASS lines than check calls."""
    hbm_file: str = ""
    data_dir: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None and not self.problems

    def line(self) -> str:
        status = "PASS" if self.ok else "FAIL"
        n = len(self.checks)
        passed = "no self-checks (ran to the end)" if n == 0 else f"{n} self-check{'s' * (n != 1)} passed"
        detail = self.error or "; ".join(self.problems) or passed
        return f"{self.notebook:28s} {self.seconds:7.1f} s  {status}  {detail}"


def restore(nb, stubs: dict[int, list[str]], exercises: list[student.Exercise] | None = None,
            alternatives: dict[str, str] | None = None):
    """A copy of a student notebook with each code stub replaced by its solution cells' code.

    ``alternatives`` maps an exercise label to code answering it instead: its first stub gets that
    code, its other code stubs become empty.
    """
    out = nbformat.from_dict(json.loads(json.dumps(nb)))
    owner: dict[int, str] = {}
    if alternatives:
        heads = {e.heading: e.label for e in exercises or []}
        label = None
        for index, cell in enumerate(out.cells):
            if cell.cell_type == "markdown":
                label = next((lab for head, lab in heads.items() if cell.source.startswith(head)
                              or f"\n{head}" in cell.source), label)
            elif index in stubs:
                owner[index] = label
        missing = set(alternatives) - set(owner.values())
        if missing:
            raise ValueError(f"no code stub belongs to the exercises {sorted(missing)}")
    used = set()
    for index, sources in stubs.items():
        cell = out.cells[index]
        assert cell.cell_type == "code" and cell.source == student.CODE_STUB, (index, cell.source)
        label = owner.get(index)
        if alternatives and label in alternatives:
            cell.source = "" if label in used else alternatives[label]
            used.add(label)
        else:
            cell.source = "\n\n".join(sources)
    return out


def _text(outputs) -> str:
    parts = []
    for output in outputs:
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        else:
            plain = output.get("data", {}).get("text/plain", "")
            parts.append("".join(plain) if isinstance(plain, list) else plain)
    return "\n".join(parts)


async def _run(nb, folder: Path, name: str, timeout: int) -> RunResult:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    env = dict(os.environ, PYTHONPATH=str(folder / "src"), HBM_QUIET="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
    probe = new_code_cell(PROBE)
    nb.cells.append(probe)
    result = RunResult(name)
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout, resources={"metadata": {"path": str(folder)}})
    start = time.perf_counter()
    async with client.async_setup_kernel(env=env):
        for index, cell in enumerate(nb.cells[:-1]):
            if cell.cell_type != "code":
                continue
            try:
                await client.async_execute_cell(cell, index)
            except CellExecutionError as err:
                result.error = f"cell {index}: {err.ename}: {err.evalue}"[:400]
                break
            calls = student.CHECK_CALL.findall(cell.source)
            if calls:
                text = _text(cell.outputs)
                lines = re.findall(r"^(?:PASS|FAIL) \[.*$", text, re.M)
                result.checks += lines
                failed = [line for line in lines if line.startswith("FAIL")]
                if failed or len(lines) < len(calls):
                    result.problems.append(f"cell {index} ({', '.join(calls)}): "
                                           + ("; ".join(failed) if failed else f"{len(lines)} PASS for {len(calls)} checks"))
        result.seconds = time.perf_counter() - start
        await client.async_execute_cell(probe, len(nb.cells) - 1)
    nb.cells.pop()
    result.hbm_file, result.data_dir = json.loads(_text(probe.outputs))
    return result


def run_notebook(nb, folder: str | Path, name: str = "notebook", timeout: int = 900) -> RunResult:
    """Run a (restored) student notebook from the top in a fresh kernel in ``folder`` (see module docstring)."""
    return asyncio.run(_run(nb, Path(folder), name, timeout))


def roundtrip(notebooks: list[str] | None = None, *, out: str | Path | None = None, root: str | Path = ROOT,
              chapters: list[tuple[Path, int | None]] | None = None, alternatives: dict[str, str] | None = None,
              report=None) -> list[RunResult]:
    """Export the student edition, put the solutions back and run the chosen chapters one after another.

    Parameters
    ----------
    notebooks : list of str, optional
        Notebook stems to run (``["01_eight_schools"]``); by default every exported chapter.
    out : path, optional
        Where to export the edition (replaced); by default a temporary folder, removed afterwards.
    chapters : list of (path, number), optional
        The notebooks to export (as for :func:`hbm_book.student.export`); by default the book's.
    alternatives : dict, optional
        Exercise label -> code answering it instead of the book's solution (see :func:`restore`).
    report : callable, optional
        Called with each :class:`RunResult` as soon as it is known (``print`` for a live report).
    """
    with tempfile.TemporaryDirectory(prefix="hbm-roundtrip-") as tmp:
        folder = Path(out) if out is not None else Path(tmp) / "student"
        edition = student.export(folder, root=root, notebooks=chapters)
        results = []
        for name, stubs in edition.stubs.items():
            if notebooks and Path(name).stem not in notebooks:
                continue
            nb = nbformat.read(folder / name, as_version=4)
            mine = [e for e in edition if e.notebook == name]
            restored = restore(nb, stubs, mine, alternatives)
            result = run_notebook(restored, folder, name)
            results.append(result)
            if report is not None:
                report(result)
        return results


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m hbm_book.student_roundtrip [--nb 01_eight_schools] [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m hbm_book.student_roundtrip", description=__doc__.split("\n\n")[0])
    parser.add_argument("--nb", action="append", help="a chapter to run (repeatable); default: all")
    parser.add_argument("--out", help="export the edition here and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)
    nbs = [n.removesuffix(".ipynb") for n in args.nb or [] if n]
    print("notebook                     time      result")
    results = roundtrip(nbs or None, out=args.out, report=lambda r: print(r.line(), flush=True))
    if not results:
        raise SystemExit(f"no chapter matches {nbs}")
    failed = [r.notebook for r in results if not r.ok]
    print(f"{len(results) - len(failed)} of {len(results)} chapters ran to the end with every self-check passing")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    sys.exit(main())
