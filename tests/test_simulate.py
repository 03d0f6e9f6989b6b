import json

from hbm import data, simulate


def test_simulation_is_bit_for_bit_reproducible(tmp_path):
    written = simulate.write_all(tmp_path)
    assert {p.name for p in written} == {
        "five_districts.csv", "five_districts_truth.json", "dyson_spheres.csv", "dyson_spheres_truth.json"}
    for path in written:
        assert path.read_bytes() == (data.DATA_DIR / path.name).read_bytes(), f"{path.name} differs from data/"


def test_another_seed_gives_other_data(tmp_path):
    simulate.write_all(tmp_path, seed=1)
    assert (tmp_path / "five_districts.csv").read_bytes() != (data.DATA_DIR / "five_districts.csv").read_bytes()
    assert json.loads((tmp_path / "dyson_spheres_truth.json").read_text())["seed"] == 1


def test_simulated_files_load_and_follow_their_truth(tmp_path):
    simulate.write_all(tmp_path)
    fd = data.load_five_districts(tmp_path / "five_districts.csv")
    truth = json.loads((tmp_path / "five_districts_truth.json").read_text())
    assert fd["district"].value_counts().to_dict() == truth["schools_per_district"]
    ds = data.load_dyson_spheres(tmp_path / "dyson_spheres.csv")
    truth = json.loads((tmp_path / "dyson_spheres_truth.json").read_text())
    assert len(truth["objects"]) == ds["object_id"].nunique() >= 5
    for obj in truth["objects"].values():
        assert abs(obj["period"] * obj["frequency"] - 1) < 1e-4


def test_command_line(tmp_path, capsys):
    simulate.main(["--out", str(tmp_path)])
    assert "five_districts.csv" in capsys.readouterr().out
