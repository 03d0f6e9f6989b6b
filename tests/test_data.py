import numpy as np
import pandas as pd
import pytest

from hbm import data


@pytest.mark.parametrize(
    "loader, rows, columns",
    [
        (data.load_eight_schools, 8, list(data.EIGHT_SCHOOLS)),
        (data.load_five_districts, 27, list(data.FIVE_DISTRICTS)),
        (data.load_dyson_spheres, None, list(data.DYSON_SPHERES)),
        (data.load_cepheids, 1858, list(data.CEPHEIDS)),
        (data.load_gaia_clusters, 5378, list(data.GAIA_CLUSTERS)),
        (data.load_london_schools, 1978, None),
    ],
)
def test_loaders_read_the_real_files(loader, rows, columns):
    df = loader()
    assert isinstance(df, pd.DataFrame)
    if rows is not None:
        assert len(df) == rows
    if columns is not None:
        assert list(df.columns) == columns
    numeric = df.select_dtypes("number")
    assert np.isfinite(numeric.to_numpy()).all()


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
    assert gaia["source_id"].dtype == np.int64
    london = data.load_london_schools()
    assert london["school"].nunique() == 38
    assert london.attrs["R"].shape == (3, 3)
    published = data.load_london_published()
    assert set(published["source"]) == {"OpenBUGS-3.2.3", "MultiBUGS"}
    assert len(published) == 26


def test_truths_match_their_data():
    fd = data.load_truth("five_districts")
    assert sum(fd["schools_per_district"].values()) == len(data.load_five_districts())
    ds = data.load_truth("dyson_spheres")
    assert sorted(ds["objects"]) == sorted(data.load_dyson_spheres()["object_id"].unique())
    with pytest.raises(ValueError, match="no simulation truth"):
        data.load_truth("nine_districts")


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


@pytest.mark.parametrize(
    "loader, header, row, pattern",
    [
        (data.load_eight_schools, "school,y,sigma", "A,28,-15", "column 'sigma', row 1.*positive"),
        (data.load_dyson_spheres, "object_id,time,flux,flux_err", "X,1.0,nan,0.1", "column 'flux', row 1.*NaN"),
        (data.load_cepheids, ",".join(data.CEPHEIDS),
         "M101,210.9,54.3,1,-6.8,0.91,0.11,24.04,0.44,0.05,HST", "column 'period_days', row 1.*positive"),
        (data.load_cepheids, ",".join(c for c in data.CEPHEIDS if c != "host"),
         "210.9,54.3,1,6.8,0.91,0.11,24.04,0.44,0.05,HST", r"missing column\(s\) \['host'\]"),
        (data.load_gaia_clusters, ",".join(data.GAIA_CLUSTERS),
         "1.5,Hyades,64.8,21.7,12.8,20.8,0.03", "column 'source_id', row 1.*whole number"),
        (data.load_gaia_clusters, ",".join(data.GAIA_CLUSTERS),
         "1,Hyades,64.8,21.7,12.8,20.8,-0.03", "column 'parallax_error_mas', row 1.*negative"),
    ],
)
def test_every_loader_validates(write_csv, loader, header, row, pattern):
    with pytest.raises(ValueError, match=pattern):
        loader(write_csv(f"{header}\n{row}\n"))


def test_dyson_duplicate_time_in_one_object(write_csv):
    text = "object_id,time,flux,flux_err\nX,1.0,5,0.1\nY,1.0,5,0.1\nX,2.0,6,0.1\nX,1.0,7,0.1\n"
    with pytest.raises(ValueError, match=r"column 'time', row 4.*'X' has time 1.0 twice \(also at row 1\)"):
        data.load_dyson_spheres(write_csv(text))


def test_dyson_unsorted_times_are_sorted_not_dropped(write_csv):
    text = "object_id,time,flux,flux_err\nX,3.0,5,0.1\nX,1.0,6,0.1\nX,2.0,7,0.1\n"
    df = data.load_dyson_spheres(write_csv(text))
    assert df["time"].tolist() == [1.0, 2.0, 3.0] and df["flux"].tolist() == [6, 7, 5]
