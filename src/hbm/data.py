"""The workbook's data sets: one registry, one loader, strict validation.

Every data set is one entry of :data:`DATASETS` (file, description, schema, citation, licence,
row count and SHA-256 checksum of the shipped file) and is loaded with :func:`load`::

    import hbm
    schools = hbm.data.load("eight_schools")
    mine = hbm.data.load("eight_schools", path="my_schools.csv")   # a file of the same format

Every table is validated against its schema: a file that does not match raises a
:class:`ValueError` naming the file, the column and the row (rows are counted from 1 after the
header, so row ``r`` is line ``r + 1`` of a CSV file). Nothing is silently dropped or coerced.
A load also refuses rows that repeat an earlier row exactly (a repeated block is a copying error
that counts the same measurements twice) and rows that repeat a data set's key (two
observations of one object at the same time, ...). A shipped file must match its checksum; a
file of your own (``path=``) is validated but not checksummed.

Where the files are: ``$HBM_DATA_DIR`` when it is set (a folder holding the shipped files, e.g. a
copy of the repository's ``data/``), otherwise the data shipped with the package
(``hbm/datasets/``: in the repository a symbolic link to ``data/``, in an installed wheel a copy
of it), otherwise the repository's ``data/`` folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hbm.validation import KINDS, NA_TEXT, read_table, refuse_repeated_keys, refuse_repeated_rows, validate

__all__ = [
    "DATASETS", "DATA_DIR", "DATA_DIR_ENV", "Dataset", "KINDS", "NA_TEXT", "data_dir", "file_sha256", "load",
    "load_cepheids", "load_dyson_spheres", "load_eight_schools", "load_five_districts", "load_gaia_clusters",
    "load_london_published", "load_london_schools", "load_truth", "read_table", "refuse_repeated_keys",
    "refuse_repeated_rows", "validate",
]

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR_ENV = "HBM_DATA_DIR"
"""Environment variable naming a folder to read the shipped data sets from instead."""


def _shipped_data_dir() -> Path:
    packaged = PACKAGE_DIR / "datasets"  # repository: symlink to ../../data; wheel: package data
    if packaged.is_dir():
        return packaged.resolve()
    repository = PACKAGE_DIR.parents[1] / "data"  # a checkout whose symlink was not kept
    return repository.resolve() if repository.is_dir() else packaged


DATA_DIR = _shipped_data_dir()
"""The folder of the shipped data sets (the repository's ``data/``, or its copy in the wheel)."""


def data_dir() -> Path:
    """The folder :func:`load` reads shipped data sets from: ``$HBM_DATA_DIR`` or :data:`DATA_DIR`.

    Raises
    ------
    FileNotFoundError
        If ``HBM_DATA_DIR`` is set but is not a folder.
    """
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if not env:
        return DATA_DIR
    folder = Path(env).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{DATA_DIR_ENV}={env!r} is not a folder (it should hold the files of data/)")
    return folder


# ---------------------------------------------------------------------------------------------
# Schemas: column name -> kind (see hbm.validation.KINDS; a kind ending in "?" may be empty).

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
LONDON_SCHOOLS = {
    "school": "integer",
    "Y": "real",
    "LRT": "real",
    "vr1": "indicator",
    "vr2": "indicator",
    "girls_school": "indicator",
    "boys_school": "indicator",
    "church_of_england": "indicator",
    "roman_catholic": "indicator",
    "other_denomination": "indicator",
    "girl": "indicator",
}
LONDON_PUBLISHED = {
    "source": "label",
    "node": "label",
    "mean": "real",
    "sd": "positive",
    "q2.5": "real",
    "median": "real",
    "q97.5": "real",
    "draws": "integer",
}
CEPHEID_HOST_DISTANCES = {
    "host": "label",
    "mu": "real",
    "sigma_mu": "positive?",
    "method": "label",
    "reference": "label",
    "sn": "label?",
    "sn_ra": "real?",
    "sn_dec": "real?",
}

LONDON_COLUMNS = {
    "VR": ["vr1", "vr2"],
    "School_gender": ["girls_school", "boys_school"],
    "School_denom": ["church_of_england", "roman_catholic", "other_denomination"],
}
"""JSON keys of the BUGS Schools data holding several 0/1 columns, and the column names given them."""


@dataclass(frozen=True)
class Dataset:
    """One entry of the data registry (and one section of ``data/README.md``).

    Attributes
    ----------
    name : str
        Registry name, ``hbm.data.load(name)``.
    file : str
        File name in the data folder.
    title : str
        Short title (the datasheet's heading).
    description : str
        What the rows are.
    columns : dict of str to str
        The schema: column name to kind (see :data:`KINDS`; ``"?"`` marks a column that may be empty).
    citation : str
        How to cite it (the datasheet's "Cite" line).
    licence : str
        Its licence (the datasheet's "Licence" line).
    rows : int
        Number of rows of the shipped file.
    sha256 : str
        SHA-256 of the shipped file's bytes (see :func:`file_sha256`).
    key : tuple of str
        Columns that identify a row: no two rows may share them.
    sort_by : tuple of str
        Columns the loaded table is sorted by (stable), if any.
    repeated_rows : str
        Empty, or why exact repeats of a row are legitimate in this data set (then they are allowed).
    truth, truth_sha256 : str
        For a simulated data set: the JSON file of true parameters and its checksum.
    sep : str
        Field separator of a delimited file (``","``; ``"\\t"`` for a TSV file).
    """

    name: str
    file: str
    title: str
    description: str
    columns: dict[str, str]
    citation: str
    licence: str
    rows: int
    sha256: str
    key: tuple[str, ...] = ()
    sort_by: tuple[str, ...] = ()
    repeated_rows: str = ""
    truth: str = ""
    truth_sha256: str = ""
    sep: str = field(default=",", repr=False)


_CC0 = "CC0 1.0 (made for this book)."
DATASETS: dict[str, Dataset] = {d.name: d for d in [
    Dataset(
        "eight_schools", "eight_schools.csv", "Eight Schools (real)",
        "Estimated effects of SAT-V coaching in eight schools and their standard errors.",
        EIGHT_SCHOOLS,
        'Rubin, D. B. (1981), "Estimation in parallel randomized experiments", Journal of Educational '
        "Statistics 6(4), 377-401; as tabulated in Gelman, Carlin, Stern, Dunson, Vehtari and Rubin, "
        "Bayesian Data Analysis, 3rd ed. (2013), table 5.2.",
        "published summary statistics, reproduced for teaching.",
        rows=8, sha256="a1c28881a82a652fba1d3afc6254761fa95fd7f16f2ccab1fc7a7075dc8a8a0e",
        key=("school",)),
    Dataset(
        "five_districts", "five_districts.csv", "Five Districts (simulated)",
        "27 schools in 5 districts: hours of test preparation and mean score change (simulated).",
        FIVE_DISTRICTS,
        "made for this book by python -m hbm.simulate (seed 20240611).",
        _CC0, rows=27, sha256="92e00111c3af87ea5cbe6054a30bd36fcf81da7282d4a8036737ce6dfb4befa5",
        truth="five_districts_truth.json",
        truth_sha256="5c51e4237eeed8d130bdf6d791ad9733a8d2a59a547627646a75e6510b932635"),
    Dataset(
        "dyson_spheres", "dyson_spheres.csv", "Dyson Spheres (simulated)",
        "Light curves of 8 objects, one row per observation (simulated).",
        DYSON_SPHERES,
        "made for this book by python -m hbm.simulate (seed 20240611).",
        _CC0, rows=91, sha256="4b923be043c5e0a73f2def62f1cf4729fcc203919851ffd90f0b4c09748418e3",
        key=("object_id", "time"), sort_by=("object_id", "time"),
        truth="dyson_spheres_truth.json",
        truth_sha256="b5458d785f9cbfd9932fce1b3f4fe450ea5e70aa3caacbb9ca649e549e0b7de9"),
    Dataset(
        "cepheids", "shoes_r22_cepheids_nir.csv", "SH0ES Cepheids (real)",
        "Near-infrared photometry of Cepheids in 22 galaxies, one row per Cepheid.",
        CEPHEIDS,
        'Riess, A. G. et al. (2022), "A Comprehensive Measurement of the Local Value of the Hubble '
        'Constant...", ApJL 934, L7; Yuan, W. et al. (2022), arXiv:2203.06681.',
        "public data release of the SH0ES team, cite as above.",
        rows=1803, sha256="b083a8659fe58e0732853bf46dfeb3cd9873de84817f01c18dd4492129cec3ff"),
    Dataset(
        "gaia_clusters", "gaia_dr2_open_clusters.csv", "Gaia DR2 open clusters (real)",
        "Gaia DR2 members of the nine nearest open clusters, one row per star.",
        GAIA_CLUSTERS,
        'Gaia Collaboration, Babusiaux, C. et al. (2018), "Gaia Data Release 2. Observational '
        'Hertzsprung-Russell diagrams", A&A 616, A10.',
        'CC BY-SA 3.0 IGO. Acknowledgement: "This work has made use of data from the European Space '
        "Agency (ESA) mission Gaia, processed by the Gaia Data Processing and Analysis Consortium "
        '(DPAC)."',
        rows=5378, sha256="99d4ab4688e120c99e09a1b84d48949c8d9fe303182f3fa304a6700f06ba2cde",
        key=("source_id",)),
    Dataset(
        "london_schools", "london_schools.json", "London schools (real)",
        "Exam scores of 1978 pupils in 38 inner-London schools, one row per pupil (BUGS Schools).",
        LONDON_SCHOOLS,
        "Goldstein, H., Rasbash, J., Yang, M., Woodhouse, G., Pan, H., Nuttall, D. and Thomas, S. "
        '(1993), "A multilevel analysis of school examination results", Oxford Review of Education 19, '
        "425-433; Spiegelhalter, D. et al., BUGS Examples Volume 2.",
        "BSD (the licence of stan-dev/example-models, whose copy of the BUGS example data this is).",
        rows=1978, sha256="8a2e88b7cbb30da6971028bac3a695a985e8487963081d90c4f6ba8234302961",
        repeated_rows="pupils carry no identifier and the scores are whole-number test scores (187 "
                      "distinct Y, 70 distinct LRT values), so two pupils of one school can agree on "
                      "every column: the data hold 26 such pairs."),
    Dataset(
        "london_published", "london_schools_published.tsv", "London schools: published posterior summaries",
        "OpenBUGS 3.2.3 and MultiBUGS posterior summaries of the 13 nodes of the BUGS Schools model.",
        LONDON_PUBLISHED,
        "the OpenBUGS 3.2.3 and MultiBUGS manuals, Schools example (BUGS Examples Volume 2).",
        "published values, reproduced for comparison.",
        rows=26, sha256="5af97131e03675b5127896f5df319c544d9e0ee46545c24e42c8c0623bf6b110",
        key=("source", "node"), sep="\t"),
    Dataset(
        "cepheid_host_distances", "cepheid_host_distances.csv", "Published distance moduli of the 22 Cepheid hosts",
        "Published distance moduli of the SH0ES hosts (19 from Pantheon+SH0ES, NGC 4258, LMC, M31).",
        CEPHEID_HOST_DISTANCES,
        'Riess, A. G. et al. (2022), ApJL 934, L7; Brout, D. et al. (2022), "The Pantheon+ Analysis: '
        'Cosmological Constraints", ApJ 938, 110; Reid, M. J., Pesce, D. W. and Riess, A. G. (2019), '
        "ApJL 886, L27; Pietrzynski, G. et al. (2019), Nature 567, 200; Li, S. et al. (2021), ApJ 920, 84.",
        "published values, reproduced for comparison.",
        rows=22, sha256="511618ff321a5fc71918486916e8af7224620e2bef0625337491f29817654bb1",
        key=("host",)),
]}
"""The registry: every data set the book uses (the datasheet ``data/README.md`` describes each)."""

def _read_bugs_schools(path: Path) -> pd.DataFrame:
    """The BUGS Schools JSON (keys N, M, school, Y, LRT, VR, Gender, School_gender, School_denom, R)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    needed = ["N", "M", "R", "school", "Y", "LRT", "Gender", *LONDON_COLUMNS]
    missing = [k for k in needed if not isinstance(raw, dict) or k not in raw]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}; expected {needed}")
    n = raw["N"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{path}: key 'N' must be the number of pupils, got {n!r}")
    columns = {"school": raw["school"], "Y": raw["Y"], "LRT": raw["LRT"]}
    for key, names in LONDON_COLUMNS.items():
        block = raw[key]
        shapes = {len(r) if isinstance(r, list) else None for r in block} if isinstance(block, list) else {None}
        if not isinstance(block, list) or len(block) != n or shapes != {len(names)}:
            raise ValueError(f"{path}: key '{key}' must hold N = {n} rows of {len(names)} values ({', '.join(names)})")
        columns.update({name: [r[i] for r in block] for i, name in enumerate(names)})
    columns["girl"] = raw["Gender"]
    for name, values in columns.items():
        if not isinstance(values, list) or len(values) != n:
            size = len(values) if isinstance(values, list) else type(values).__name__
            raise ValueError(f"{path}: column '{name}' has {size} entries, expected N = {n}")
    df = validate(pd.DataFrame(columns), LONDON_SCHOOLS, source=str(path))
    bad = np.flatnonzero((df["school"] < 1) | (df["school"] > raw["M"]))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{path}: column 'school', row {i + 1}: school {df['school'][i]} is not in 1..M = {raw['M']}")
    scale = np.asarray(raw["R"], dtype=float)
    if scale.shape != (3, 3) or not np.all(np.isfinite(scale)) or not np.allclose(scale, scale.T):
        raise ValueError(f"{path}: key 'R' must be a finite symmetric 3x3 matrix, got {raw['R']!r}")
    df.attrs["R"] = scale
    return df


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, as ``sha256sum`` prints it (``.gitattributes`` keeps git from
    converting the line endings of ``data/``)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _verify_checksum(path: Path, expected: str, name: str) -> None:
    actual = file_sha256(path)
    if actual != expected:
        raise ValueError(
            f"{path}: checksum mismatch for the shipped data set {name!r}: sha256 {actual}, expected "
            f"{expected}. The file was changed or damaged: restore it (git checkout, or reinstall hbm). "
            f"To read a file of your own of the same format, pass path=...; if the shipped file was "
            f"replaced on purpose, update its entry in hbm.data.DATASETS and data/README.md."
        )


def load(name: str, path: str | Path | None = None) -> pd.DataFrame:
    """Load a data set by name, validated against its schema.

    Parameters
    ----------
    name : str
        The data set: one of :data:`DATASETS` (``"eight_schools"``, ``"five_districts"``,
        ``"dyson_spheres"``, ``"cepheids"``, ``"gaia_clusters"``, ``"london_schools"``,
        ``"london_published"``, ``"cepheid_host_distances"``).
    path : str or pathlib.Path, optional
        A file of the same format to read instead of the shipped one (validated, not
        checksummed).

    Returns
    -------
    pandas.DataFrame
        The schema's columns in order (see ``DATASETS[name].columns`` and ``data/README.md``),
        labels as ``str``, numbers as ``float64`` (``int64`` for integers, NaN where an
        optional value is empty), with a fresh ``RangeIndex``; sorted by ``sort_by`` if the
        entry has one. ``london_schools`` also holds the 3x3 Wishart scale matrix in
        ``df.attrs["R"]``.

    Raises
    ------
    ValueError
        For an unknown name; if a shipped file's checksum does not match; if a value, a column
        or a row is wrong (the message names the file, column and row); if a row repeats an
        earlier row exactly or repeats the data set's key.
    FileNotFoundError
        If the file does not exist.
    """
    if name not in DATASETS:
        raise ValueError(f"no data set called {name!r}; choose one of {sorted(DATASETS)}")
    entry = DATASETS[name]
    if path is None:
        path = data_dir() / entry.file
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no such file (data set {name!r}); set {DATA_DIR_ENV} to a folder holding "
                f"the files of the repository's data/, or reinstall hbm")
        _verify_checksum(path, entry.sha256, name)
    path = Path(path)
    if entry.file.endswith(".json"):
        df, first_line = _read_bugs_schools(path), None
    else:
        df, first_line = read_table(path, entry.columns, sep=entry.sep), 2
    if not entry.repeated_rows:
        refuse_repeated_rows(df, source=str(path), first_line=first_line)
    if entry.key:
        refuse_repeated_keys(df, entry.key, source=str(path), first_line=first_line)
    if entry.sort_by:
        df = df.sort_values(list(entry.sort_by), kind="stable").reset_index(drop=True)
    return df


def load_truth(name: str) -> dict:
    """Load the true parameters of a simulated data set.

    Parameters
    ----------
    name : {"five_districts", "dyson_spheres"}
        The data set; reads its ``<name>_truth.json`` written by ``python -m hbm.simulate``
        (checksummed like the data).

    Returns
    -------
    dict
        The parameters the data were simulated from, and the simulation settings.
    """
    entry = DATASETS.get(name)
    if entry is None or not entry.truth:
        simulated = sorted(n for n, d in DATASETS.items() if d.truth)
        raise ValueError(f"no simulation truth called {name!r}; choose one of {simulated}")
    path = data_dir() / entry.truth
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (simulation truth of {name!r})")
    _verify_checksum(path, entry.truth_sha256, f"{name} truth")
    truth = json.loads(path.read_text())
    if not isinstance(truth, dict):
        raise ValueError(f"{path}: expected a JSON object of parameters, got {type(truth).__name__}")
    return truth


# Thin wrappers, one per data set (``load(name, path)`` does the work).

def load_eight_schools(path: str | Path | None = None) -> pd.DataFrame:
    """The Eight Schools data: ``school`` (A-H), ``y`` and ``sigma`` (points). See :func:`load`."""
    return load("eight_schools", path)


def load_five_districts(path: str | Path | None = None) -> pd.DataFrame:
    """The simulated Five Districts data: ``district``, ``hours_studied``, ``score_change``,
    ``score_change_err``, one row per school. See :func:`load`."""
    return load("five_districts", path)


def load_dyson_spheres(path: str | Path | None = None) -> pd.DataFrame:
    """The simulated Dyson-sphere light curves: ``object_id``, ``time`` (days), ``flux``,
    ``flux_err``, sorted by object and time; one object observed twice at one time is refused.
    See :func:`load`."""
    return load("dyson_spheres", path)


def load_cepheids(path: str | Path | None = None) -> pd.DataFrame:
    """The SH0ES near-infrared Cepheid photometry (Riess et al. 2022): 1803 Cepheids in 22 hosts.
    See :func:`load` and ``data/README.md`` for the columns."""
    return load("cepheids", path)


def load_gaia_clusters(path: str | Path | None = None) -> pd.DataFrame:
    """Gaia DR2 members of nine nearby open clusters: 5378 stars. The parallax errors are
    tabulated to 0.001 mas, so a few bright stars have ``parallax_error_mas == 0``: add an error
    floor before using them in a likelihood. See :func:`load`."""
    return load("gaia_clusters", path)


def load_london_schools(path: str | Path | None = None) -> pd.DataFrame:
    """The BUGS "Schools" data, one row per pupil (1978 pupils in 38 schools); the Wishart
    scale matrix is in ``df.attrs["R"]``. See :func:`load`."""
    return load("london_schools", path)


def load_london_published(path: str | Path | None = None) -> pd.DataFrame:
    """Published OpenBUGS 3.2.3 and MultiBUGS posterior summaries of the Schools model:
    ``source``, ``node`` (1-based BUGS names), ``mean``, ``sd``, ``q2.5``, ``median``,
    ``q97.5``, ``draws``. See :func:`load`."""
    return load("london_published", path)
