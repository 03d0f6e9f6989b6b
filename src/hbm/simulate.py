"""Simulate the workbook's two synthetic data sets, with their true parameters.

Run ``python -m hbm.simulate`` to (re)write ``data/five_districts.csv``,
``data/dyson_spheres.csv`` and, beside each, ``*_truth.json``. The output is
bit-for-bit reproducible: a fixed seed, NumPy's PCG64 generator and fixed
number formatting.

``python -m hbm.simulate --seed N --out DIR`` draws a second data set from the same generator
into ``DIR`` (data and truths side by side) and never touches ``data/``; read it with
``hbm.data.load("five_districts", path=DIR / "five_districts.csv")``. Another seed without
``--out`` is refused: it would overwrite the shipped files (and their checksums).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from hbm.data import DATA_DIR
from hbm.dyson_spheres.simulate import POPULATION as DYSON_POPULATION  # noqa: F401
from hbm.dyson_spheres.simulate import simulate_light_curves as dyson_spheres
from hbm.five_districts.simulate import five_districts

SEED = 20240611
"""The seed both data sets are drawn with."""

def _write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, float_format="%.4f", lineterminator="\n")


def _write_json(obj: dict, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_all(directory: str | Path = DATA_DIR, seed: int = SEED) -> list[Path]:
    """Simulate both data sets and write them, with their truths, to ``directory``.

    Parameters
    ----------
    directory : str or pathlib.Path, default the repository's ``data/``
        Output folder (created if needed).
    seed : int, default :data:`SEED`
        Seed of the generator; each data set gets its own child stream.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    district_rng, dyson_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    written = []
    for name, (df, truth) in {"five_districts": five_districts(district_rng),
                              "dyson_spheres": dyson_spheres(dyson_rng)}.items():
        truth["seed"] = seed
        _write_csv(df, directory / f"{name}.csv")
        _write_json(truth, directory / f"{name}_truth.json")
        written += [directory / f"{name}.csv", directory / f"{name}_truth.json"]
    return written


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: ``python -m hbm.simulate [--out DIR] [--seed N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="output folder (default: the repository's data/)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    args = parser.parse_args(argv)
    if args.out is None and args.seed != SEED:
        parser.error(f"--seed {args.seed} would overwrite the shipped data in {DATA_DIR}: give --out DIR")
    for path in write_all(DATA_DIR if args.out is None else args.out, args.seed):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
