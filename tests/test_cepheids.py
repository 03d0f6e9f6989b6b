import hbm  # noqa: I001  (first: it links PyTensor to OpenBLAS before PyMC is imported)
import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest

from hbm import cepheids, checks, data

FEW = ["N4258", "M101", "N4424"]


@pytest.fixture(scope="module")
def raw():
    return data.load_cepheids()


@pytest.fixture(scope="module")
def prepared(raw):
    return cepheids.prepare(raw)


# --- the loader, from this chapter's side --------------------------------------------------

def _cepheid_csv(write_csv, rows, columns=tuple(data.CEPHEIDS)):
    return write_csv(",".join(columns) + "\n" + "\n".join(rows) + "\n")


@pytest.mark.parametrize("period", ["0", "-6.85", "0.0"])
def test_loader_rejects_non_positive_periods(write_csv, period):
    good = "M101,210.9,54.3,1,6.85,0.91,0.11,24.04,0.44,0.05,HST"
    bad = f"M101,210.9,54.3,2,{period},0.91,0.11,24.04,0.44,0.05,HST"
    path = _cepheid_csv(write_csv, [good, bad])
    with pytest.raises(ValueError, match=r"column 'period_days', row 2 \(line 3\).*must be positive"):
        data.load_cepheids(path)


def test_loader_rejects_a_missing_host_column(write_csv):
    columns = [c for c in data.CEPHEIDS if c != "host"]
    path = _cepheid_csv(write_csv, ["210.9,54.3,1,6.85,0.91,0.11,24.04,0.44,0.05,HST"], columns)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['host'\]"):
        data.load_cepheids(path)


def test_a_valid_student_csv_goes_through_prepare(write_csv):
    rows = ["N4258,184.7,47.3,1,10.0,1.0,0.1,23.0,0.3,-0.1,HST",
            "N4258,184.7,47.3,2,100.0,1.0,0.1,20.0,0.3,-0.1,HST"]
    prepared = cepheids.prepare(data.load_cepheids(_cepheid_csv(write_csv, rows)))
    assert prepared["log_p"].tolist() == pytest.approx([0.0, 1.0])
    assert prepared["m_W"].tolist() == pytest.approx([23.0 - 0.386, 20.0 - 0.386])


# --- data preparation ----------------------------------------------------------------------

def test_wesenheit_formula(raw):
    w = cepheids.wesenheit(raw)
    row = raw.iloc[0]
    assert w["m_W"].iloc[0] == pytest.approx(row["H_mag"] - 0.386 * row["v_minus_i"])
    assert w["sigma_W"].iloc[0] == pytest.approx(np.sqrt(row["sigma_H"] ** 2 + (0.386 * row["sigma_v_minus_i"]) ** 2))
    assert (w["sigma_W"] >= raw["sigma_H"]).all()


def test_prepare_all_hosts(prepared, raw):
    assert len(prepared) == len(raw) == 1858
    sizes = prepared.groupby("host", observed=True).size()
    assert len(sizes) == 22 and sizes.min() == 9 and sizes.max() == 443
    assert list(prepared["host"].cat.categories) == list(pd.unique(raw["host"]))
    assert (prepared["n_host"] == prepared["host"].map(sizes).astype(int)).all()
    assert prepared["log_p"].between(-0.5, 1.5).all()


def test_prepare_subset_keeps_the_requested_order(raw):
    sub = cepheids.prepare(raw, FEW)
    assert list(sub["host"].cat.categories) == FEW
    assert sub["host"].tolist() == sorted(sub["host"].tolist(), key=FEW.index)
    assert len(sub) == 443 + 259 + 9


@pytest.mark.parametrize("hosts, pattern", [
    (["N4258", "Nowhere"], r"host\(s\) \['Nowhere'\] not in the data"),
    (["N4258", "N4258"], "repeated"),
    ([], "empty"),
])
def test_prepare_rejects_bad_hosts(raw, hosts, pattern):
    with pytest.raises(ValueError, match=pattern):
        cepheids.prepare(raw, hosts)


def test_prepare_rejects_missing_columns(raw):
    with pytest.raises(ValueError, match=r"missing column\(s\) \['H_mag'\]"):
        cepheids.prepare(raw.drop(columns="H_mag"))


# --- model builders ------------------------------------------------------------------------

@pytest.mark.parametrize("hosts", [FEW, None], ids=["subset", "all"])
@pytest.mark.parametrize("slopes", cepheids.SLOPES)
def test_builders_on_a_subset_and_on_all_hosts(raw, hosts, slopes):
    d = cepheids.prepare(raw, hosts)
    model = cepheids.build_leavitt_model(d, slopes=slopes)
    n_hosts = d["host"].nunique()
    assert list(model.coords["host"]) == list(d["host"].cat.categories)
    assert len(model.coords["cepheid"]) == len(d)
    free = {v.name for v in model.free_RVs}
    assert {"level", "sigma_int", "gamma", "mu_anchor"} <= free
    expected = {"pooled": {"slope"}, "independent": {"slope"}, "partial": {"slope_pop", "slope_sd", "slope_z"}}[slopes]
    assert expected <= free
    assert np.isfinite(model.compile_logp()(model.initial_point()))
    prior = pm.sample_prior_predictive(draws=20, model=model, random_seed=1).prior
    assert prior["mu"].sizes["host"] == n_hosts
    # The anchor's distance modulus is mu_anchor by construction, and every
    # host's modulus is its zero point minus the shared absolute zero point.
    np.testing.assert_allclose(prior["mu"].sel(host="N4258"), prior["mu_anchor"], atol=1e-9)
    np.testing.assert_allclose(prior["mu"], prior["zp"] - prior["M_W"], atol=1e-9)


def test_builder_without_metallicity_and_centred(prepared):
    model = cepheids.build_leavitt_model(prepared, metallicity=False, noncentred=False)
    names = {v.name for v in model.free_RVs}
    assert "gamma" not in names and "slope" in names and "slope_z" not in names


@pytest.mark.parametrize("kwargs, pattern", [
    ({"slopes": "shared"}, "slopes must be one of"),
    ({"anchor": "LMC"}, r"anchor 'LMC' must be among the hosts"),
    ({"anchor_sigma": 0.0}, "anchor_sigma must be positive"),
])
def test_builder_rejects_bad_options(raw, kwargs, pattern):
    sub = cepheids.prepare(raw, FEW)
    with pytest.raises(ValueError, match=pattern):
        cepheids.build_leavitt_model(sub, **kwargs)


def test_builder_rejects_missing_columns(prepared):
    with pytest.raises(ValueError, match=r"missing column\(s\) \['sigma_W'\]"):
        cepheids.build_leavitt_model(prepared.drop(columns="sigma_W"))


@pytest.fixture(scope="module")
def pooled_fixed_scatter(raw):
    """The pooled model on three hosts with sigma_int fixed, sampled briefly."""
    sub = cepheids.prepare(raw, FEW)
    model = pm.do(cepheids.build_leavitt_model(sub, slopes="pooled"), {"sigma_int": 0.05})
    idata = hbm.sampling.sample(model, random_seed=4, draws=500, tune=500, chains=2, progressbar=False)
    return sub, model, idata


def test_sampler_matches_the_exact_pooled_posterior(pooled_fixed_scatter):
    sub, _, idata = pooled_fixed_scatter
    exact = cepheids.pooled_least_squares(sub, sigma_int=0.05)
    post = idata.posterior
    for host in FEW:
        draws = post["zp"].sel(host=host).values.ravel()
        row = exact.loc[f"zp[{host}]"]
        assert abs(draws.mean() - row["mean"]) < 0.15 * row["sd"]
        assert draws.std() == pytest.approx(row["sd"], rel=0.15)
    for name in ("slope", "gamma"):
        draws = post[name].values.ravel()
        assert abs(draws.mean() - exact.loc[name, "mean"]) < 0.15 * exact.loc[name, "sd"]
        assert draws.std() == pytest.approx(exact.loc[name, "sd"], rel=0.15)


def test_host_residual_check(pooled_fixed_scatter):
    sub, model, idata = pooled_fixed_scatter
    table = cepheids.host_residual_check(idata, model, sub, draws=100, random_seed=1)
    assert list(table.index) == FEW
    assert (table["n"] == [443, 259, 9]).all()
    assert table["p_value"].between(0, 1).all()
    assert (table["rep_lo"] <= table["rep_median"]).all() and (table["rep_median"] <= table["rep_hi"]).all()


def test_pooled_least_squares_recovers_a_simulated_law():
    rng = np.random.default_rng(3)
    hosts = ["N4258", "A", "B"]
    truth_zp = {"N4258": 23.5, "A": 26.0, "B": 27.5}
    rows = []
    for h in hosts:
        log_p = rng.uniform(-0.3, 0.9, 400)
        metal = rng.normal(0, 0.2, 400)
        sigma = np.full(400, 0.05)
        rows.append(pd.DataFrame({"host": h, "log_p": log_p, "metal": metal, "sigma_W": sigma,
                                  "m_W": truth_zp[h] - 3.3 * log_p - 0.2 * metal + rng.normal(0, 0.05, 400)}))
    sim = pd.concat(rows, ignore_index=True)
    sim["host"] = pd.Categorical(sim["host"], categories=hosts)
    exact = cepheids.pooled_least_squares(sim)
    for h in hosts:
        assert abs(exact.loc[f"zp[{h}]", "mean"] - truth_zp[h]) < 4 * exact.loc[f"zp[{h}]", "sd"]
    assert abs(exact.loc["slope", "mean"] + 3.3) < 4 * exact.loc["slope", "sd"]
    assert abs(exact.loc["gamma", "mean"] + 0.2) < 4 * exact.loc["gamma", "sd"]
    with pytest.raises(ValueError, match="sigma_int must be non-negative"):
        cepheids.pooled_least_squares(sim, sigma_int=-1)


# --- distances -----------------------------------------------------------------------------

def test_distance_table_converts_moduli_to_megaparsecs():
    mu = np.stack([np.full(200, 25.0), np.full(200, 30.0)], axis=-1)[None] + np.linspace(-0.01, 0.01, 200)[None, :, None]
    idata = az.from_dict(posterior={"mu": mu}, dims={"mu": ["host"]}, coords={"host": ["one_Mpc", "ten_Mpc"]})
    table = cepheids.distance_table(idata)
    assert table.loc["one_Mpc", "d_Mpc"] == pytest.approx(1.0, rel=1e-3)
    assert table.loc["ten_Mpc", "d_Mpc"] == pytest.approx(10.0, rel=1e-3)
    assert (table["d_lo_Mpc"] < table["d_Mpc"]).all() and (table["d_Mpc"] < table["d_hi_Mpc"]).all()
    assert (table["mu_lo"] < table["mu"]).all()
    with pytest.raises(ValueError, match="hdi_prob"):
        cepheids.distance_table(idata, hdi_prob=1.5)


def test_published_distances_match_the_hosts(raw):
    published = cepheids.load_published_distances()
    assert sorted(published.index) == sorted(raw["host"].unique())
    assert published.loc["N4258", "mu"] == cepheids.ANCHOR_MU
    assert published.loc["N4258", "sigma_mu"] == cepheids.ANCHOR_SIGMA
    # Each supernova lies in the galaxy whose Cepheids share its position.
    centre = raw.groupby("host")[["ra", "dec"]].median()
    with_sn = published.dropna(subset=["sn"])
    assert len(with_sn) == 19
    sep = np.hypot((with_sn["sn_ra"] - centre.loc[with_sn.index, "ra"]) * np.cos(np.radians(with_sn["sn_dec"])),
                   with_sn["sn_dec"] - centre.loc[with_sn.index, "dec"])
    assert (sep < 0.15).all(), sep[sep >= 0.15]


def test_published_distances_reject_duplicates(tmp_path):
    text = cepheids.PUBLISHED_FILE.read_text().splitlines()
    bad = tmp_path / "dup.csv"
    bad.write_text("\n".join(text + [text[1]]) + "\n")
    with pytest.raises(ValueError, match=r"duplicate host\(s\) \['M101'\]"):
        cepheids.load_published_distances(bad)


# --- the Gaia exercise ---------------------------------------------------------------------

def test_prepare_clusters_applies_the_error_floor():
    gaia = data.load_gaia_clusters()
    assert (gaia["parallax_error_mas"] == 0).any()
    prepared = cepheids.prepare_clusters(gaia)
    assert prepared["parallax_error"].min() == cepheids.PARALLAX_ERROR_FLOOR_MAS
    assert prepared["cluster"].nunique() == 9
    with pytest.raises(ValueError, match="error_floor must be positive"):
        cepheids.prepare_clusters(gaia, error_floor=0)


def test_cluster_builder_and_mle_on_simulated_clusters():
    rng = np.random.default_rng(5)
    truth = {"near": 50.0, "far": 250.0}
    rows = []
    for name, d in truth.items():
        err = rng.uniform(0.02, 0.1, 300)
        plx = 1000.0 / d + rng.normal(0, 0.3, 300) + rng.normal(0, err)
        rows.append(pd.DataFrame({"cluster": name, "parallax_mas": plx, "parallax_error_mas": err}))
    sim = cepheids.prepare_clusters(pd.concat(rows, ignore_index=True))
    mle = cepheids.cluster_distance_mle(sim)
    for name, d in truth.items():
        # 300 members with 0.3 mas depth: the mean parallax is known to about 0.02 mas.
        assert abs(1000.0 / mle[name] - 1000.0 / d) < 0.08
    model = cepheids.build_cluster_model(sim)
    assert list(model.coords["cluster"]) == ["far", "near"]
    assert np.isfinite(model.compile_logp()(model.initial_point()))
    with pytest.raises(ValueError, match="parallax_error must be positive"):
        cepheids.build_cluster_model(sim.assign(parallax_error=0.0))


# --- self-checks ---------------------------------------------------------------------------

def test_self_checks_pass_the_reference_and_fail_a_wrong_answer(raw):
    w = cepheids.wesenheit(raw)
    assert checks.check_wesenheit(w["m_W"], w["sigma_W"])
    wrong = checks.check_wesenheit(raw["H_mag"] - 0.386 * raw["v_minus_i"], raw["sigma_H"] + 0.386 * raw["sigma_v_minus_i"])
    assert not wrong and "sigma_W" in wrong.message
    assert not checks.check_wesenheit(w["m_W"][:10], w["sigma_W"])

    exact = cepheids.pooled_least_squares(cepheids.prepare(raw))["mean"]
    mu_m101 = exact["zp[M101]"] - exact["zp[N4258]"] + cepheids.ANCHOR_MU
    assert checks.check_distance_moduli({"M101": mu_m101})
    assert not checks.check_distance_moduli({"M101": mu_m101 + 0.3})
    assert not checks.check_distance_moduli({"Andromeda": 24.4})
    assert checks.check_population_slope(exact["slope"])
    assert not checks.check_population_slope(-2.5)

    mle = cepheids.cluster_distance_mle(cepheids.prepare_clusters(data.load_gaia_clusters()))
    assert checks.check_cluster_distances(mle * 1.002)
    assert not checks.check_cluster_distances(mle * 1.05)
    assert not checks.check_cluster_distances(mle.iloc[:3])
    assert "pc" in str(checks.check_cluster_distances(mle)) and str(round(mle.iloc[0], 1)) not in str(
        checks.check_cluster_distances(mle * 1.05))
