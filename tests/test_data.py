import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from hbm import data

README = data.DATA_DIR / "README.md"


# --- the registry ------------------------------------------------------------------------------

def test_registry_names():
    assert sorted(data.DATASETS) == sorted([
        "eight_schools", "five_districts", "dyson_spheres", "cepheids", "gaia_clusters",
        "london_schools", "london_published", "cepheid_host_distances"])
    assert sorted(n for n, d in data.DATASETS.items() if d.truth) == ["dyson_spheres", "five_districts"]


@pytest.mark.parametrize("name", sorted(data.DATASETS))
def test_every_entry_is_complete_and_matches_its_file(name):
    entry = data.DATASETS[name]
    assert entry.name == name
    for field in ("file", "title", "description", "citation", "licence"):
        assert getattr(entry, field).strip(), f"{name}: empty {field}"
    assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
    assert data.file_sha256(data.DATA_DIR / entry.file) == entry.sha256
    if entry.truth:
        assert data.file_sha256(data.DATA_DIR / entry.truth) == entry.truth_sha256
    df = data.load(name)
    assert len(df) == entry.rows
    assert list(df.columns) == list(entry.columns)
    assert isinstance(df.index, pd.RangeIndex)
    assert set(entry.key) <= set(entry.columns) and set(entry.sort_by) <= set(entry.columns)


def test_every_shipped_file_is_registered():
    registered = {d.file for d in data.DATASETS.values()} | {d.truth for d in data.DATASETS.values() if d.truth}
    shipped = {p.name for p in data.DATA_DIR.iterdir() if p.is_file()} - {"README.md"}
    assert shipped == registered


def test_chapters_name_registered_data_sets():
    from hbm import chapters

    for chapter in chapters.chapters():
        assert set(chapter.datasets) <= set(data.DATASETS), f"{chapter.slug}: {chapter.datasets}"


def test_load_wrappers_are_the_registry():
    pd.testing.assert_frame_equal(data.load_cepheids(), data.load("cepheids"))
    pd.testing.assert_frame_equal(data.load_london_published(), data.load("london_published"))
    with pytest.raises(ValueError, match=r"no data set called 'nine_schools'; choose one of \["):
        data.load("nine_schools")


# --- the datasheet is checked against the registry -----------------------------------------------

def _datasheet_sections() -> dict[str, tuple[dict[str, str], str]]:
    """Heading -> ({bullet name: text without markup}, raw section text)."""
    sections = {}
    for block in re.split(r"\n(?=## )", README.read_text()):
        head = block.splitlines()[0]
        if not head.startswith("## "):
            continue
        bullets, current = {}, None
        for line in block.splitlines()[1:]:
            match = re.match(r"- \*\*(.+?)\*\*: ?(.*)", line)
            if match:
                current = match.group(1)
                bullets[current] = match.group(2)
            elif current and line.startswith("  ") and line.strip():
                bullets[current] += " " + line.strip()
            else:
                current = None
        plain = {k: re.sub(r"\s+", " ", v.replace("*", "").replace("`", "")).strip() for k, v in bullets.items()}
        sections[head] = (plain, block)
    return sections


@pytest.mark.parametrize("name", sorted(data.DATASETS))
def test_datasheet_agrees_with_the_registry(name):
    entry = data.DATASETS[name]
    found = [(b, text) for head, (b, text) in _datasheet_sections().items() if f"`{entry.file}`" in head]
    assert len(found) == 1, f"data/README.md needs one section whose heading names `{entry.file}`"
    bullets, text = found[0]
    assert f'hbm.data.load("{name}")' in bullets.get("Load", ""), f"{entry.file}: Load line"
    assert re.match(rf"{entry.rows}\b", bullets.get("Rows", "")), f"{entry.file}: Rows line should start {entry.rows}"
    assert bullets.get("Cite") == entry.citation, f"{entry.file}: Cite line differs from DATASETS[{name!r}].citation"
    assert bullets.get("Licence") == entry.licence, f"{entry.file}: Licence line differs from the registry"
    for column in entry.columns:
        assert f"`{column}`" in text, f"{entry.file}: column `{column}` is not described"
    if entry.truth:
        assert f"`{entry.truth}`" in text and f'hbm.data.load_truth("{name}")' in text
    assert ("Repeated rows" in bullets) == bool(entry.repeated_rows)


def test_repeated_rows_are_allowed_only_where_the_data_say_why():
    allowed = {n for n, d in data.DATASETS.items() if d.repeated_rows}
    assert allowed == {"london_schools"}
    pupils = data.load("london_schools")
    pairs = int(pupils.duplicated().sum())
    assert f" {pairs} such pairs" in data.DATASETS["london_schools"].repeated_rows
    assert pupils["Y"].nunique() == 187 and pupils["LRT"].nunique() == 70


# --- where the data are found ---------------------------------------------------------------------

@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A copy of the shipped files in a folder named by HBM_DATA_DIR."""
    folder = tmp_path / "hbm-data"
    shutil.copytree(data.DATA_DIR, folder)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(folder))
    return folder


def test_hbm_data_dir_is_read(data_copy):
    assert data.data_dir() == data_copy
    assert len(data.load("gaia_clusters")) == 5378
    (data_copy / "eight_schools.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"hbm-data/eight_schools.csv: no such file.*HBM_DATA_DIR"):
        data.load("eight_schools")


def test_hbm_data_dir_must_be_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="HBM_DATA_DIR=.*nowhere.* is not a folder"):
        data.load("eight_schools")


def test_a_changed_shipped_file_fails_its_checksum(data_copy):
    path = data_copy / "eight_schools.csv"
    path.write_text(path.read_text().replace("A,28,15", "A,29,15"))
    with pytest.raises(ValueError, match=r"hbm-data/eight_schools.csv: checksum mismatch for the shipped data set "
                                         r"'eight_schools'"):
        data.load("eight_schools")
    # the same file passed as a student's own path is validated, not checksummed
    assert data.load("eight_schools", path)["y"].iloc[0] == 29


def test_a_changed_truth_fails_its_checksum(data_copy):
    path = data_copy / "five_districts_truth.json"
    truth = json.loads(path.read_text())
    truth["seed"] += 1
    path.write_text(json.dumps(truth))
    with pytest.raises(ValueError, match="five_districts_truth.json: checksum mismatch"):
        data.load_truth("five_districts")


# --- repeated rows (issue 14, item 1) -------------------------------------------------------------

def test_the_sh0es_block_of_repeated_m31_rows_is_refused(tmp_path):
    """The release file listed its 55 M31 rows twice (lines 1805-1859 repeated 1681-1735)."""
    lines = (data.DATA_DIR / "shoes_r22_cepheids_nir.csv").read_text().splitlines(keepends=True)
    m31 = [i for i, line in enumerate(lines) if line.startswith("M31,")]
    assert len(m31) == 55 and m31 == list(range(m31[0], m31[0] + 55))
    bad = tmp_path / "shoes_with_repeats.csv"
    bad.write_text("".join(lines + lines[m31[0]:m31[-1] + 1]))
    first, last = m31[0], m31[-1]  # 0-based line indices = 1-based data rows
    with pytest.raises(ValueError, match=(
            rf"shoes_with_repeats.csv: 55 row\(s\) repeat an earlier row exactly: rows 1804-1858 "
            rf"\(lines 1805-1859\) repeat rows {first}-{last} \(lines {first + 1}-{last + 1}\)")):
        data.load("cepheids", bad)
    assert (first, last) == (1680, 1734)
    cepheids = data.load("cepheids")
    assert len(cepheids) == 1803 and (cepheids["host"] == "M31").sum() == 55


def test_scattered_repeats_are_each_named(write_csv):
    rows = ["A,10,3.5,2.0", "B,20,5.0,1.5", "A,10,3.5,2.0", "C,5,1.0,2.5", "B,20,5.0,1.5"]
    text = "district,hours_studied,score_change,score_change_err\n" + "\n".join(rows) + "\n"
    with pytest.raises(ValueError, match=r"bad.csv: 2 row\(s\) repeat an earlier row exactly: row 3 \(line 4\) "
                                         r"repeats row 1 \(line 2\); row 5 \(line 6\) repeats row 2 \(line 3\)"):
        data.load("five_districts", write_csv(text))
    # the same values written differently are the same row
    with pytest.raises(ValueError, match=r"row 2 \(line 3\) repeats row 1"):
        data.load("five_districts", write_csv(text.replace("B,20,5.0,1.5", "A,10.0,3.50,2", 1)))


def test_repeated_key_is_refused(write_csv):
    text = "school,y,sigma\nA,1,2\nB,3,4\nA,5,6\n"
    with pytest.raises(ValueError, match=r"column 'school', row 3 \(line 4\): school 'A' twice \(also at row 1\)"):
        data.load("eight_schools", write_csv(text))


def test_dyson_duplicate_time_in_one_object(write_csv):
    text = "object_id,time,flux,flux_err\nX,1.0,5,0.1\nY,1.0,5,0.1\nX,2.0,6,0.1\nX,1.0,7,0.1\n"
    with pytest.raises(ValueError, match=r"column 'time', row 4 \(line 5\): object_id 'X' has time 1.0 twice "
                                         r"\(also at row 1\)"):
        data.load_dyson_spheres(write_csv(text))


def test_dyson_unsorted_times_are_sorted_not_dropped(write_csv):
    text = "object_id,time,flux,flux_err\nX,3.0,5,0.1\nX,1.0,6,0.1\nX,2.0,7,0.1\n"
    df = data.load_dyson_spheres(write_csv(text))
    assert df["time"].tolist() == [1.0, 2.0, 3.0] and df["flux"].tolist() == [6, 7, 5]


# --- the shipped data ------------------------------------------------------------------------------

def test_eight_schools_values():
    df = data.load_eight_schools()
    assert df["school"].tolist() == list("ABCDEFGH")
    assert df["y"].tolist() == [28, 8, -3, 7, -1, 1, 18, 12]
    assert df["sigma"].tolist() == [15, 10, 16, 11, 9, 11, 10, 18]


def test_five_districts_structure():
    df = data.load_five_districts()
    sizes = df["district"].value_counts()
    assert sorted(sizes.index) == list("ABCDE")
    assert sizes.min() <= 3


def test_dyson_spheres_structure():
    df = data.load_dyson_spheres()
    sizes = df.groupby("object_id").size()
    assert len(sizes) >= 5
    assert sizes.between(8, 15).all()
    assert df.groupby("object_id")["time"].apply(lambda t: t.is_monotonic_increasing).all()


def test_real_data_facts():
    cep = data.load_cepheids()
    counts = cep["host"].value_counts()
    assert len(counts) == 22 and counts.min() == 9 and counts.max() == 443
    gaia = data.load_gaia_clusters()
    assert gaia["cluster"].nunique() == 9
    assert gaia["source_id"].dtype == np.int64 and gaia["source_id"].min() > 2**53  # parsed exactly, not as floats
    london = data.load_london_schools()
    assert london["school"].nunique() == 38 and london["school"].dtype == np.int64
    assert london.attrs["R"].shape == (3, 3)
    published = data.load_london_published()
    assert set(published["source"]) == {"OpenBUGS-3.2.3", "MultiBUGS"}
    assert published["draws"].dtype == np.int64


def test_cepheid_host_distances():
    hosts = data.load("cepheid_host_distances")
    assert sorted(hosts["host"]) == sorted(data.load_cepheids()["host"].unique())
    with_sn = hosts.dropna(subset=["sn"])
    assert len(with_sn) == 19 and with_sn["sigma_mu"].isna().all()
    anchors = hosts.set_index("host").loc[["N4258", "LMC", "M31"]]
    assert anchors["sigma_mu"].notna().all() and anchors["sn"].isna().all()
    assert hosts.set_index("host").loc["N4258", "mu"] == 29.397


def test_truths_match_their_data():
    fd = data.load_truth("five_districts")
    assert sum(fd["schools_per_district"].values()) == len(data.load_five_districts())
    ds = data.load_truth("dyson_spheres")
    assert sorted(ds["objects"]) == sorted(data.load_dyson_spheres()["object_id"].unique())
    with pytest.raises(ValueError, match=r"no simulation truth called 'nine_districts'; choose one of"):
        data.load_truth("nine_districts")


# --- validation of a file of one's own -------------------------------------------------------------

GOOD = "district,hours_studied,score_change,score_change_err\nA,10,3.5,2.0\nB,20,5.0,1.5\n"


def test_student_csv_of_the_same_format(write_csv):
    df = data.load_five_districts(write_csv(GOOD))
    assert df["district"].tolist() == ["A", "B"]
    assert df["score_change_err"].dtype == float


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("", r"bad\.csv: the file is empty"),
        ("district,hours_studied,score_change,score_change_err\n", "header but no data rows"),
        ("district,hours_studied,score_change\nA,1,2\n", r"missing column\(s\) \['score_change_err'\]"),
        (GOOD.replace("score_change_err\n", "score_change_err,extra\n").replace("2.0\n", "2.0,1\n").replace("1.5\n", "1.5,1\n"),
         r"unexpected column\(s\) \['extra'\]"),
        (GOOD.replace("B,20,", "B,twenty,"), r"column 'hours_studied', row 2 \(line 3\): value 'twenty' is not a number"),
        (GOOD.replace("B,20,5.0", "B,20,NaN"), r"column 'score_change', row 2 \(line 3\).*NaN"),
        (GOOD.replace("A,10,3.5,2.0", "A,10,3.5,"), r"column 'score_change_err', row 1 \(line 2\): empty value"),
        (GOOD.replace("1.5\n", "0\n"), r"column 'score_change_err', row 2 \(line 3\).*must be positive"),
        (GOOD.replace("2.0\n", "-2.0\n"), r"column 'score_change_err', row 1 \(line 2\).*must be positive"),
        (GOOD.replace("B,20,5.0", "B,inf,5.0"), r"column 'hours_studied', row 2.*infinite"),
    ],
)
def test_bad_csv_errors_name_file_column_and_row(write_csv, text, pattern):
    with pytest.raises(ValueError, match=pattern):
        data.load_five_districts(write_csv(text))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.csv"):
        data.load_eight_schools(tmp_path / "nothere.csv")


HOSTS = ",".join(data.CEPHEID_HOST_DISTANCES)


@pytest.mark.parametrize(
    "name, header, row, pattern",
    [
        ("eight_schools", "school,y,sigma", "A,28,-15", "column 'sigma', row 1.*positive"),
        ("dyson_spheres", "object_id,time,flux,flux_err", "X,1.0,nan,0.1", "column 'flux', row 1.*NaN"),
        ("cepheids", ",".join(data.CEPHEIDS),
         "M101,210.9,54.3,1,-6.8,0.91,0.11,24.04,0.44,0.05,HST", "column 'period_days', row 1.*positive"),
        ("cepheids", ",".join(c for c in data.CEPHEIDS if c != "host"),
         "210.9,54.3,1,6.8,0.91,0.11,24.04,0.44,0.05,HST", r"missing column\(s\) \['host'\]"),
        ("gaia_clusters", ",".join(data.GAIA_CLUSTERS),
         "1.5,Hyades,64.8,21.7,12.8,20.8,0.03", "column 'source_id', row 1.*whole number"),
        ("gaia_clusters", ",".join(data.GAIA_CLUSTERS),
         "1,Hyades,64.8,21.7,12.8,20.8,-0.03", "column 'parallax_error_mas', row 1.*negative"),
        # the published tables are validated too
        ("cepheid_host_distances", HOSTS, "M101,,,Cepheids,Riess,2011fe,210.7,54.3",
         r"column 'mu', row 1 \(line 2\): empty value"),
        ("cepheid_host_distances", HOSTS, "M101,29.1,-0.1,Cepheids,Riess,,,",
         r"column 'sigma_mu', row 1 \(line 2\).*must be positive"),
        ("cepheid_host_distances", HOSTS, "M101,29.1,,Cepheids,Riess,2011fe,east,54.3",
         r"column 'sn_ra', row 1 \(line 2\): value 'east' is not a number"),
        ("cepheid_host_distances", HOSTS, "M101,29.1,,,Riess,,,", r"column 'method', row 1 \(line 2\): empty value"),
    ],
)
def test_every_data_set_is_validated(write_csv, name, header, row, pattern):
    with pytest.raises(ValueError, match=pattern):
        data.load(name, write_csv(f"{header}\n{row}\n"))


def test_host_distances_may_leave_optional_values_empty(write_csv):
    df = data.load("cepheid_host_distances", write_csv(f"{HOSTS}\nM101,29.1,,Cepheids,Riess,,,\n"))
    assert np.isnan(df["sigma_mu"].iloc[0]) and pd.isna(df["sn"].iloc[0]) and df["mu"].iloc[0] == 29.1
    with pytest.raises(ValueError, match=r"column 'host', row 2 \(line 3\): host 'M101' twice \(also at row 1\)"):
        data.load("cepheid_host_distances", write_csv(f"{HOSTS}\nM101,29.1,,A,B,,,\nM101,29.2,,A,B,,,\n"))


def test_published_london_table_is_validated(tmp_path):
    lines = (data.DATA_DIR / "london_schools_published.tsv").read_text().splitlines()
    bad = tmp_path / "published.tsv"
    bad.write_text("\n".join([lines[0], lines[1], lines[2].replace("\t0.05973\t", "\t-0.05973\t")]) + "\n")
    with pytest.raises(ValueError, match=r"published.tsv: column 'sd', row 2 \(line 3\).*must be positive"):
        data.load("london_published", bad)
    bad.write_text("\n".join([lines[0], lines[1], lines[1].replace("2.603E-4", "2.7E-4")]) + "\n")
    with pytest.raises(ValueError, match=r"column 'node', row 2 \(line 3\): source 'OpenBUGS-3.2.3' has node "
                                         r"'beta\[1\]' twice"):
        data.load("london_published", bad)


def _london(tmp_path, edit):
    raw = json.loads((data.DATA_DIR / "london_schools.json").read_text())
    edit(raw)
    path = tmp_path / "schools.json"
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.parametrize(
    "edit, pattern",
    [
        (lambda r: r["VR"][2].__setitem__(0, 2), r"column 'vr1', row 3: value '2(\.0)?' must be 0 or 1"),
        (lambda r: r["Y"].__setitem__(4, None), r"column 'Y', row 5.*NaN"),
        (lambda r: r["school"].__setitem__(0, 39), r"column 'school', row 1: school 39 is not in 1..M = 38"),
        (lambda r: r["LRT"].pop(), r"column 'LRT' has 1977 entries, expected N = 1978"),
        (lambda r: r.pop("Gender"), r"missing key\(s\) \['Gender'\]"),
        (lambda r: r.__setitem__("R", [[1, 0], [0, 1]]), r"key 'R' must be a finite symmetric 3x3 matrix"),
    ],
)
def test_london_json_is_validated(tmp_path, edit, pattern):
    path = _london(tmp_path, edit)
    with pytest.raises(ValueError, match=pattern) as caught:
        data.load("london_schools", path)
    assert "schools.json" in str(caught.value)


def test_validate_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match=r"unknown column kind\(s\) \{'x': 'reall'\}"):
        data.validate(pd.DataFrame({"x": [1.0]}), {"x": "reall"})
