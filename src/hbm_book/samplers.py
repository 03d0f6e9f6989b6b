"""Reading ``benchmarks/results/samplers.json`` (made by ``benchmarks/samplers.py``) for the appendix."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from hbm_book import ROOT

RESULTS = ROOT / "benchmarks" / "results" / "samplers.json"
"""Where ``make benchmark-samplers`` writes its measurements."""

SAMPLER_NAMES = {"pymc": "PyMC NUTS", "nutpie": "nutpie (numba)"}


def load_record(path: str | Path = RESULTS) -> dict:
    """The sampler benchmark's record (``machine``, ``settings``, ``chapters``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run make benchmark-samplers")
    return json.loads(path.read_text())


def table(record: dict):
    """One row per chapter and sampler: times, ESS and diagnostics; chapters not measured are left out.

    Returns
    -------
    pandas.DataFrame
        Indexed by (chapter, sampler).
    """
    import pandas as pd

    rows = []
    for chapter, by_sampler in record["chapters"].items():
        for sampler, r in by_sampler.items():
            if "error" in r:
                continue
            rows.append({
                "chapter": chapter, "sampler": SAMPLER_NAMES.get(sampler, sampler),
                "free parameters": r["n_free_parameters"], "wall (s)": r["wall_seconds"],
                "compile + setup (s)": r["compile_and_setup_seconds"], "sampling (s)": r["sampling_seconds"],
                "min bulk ESS": r["min_ess_bulk"], "ESS/s sampling": r["ess_per_second"],
                "ESS/s wall": r["ess_per_wall_second"], "max R-hat": r["max_r_hat"],
                "divergences": r["divergences"],
            })
    columns = ["chapter", "sampler", "free parameters", "wall (s)", "compile + setup (s)", "sampling (s)",
               "min bulk ESS", "ESS/s sampling", "ESS/s wall", "max R-hat", "divergences"]
    return pd.DataFrame(rows, columns=columns).set_index(["chapter", "sampler"])


def not_measured(record: dict) -> dict[str, str]:
    """Chapter/sampler pairs that failed or were missing, with the reason."""
    return {f"{c} / {s}": r["error"] for c, by in record["chapters"].items() for s, r in by.items() if "error" in r}


def converged(result: dict, *, rhat_max: float = 1.01, ess_min: float = 400) -> bool:
    """Whether a run finished with every R-hat at most ``rhat_max`` and every bulk ESS at least ``ess_min``."""
    return "error" not in result and result["max_r_hat"] <= rhat_max and result["min_ess_bulk"] >= ess_min


def unconverged(record: dict) -> list[str]:
    """``chapter / sampler`` of every finished run that did not converge (see :func:`converged`)."""
    return [f"{c} / {s}" for c, by in record["chapters"].items() for s, r in by.items()
            if "error" not in r and not converged(r)]


def agreement(record: dict) -> dict[str, float]:
    """Per chapter where both samplers converged: the largest difference of a posterior mean between
    them, in units of its Monte Carlo standard error ``sqrt(mcse_pymc**2 + mcse_nutpie**2)``."""
    out = {}
    for chapter, by in record["chapters"].items():
        if not (converged(by.get("pymc", {"error": ""})) and converged(by.get("nutpie", {"error": ""}))):
            continue
        p, n = by["pymc"].get("posterior"), by["nutpie"].get("posterior")
        if not p or not n:
            continue
        z = [abs(p[k][0] - n[k][0]) / math.hypot(p[k][1], n[k][1]) for k in p.keys() & n.keys()
             if math.hypot(p[k][1], n[k][1]) > 0]
        if z:
            out[chapter] = max(z)
    return out


TIMED_OUT = re.compile(r"timed out after (\d+(?:\.\d+)?) s")


def _timeout(result: dict) -> float | None:
    """The time limit a run exceeded (``benchmarks/samplers.py`` stops it there), else None."""
    match = TIMED_OUT.match(result.get("error", ""))
    return float(match.group(1)) if match else None


def verdicts(record: dict, book_sampler: str | None = None):
    """Per chapter measured with both samplers: which is faster end to end, by how much, and what the book uses.

    A run stopped at the time limit counts as slower than a run that finished within it;
    its ratios are then lower bounds, shown as ``> x``.

    Returns
    -------
    pandas.DataFrame
        Indexed by chapter, with ``faster end to end``, ``wall ratio PyMC / nutpie``,
        ``ESS/s ratio nutpie / PyMC`` and, when ``book_sampler`` (``"pymc"`` or ``"nutpie"``, the
        one :func:`hbm.sampling.sample` chooses for every chapter) is given, ``book uses``.
    """
    import pandas as pd

    rows = []
    for chapter, by in record["chapters"].items():
        p, n = by.get("pymc", {}), by.get("nutpie", {})
        if "wall_seconds" in p and "wall_seconds" in n:
            row = {"chapter": chapter,
                   "faster end to end": SAMPLER_NAMES["nutpie"] if n["wall_seconds"] < p["wall_seconds"] else SAMPLER_NAMES["pymc"],
                   "wall ratio PyMC / nutpie": round(p["wall_seconds"] / n["wall_seconds"], 2),
                   "ESS/s ratio nutpie / PyMC": round(n["ess_per_second"] / p["ess_per_second"], 1)}
        elif _timeout(p) and n.get("wall_seconds", math.inf) < _timeout(p):
            row = {"chapter": chapter, "faster end to end": SAMPLER_NAMES["nutpie"],
                   "wall ratio PyMC / nutpie": f"> {_timeout(p) / n['wall_seconds']:.1f}",
                   "ESS/s ratio nutpie / PyMC": "PyMC timed out"}
        elif _timeout(n) and p.get("wall_seconds", math.inf) < _timeout(n):
            row = {"chapter": chapter, "faster end to end": SAMPLER_NAMES["pymc"],
                   "wall ratio PyMC / nutpie": f"< {p['wall_seconds'] / _timeout(n):.2f}",
                   "ESS/s ratio nutpie / PyMC": "nutpie timed out"}
        else:
            continue
        if book_sampler is not None:
            row["book uses"] = SAMPLER_NAMES[book_sampler]
        rows.append(row)
    return pd.DataFrame(rows).set_index("chapter") if rows else pd.DataFrame()
