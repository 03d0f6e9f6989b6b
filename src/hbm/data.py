"""Loaders for the workbook's data sets, with strict validation.

Every loader returns a :class:`pandas.DataFrame` with the columns documented in
``data/README.md``. A file that does not match its format raises a
:class:`ValueError` naming the file, the column and the row (rows are counted
from 1 after the header, so row ``r`` is line ``r + 1`` of a CSV file).
Nothing is silently dropped or coerced.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
"""The repository's ``data/`` folder."""

# Column kinds: "label" is a non-empty string, "real" a finite number,
# "positive" a finite number > 0, "nonnegative" a finite number >= 0,
# "integer" a whole number.
EIGHT_SCHOOLS = {"school": "label", "y": "real", "sigma": "positive"}
FIVE_DISTRICTS = {
    "district": "label",
    "hours_studied": "real",
    "score_change": "real",
    "score_change_err": "positive",
}
DYSON_SPHERES = {"object_id": "label", "time": "real", "flux": "real", "flux_err": "positive"}
CEPHEIDS = {
    "host": "label",
    "ra": "real",
    "dec": "real",
    "id": "label",
    "period_days": "positive",
    "v_minus_i": "real",
    "sigma_v_minus_i": "positive",
    "H_mag": "real",
    "sigma_H": "positive",
    "metal_minus_8.69": "real",
    "source": "label",
}
GAIA_CLUSTERS = {
    "source_id": "integer",
    "cluster": "label",
    "ra_icrs": "real",
    "dec_icrs": "real",
    "gmag": "real",
    "parallax_mas": "real",
    # Gaia DR2 errors are tabulated to 0.001 mas and a few round to 0.000.
    "parallax_error_mas": "nonnegative",
}


NA_TEXT = ("nan", "na", "null", "none")


def validate(df: pd.DataFrame, columns: dict[str, str], *, source: str = "table",
                   label: str | None = None, first_line: int | None = None) -> pd.DataFrame:
    """Validate a table against a column specification.

    Parameters
    ----------
    df : pandas.DataFrame
        The table; values may be text (as read from a file) or numbers. Columns
        not in ``columns`` are ignored.
    columns : dict of str to str
        Expected column names, in order, mapped to their kind: ``"label"``
        (non-empty text), ``"real"`` (finite number), ``"positive"`` (finite
        number greater than zero), ``"nonnegative"`` (finite number of at least
        zero) or ``"integer"`` (whole number).
    source : str, default "table"
        What the table is (a file name, "light-curve table", ...), for messages.
    label : str, optional
        A label column whose value is named in messages, e.g. ``"object_id"``.
    first_line : int, optional
        Line number of the first row in the file, added to messages.

    Returns
    -------
    pandas.DataFrame
        Only the specified columns, in order: labels as ``str`` objects,
        numbers as ``float64`` (``int64`` for integers), and a fresh ``RangeIndex``.

    Raises
    ------
    ValueError
        If a column is missing, the table has no rows, or a value is empty,
        non-numeric, NaN, infinite or out of its kind's range. The message names
        the source, the column and the row (counted from 1).
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{source}: expected a pandas DataFrame with columns {list(columns)}, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; expected {list(columns)}")
    if len(df) == 0:
        raise ValueError(f"{source}: the table has no data rows")

    def where(column: str, i: int) -> str:
        line = f" (line {first_line + i})" if first_line is not None else ""
        named = f" ({label} {str(df[label].iloc[i]).strip()!r})" if label and label != column else ""
        return f"{source}: column '{column}', row {i + 1}{line}{named}"

    out = {}
    for column, kind in columns.items():
        raw = df[column].reset_index(drop=True)
        text = raw.astype(str).str.strip()
        absent = raw.isna().to_numpy() | text.str.lower().isin(NA_TEXT).to_numpy()
        empty = (text == "").to_numpy()
        if empty.any():
            raise ValueError(f"{where(column, int(np.flatnonzero(empty)[0]))}: empty value")
        if kind == "label":
            if absent.any():
                raise ValueError(f"{where(column, int(np.flatnonzero(absent)[0]))}: missing label")
            out[column] = text.to_numpy(dtype=object)
            continue
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        checks = [
            (np.isnan(values) & ~absent, "is not a number"),
            (np.isnan(values), "is NaN (missing values are not allowed)"),
            (np.isinf(values), "is infinite"),
        ]
        if kind == "positive":
            checks.append((values <= 0, "must be positive (an uncertainty or a period cannot be zero or negative)"))
        if kind == "nonnegative":
            checks.append((values < 0, "must not be negative"))
        if kind == "integer":
            checks.append((values != np.round(values), "must be a whole number"))
        for bad, message in checks:
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{where(column, i)}: value {text.iloc[i]!r} {message}")
        out[column] = text.astype("int64").to_numpy() if kind == "integer" else values
    return pd.DataFrame(out)


def read_table(path: str | Path, columns: dict[str, str], *, sep: str = ",") -> pd.DataFrame:
    """Read a delimited text file and validate it against a column specification.

    Parameters
    ----------
    path : str or pathlib.Path
        The file to read.
    columns : dict of str to str
        Expected column names, in order, mapped to their kind (see
        :func:`validate`).
    sep : str, default ","
        Field separator.

    Returns
    -------
    pandas.DataFrame
        The table, labels as strings and numbers as ``float64`` (``int64`` for
        integers), with a fresh ``RangeIndex``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is empty, has missing or extra columns, or a bad value (see
        :func:`validate`). The message names the file, column, row and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if not path.read_text().strip():
        raise ValueError(f"{path}: the file is empty (expected a header with columns {list(columns)})")
    raw = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True)
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in columns if c not in raw.columns]
    extra = [c for c in raw.columns if c not in columns]
    if missing or extra:
        parts = [f"missing column(s) {missing}"] if missing else []
        parts += [f"unexpected column(s) {extra}"] if extra else []
        raise ValueError(f"{path}: {'; '.join(parts)}; expected exactly {list(columns)}")
    if raw.empty:
        raise ValueError(f"{path}: the file has a header but no data rows")
    return validate(raw, columns, source=str(path), first_line=2)


def _check_no_duplicate_times(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    duplicated = df.duplicated(["object_id", "time"], keep="first").to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        first = int(np.flatnonzero(
            ((df["object_id"] == df["object_id"].iloc[row]) & (df["time"] == df["time"].iloc[row])).to_numpy()
        )[0])
        raise ValueError(
            f"{path}: column 'time', row {row + 1} (line {row + 2}): object {df['object_id'].iloc[row]!r} has time "
            f"{df['time'].iloc[row]} twice (also at row {first + 1}); each observation time must be unique"
        )
    return df.sort_values(["object_id", "time"], kind="stable").reset_index(drop=True)


def load_eight_schools(path: str | Path | None = None) -> pd.DataFrame:
    """Load the Eight Schools data (Rubin 1981; Gelman et al., BDA3 section 5.5).

    Parameters
    ----------
    path : str or pathlib.Path, optional
        A CSV file of the same format; defaults to ``data/eight_schools.csv``.

    Returns
    -------
    pandas.DataFrame
        Columns ``school`` (A-H), ``y`` (estimated coaching effect, points)
        and ``sigma`` (its standard error, points).
    """
    return read_table(path or DATA_DIR / "eight_schools.csv", EIGHT_SCHOOLS)


def load_five_districts(path: str | Path | None = None) -> pd.DataFrame:
    """Load the simulated Five Districts data (27 schools in 5 districts).

    Parameters
    ----------
    path : str or pathlib.Path, optional
        A CSV file of the same format; defaults to ``data/five_districts.csv``.

    Returns
    -------
    pandas.DataFrame
        Columns ``district`` (label), ``hours_studied`` (hours),
        ``score_change`` (points) and ``score_change_err`` (points, > 0), one
        row per school.
    """
    return read_table(path or DATA_DIR / "five_districts.csv", FIVE_DISTRICTS)


def load_dyson_spheres(path: str | Path | None = None) -> pd.DataFrame:
    """Load the simulated Dyson-sphere light curves.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        A CSV file of the same format; defaults to ``data/dyson_spheres.csv``.

    Returns
    -------
    pandas.DataFrame
        Columns ``object_id``, ``time`` (days), ``flux`` and ``flux_err``
        (arbitrary flux units, > 0), sorted by object and time.

    Raises
    ------
    ValueError
        Besides the format errors of :func:`read_table`, if one object has two
        observations at the same time.
    """
    path = Path(path or DATA_DIR / "dyson_spheres.csv")
    return _check_no_duplicate_times(read_table(path, DYSON_SPHERES), path)


def load_cepheids(path: str | Path | None = None) -> pd.DataFrame:
    """Load the SH0ES near-infrared Cepheid photometry (Riess et al. 2022).

    Parameters
    ----------
    path : str or pathlib.Path, optional
        A CSV file of the same format; defaults to
        ``data/shoes_r22_cepheids_nir.csv``.

    Returns
    -------
    pandas.DataFrame
        1858 Cepheids in 22 hosts; columns ``host``, ``ra``, ``dec`` (deg),
        ``id``, ``period_days``, ``v_minus_i``, ``sigma_v_minus_i``, ``H_mag``,
        ``sigma_H`` (mag), ``metal_minus_8.69`` (dex) and ``source``.
    """
    return read_table(path or DATA_DIR / "shoes_r22_cepheids_nir.csv", CEPHEIDS)


def load_gaia_clusters(path: str | Path | None = None) -> pd.DataFrame:
    """Load Gaia DR2 members of nine nearby open clusters (Gaia Collaboration 2018).

    Parameters
    ----------
    path : str or pathlib.Path, optional
        A CSV file of the same format; defaults to
        ``data/gaia_dr2_open_clusters.csv``.

    Returns
    -------
    pandas.DataFrame
        5378 stars; columns ``source_id``, ``cluster``, ``ra_icrs``,
        ``dec_icrs`` (deg), ``gmag`` (mag), ``parallax_mas`` and
        ``parallax_error_mas`` (milliarcseconds). The errors are tabulated to
        0.001 mas, so a few bright stars have ``parallax_error_mas == 0``: add an
        error floor (or the Gaia DR2 systematic of about 0.1 mas) before using
        them in a likelihood.
    """
    return read_table(path or DATA_DIR / "gaia_dr2_open_clusters.csv", GAIA_CLUSTERS)


LONDON_COLUMNS = {
    "VR": ["vr1", "vr2"],
    "School_gender": ["girls_school", "boys_school"],
    "School_denom": ["church_of_england", "roman_catholic", "other_denomination"],
}


def load_london_schools(path: str | Path | None = None) -> pd.DataFrame:
    """Load the BUGS "Schools" data: 1978 pupils in 38 inner-London schools.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        A JSON file in the format of the Stan/BUGS example data; defaults to
        ``data/london_schools.json``.

    Returns
    -------
    pandas.DataFrame
        One row per pupil: ``school`` (1-38, as in BUGS), ``Y`` (standardised
        exam score), ``LRT`` (London Reading Test, centred), ``vr1``, ``vr2``
        (verbal-reasoning bands 1 and 2; band 3 is the baseline), ``girl``,
        ``girls_school``, ``boys_school``, ``church_of_england``,
        ``roman_catholic`` and ``other_denomination`` (0/1 indicators).
        ``df.attrs["R"]`` holds the 3x3 scale matrix of the Wishart prior.
    """
    path = Path(path or DATA_DIR / "london_schools.json")
    raw = json.loads(path.read_text())
    n = raw.get("N")
    columns = {"school": np.asarray(raw["school"]), "Y": np.asarray(raw["Y"], float),
               "LRT": np.asarray(raw["LRT"], float)}
    for key, names in LONDON_COLUMNS.items():
        block = np.asarray(raw[key], float)
        if block.shape != (n, len(names)):
            raise ValueError(f"{path}: key '{key}' has shape {block.shape}, expected ({n}, {len(names)})")
        columns.update({name: block[:, i] for i, name in enumerate(names)})
    columns["girl"] = np.asarray(raw["Gender"], float)
    for name, values in columns.items():
        if values.shape != (n,):
            raise ValueError(f"{path}: '{name}' has {values.size} entries, expected N = {n}")
        if not np.all(np.isfinite(values)):
            row = int(np.flatnonzero(~np.isfinite(values))[0]) + 1
            raise ValueError(f"{path}: '{name}', pupil {row}: value is not finite")
    school = columns["school"]
    if school.min() < 1 or school.max() > raw["M"] or np.any(school != np.round(school)):
        raise ValueError(f"{path}: 'school' must hold whole numbers 1..M = {raw['M']}")
    df = pd.DataFrame(columns).astype({"school": "int64"})
    df.attrs["R"] = np.asarray(raw["R"], float)
    return df


def load_london_published() -> pd.DataFrame:
    """Published OpenBUGS 3.2.3 and MultiBUGS posterior summaries of the Schools model.

    Returns
    -------
    pandas.DataFrame
        Columns ``source``, ``node`` (BUGS names, 1-based), ``mean``, ``sd``,
        ``q2.5``, ``median``, ``q97.5`` and ``draws``.
    """
    return pd.read_csv(DATA_DIR / "london_schools_published.tsv", sep="\t")


def load_truth(name: str) -> dict:
    """Load the true parameters of a simulated data set.

    Parameters
    ----------
    name : {"five_districts", "dyson_spheres"}
        The data set; reads ``data/<name>_truth.json`` written by
        ``python -m hbm.simulate``.

    Returns
    -------
    dict
        The parameters the data were simulated from, and the simulation settings.
    """
    path = DATA_DIR / f"{name}_truth.json"
    if not path.is_file():
        raise ValueError(f"no simulation truth called {name!r} (looked for {path})")
    return json.loads(path.read_text())


LOADERS = {
    "eight_schools": load_eight_schools,
    "five_districts": load_five_districts,
    "dyson_spheres": load_dyson_spheres,
    "cepheids": load_cepheids,
    "gaia_clusters": load_gaia_clusters,
    "london_schools": load_london_schools,
    "london_published": load_london_published,
}


def load(name: str, path: str | Path | None = None) -> pd.DataFrame:
    """Load a data set by name (see :data:`LOADERS` and ``data/README.md``).

    Parameters
    ----------
    name : str
        The data set, e.g. ``"eight_schools"``.
    path : str or pathlib.Path, optional
        A file of the same format to read instead of the shipped one.
    """
    if name not in LOADERS:
        raise ValueError(f"no data set called {name!r}; choose one of {sorted(LOADERS)}")
    return LOADERS[name](path) if path is not None else LOADERS[name]()
