"""Validation of tables: every value of its kind, no repeated rows, errors naming file, column and row.

:func:`validate` checks a DataFrame against a schema (column name -> kind), :func:`read_table`
reads a delimited file and validates it, :func:`refuse_repeated_rows` and
:func:`refuse_repeated_keys` refuse repeats. The data registry (:mod:`hbm.data`) uses them for every
data set, and the chapters' own ``validate_<what>`` functions build on :func:`validate`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

KINDS = ("label", "real", "positive", "nonnegative", "integer", "indicator")
"""Column kinds: "label" is non-empty text, "real" a finite number, "positive" a finite number > 0,
"nonnegative" a finite number >= 0, "integer" a whole number, "indicator" 0 or 1. A kind ending in
"?" may be empty (read as NaN)."""

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
        zero), ``"integer"`` (whole number) or ``"indicator"`` (0 or 1). A kind
        ending in ``"?"`` (``"positive?"``) may be empty; empty values become NaN.
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
    unknown = {c: k for c, k in columns.items() if k.rstrip("?") not in KINDS}
    if unknown:
        raise ValueError(f"unknown column kind(s) {unknown}; choose from {list(KINDS)} (optionally ending in '?')")
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
    for column, spec in columns.items():
        kind, optional = spec.rstrip("?"), spec.endswith("?")
        raw = df[column].reset_index(drop=True)
        text = raw.astype(str).str.strip()
        absent = raw.isna().to_numpy() | text.str.lower().isin(NA_TEXT).to_numpy()
        empty = (text == "").to_numpy()
        if optional:
            absent |= empty
        elif empty.any():
            raise ValueError(f"{where(column, int(np.flatnonzero(empty)[0]))}: empty value")
        if kind == "label":
            if absent.any() and not optional:
                raise ValueError(f"{where(column, int(np.flatnonzero(absent)[0]))}: missing label")
            out[column] = np.where(absent, np.nan, text.to_numpy(dtype=object))
            continue
        values = pd.to_numeric(raw.where(~absent), errors="coerce").to_numpy(dtype=float)
        finite = np.isfinite(values)  # range checks look at numbers only; NaN and inf fail first
        checks = [(np.isnan(values) & ~absent, "is not a number")]
        if not optional:
            checks.append((np.isnan(values), "is NaN (missing values are not allowed)"))
        checks.append((np.isinf(values), "is infinite"))
        if kind == "positive":
            checks.append((finite & (values <= 0),
                           "must be positive (an uncertainty or a period cannot be zero or negative)"))
        if kind == "nonnegative":
            checks.append((finite & (values < 0), "must not be negative"))
        if kind == "integer":
            checks.append((finite & (values != np.round(values)), "must be a whole number"))
        if kind == "indicator":
            checks.append((finite & (values != 0) & (values != 1), "must be 0 or 1"))
        for bad, message in checks:
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{where(column, i)}: value {text.iloc[i]!r} {message}")
        out[column] = _as_integers(raw, text, values) if kind == "integer" else values
    return pd.DataFrame(out)


def _as_integers(raw: pd.Series, text: pd.Series, values: np.ndarray) -> np.ndarray:
    # Whole numbers written as integers are parsed from their text (Gaia source ids exceed the
    # 2**53 that a float holds exactly); numbers given as floats (1.0) are converted.
    if pd.api.types.is_integer_dtype(raw):
        return raw.to_numpy(dtype="int64")
    try:
        return text.astype("int64").to_numpy()
    except (ValueError, OverflowError):
        return values.astype("int64")


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


def _describe_runs(pairs: list[tuple[int, int]], first_line: int | None) -> list[str]:
    """'rows 1804-1858 (lines 1805-1859) repeat rows 1680-1734 (...)' from (row, original) pairs."""
    runs: list[list[tuple[int, int]]] = []
    for row, original in pairs:
        if runs and row == runs[-1][-1][0] + 1 and original == runs[-1][-1][1] + 1:
            runs[-1].append((row, original))
        else:
            runs.append([(row, original)])

    def span(a: int, b: int, word: str) -> str:
        lines = "" if first_line is None else (
            f" (line {a + first_line - 1})" if a == b else f" (lines {a + first_line - 1}-{b + first_line - 1})")
        return f"{word} {a}{lines}" if a == b else f"{word}s {a}-{b}{lines}"

    return [f"{span(run[0][0], run[-1][0], 'row')} {'repeats' if len(run) == 1 else 'repeat'} "
            f"{span(run[0][1], run[-1][1], 'row')}" for run in runs]


def refuse_repeated_rows(df: pd.DataFrame, *, source: str = "table", first_line: int | None = None) -> None:
    """Raise if a row of ``df`` repeats an earlier row exactly.

    Parameters
    ----------
    df : pandas.DataFrame
        A validated table.
    source : str
        The file, for the message.
    first_line : int, optional
        Line number of the first row in the file, added to the message.

    Raises
    ------
    ValueError
        Naming the file and the repeated rows, blocks of consecutive repeats as one range
        (``rows 1804-1858 (lines 1805-1859) repeat rows 1680-1734 (lines 1681-1735)``).
    """
    repeated = df.duplicated(keep="first").to_numpy()
    if not repeated.any():
        return
    group = df.groupby(list(df.columns), dropna=False, sort=False).ngroup().to_numpy()
    first: dict[int, int] = {}
    pairs = []
    for i, g in enumerate(group):
        if g in first:
            pairs.append((i + 1, first[g] + 1))
        else:
            first[g] = i
    runs = _describe_runs(pairs, first_line)
    shown = "; ".join(runs[:5]) + (f"; and {len(runs) - 5} more" if len(runs) > 5 else "")
    raise ValueError(
        f"{source}: {len(pairs)} row(s) repeat an earlier row exactly: {shown}. A repeated row counts "
        f"the same measurement twice (usually a copying error): remove the repeats."
    )


def refuse_repeated_keys(df: pd.DataFrame, key: tuple[str, ...], *, source: str = "table",
                         first_line: int | None = None) -> None:
    """Raise if two rows of ``df`` share the values of the ``key`` columns.

    Raises
    ------
    ValueError
        Naming the source, the last key column, the row (and line) and the earlier row it repeats:
        ``column 'time', row 4 (line 5): object_id 'X' has time 1.0 twice (also at row 1)``.
    """
    repeated = df.duplicated(list(key), keep="first").to_numpy()
    if not repeated.any():
        return
    row = int(np.flatnonzero(repeated)[0])
    same = np.ones(len(df), dtype=bool)
    for column in key:
        same &= (df[column] == df[column].iloc[row]).to_numpy()
    first = int(np.flatnonzero(same)[0])
    line = f" (line {row + first_line})" if first_line is not None else ""
    def shown(column: str) -> str:
        value = df[column].iloc[row]
        return repr(value) if isinstance(value, str) else f"{value.item() if hasattr(value, 'item') else value}"

    *group, last = key
    owner = "".join(f"{c} {shown(c)} has " for c in group)
    raise ValueError(
        f"{source}: column '{last}', row {row + 1}{line}: {owner}{last} {shown(last)} twice "
        f"(also at row {first + 1}); each ({', '.join(key)}) must be unique"
    )
