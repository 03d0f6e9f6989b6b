"""The recorded Gibbs benchmark of the repository, as a table for the chapter.

``benchmarks/bench_gibbs.py`` (run by hand, several minutes) times the vectorised sampler of
:mod:`hbm.school_rankings.gibbs` against a per-pupil loop and compares its effective draws per
second with NUTS, writing ``benchmarks/results/bench_gibbs.json``. That file belongs to the
repository, not to the ``hbm`` package: :func:`gibbs_benchmark` finds it beside the package's
source tree and, where it is absent (an installed ``hbm``, the student edition), says so and
returns a table without numbers.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pandas as pd

BENCH_FILE = Path(__file__).resolve().parents[3] / "benchmarks" / "results" / "bench_gibbs.json"
"""Where the repository keeps the recorded benchmark (``src/hbm/school_rankings`` -> root)."""

ROWS = {
    "Gibbs sweep, vectorised (ms)": ("sweep", "vectorised_ms"),
    "Gibbs sweep, loop over pupils (ms)": ("sweep", "loop_ms"),
    "sweep speed-up, vectorised over loop": ("sweep", "speed_ratio"),
    "Gibbs: smallest bulk ESS per CPU second": ("gibbs", "ess_per_cpu_second"),
    "NUTS: smallest bulk ESS per CPU second": ("nuts_marginal", "ess_per_cpu_second"),
    "textbook Gibbs sweep, vectorised (ms)": ("sweep_textbook", "vectorised_ms"),
    "textbook Gibbs: smallest bulk ESS per CPU second": ("gibbs_textbook", "ess_per_cpu_second"),
}
"""The rows of :func:`gibbs_benchmark` and where each comes from in the JSON file."""


def gibbs_benchmark(path: str | Path | None = None) -> pd.DataFrame:
    """The recorded benchmark as a one-column table (``value``), rows :data:`ROWS`.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        The JSON file; by default :data:`BENCH_FILE`.

    Returns
    -------
    pandas.DataFrame
        Indexed by measure; ``attrs`` hold the ``date`` and ``machine`` of the run. A measure the
        file lacks is NaN. If the file does not exist, every value is NaN and a ``UserWarning``
        says where the numbers come from.
    """
    path = BENCH_FILE if path is None else Path(path)
    if path.is_file():
        results = json.loads(path.read_text())
    else:
        warnings.warn(f"no recorded benchmark at {path}: the numbers come from the repository's "
                      "benchmarks/bench_gibbs.py (run it there to record them); they are not part of "
                      "the hbm package or the student edition", UserWarning, stacklevel=2)
        results = {}
    values = {}
    for row, (group, key) in ROWS.items():
        value = results.get(group, {}).get(key) if isinstance(results.get(group), dict) else None
        values[row] = float(value) if isinstance(value, (int, float)) else math.nan
    table = pd.DataFrame({"value": values})
    table.index.name = "measure"
    table.attrs = {"date": results.get("date", ""), "machine": results.get("machine", "")}
    return table
