import hbm  # noqa: I001  (first: it links PyTensor to OpenBLAS before PyMC is imported)
import re

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest

from hbm import cepheids, data
from hbm.cepheids import checks

FEW = ["N4258", "M101", "N4424"]


@pytest.fixture(scope="module")
def raw():
    return data.load("cepheids")


@pytest.fixture(scope="module")
def prepared(raw):
    return cepheids.validate_cepheids(raw)


# --- the data, from this chapter's side ----------------------------------------------------

def test_shipped_cepheids_have_no_repeated_rows(raw):
    # The upstream release lists the 55 M31 Cepheids twice; the shipped file keeps them once.
    assert not raw.duplicated().any()
    assert len(raw) == 1803
    sizes = raw.groupby("host").size()
    assert sizes["M31"] == 55 and len(sizes) == 22


def _cepheid_csv(write_csv, rows, columns=tuple(data.CEPHEIDS)):
    return write_csv(",".join(columns) + "\n" + "\n".join(rows) + "\n")


def test_loader_refuses_a_file_with_a_repeated_block(write_csv):
    # What happened upstream: a block of Cepheids listed twice. Rows 6-8 repeat rows 3-5.
    rows = [f"M31,10.{i},41.2,{i},{5 + i}.5,0.9,0.1,{20 - i / 10:.2f},0.3,0.0,HST" for i in range(1, 6)]
    path = _cepheid_csv(write_csv, rows + rows[2:5], )
    with pytest.raises(ValueError) as err:
        data.load("cepheids", path)
    message = str(err.value)
    assert str(path) in message or path.name in message
    assert re.search(r"duplicat|repeat", message, re.IGNORECASE)
    assert re.search(r"\b(6|7)\b", message), message  # the first repeated row (6) or its line (7)


@pytest.mark.parametrize("period", ["0", "-6.85", "0.0"])
def test_loader_rejects_non_positive_periods(write_csv, period):
    good = "M101,210.9,54.3,1,6.85,0.91,0.11,24.04,0.44,0.05,HST"
    bad = f"M101,210.9,54.3,2,{period},0.91,0.11,24.04,0.44,0.05,HST"
    path = _cepheid_csv(write_csv, [good, bad])
    with pytest.raises(ValueError, match=r"column 'period_days', row 2 \(line 3\).*must be positive"):
        data.load("cepheids", path)


def test_a_valid_student_csv_goes_through_validation(write_csv):
    rows = ["N4258,184.7,47.3,1,10.0,1.0,0.1,23.0,0.3,-0.1,HST",
            "N4258,184.7,47.3,2,100.0,1.0,0.1,20.0,0.3,-0.1,HST"]
    prepared = cepheids.validate_cepheids(data.load("cepheids", _cepheid_csv(write_csv, rows)))
    assert prepared["log_p"].tolist() == pytest.approx([0.0, 1.0])
    assert prepared["m_W"].tolist() == pytest.approx([23.0 - 0.386, 20.0 - 0.386])


# --- validation ----------------------------------------------------------------------------

def test_wesenheit_formula(raw):
    w = cepheids.wesenheit(raw)
    row = raw.iloc[0]
    assert w["m_W"].iloc[0] == pytest.approx(row["H_mag"] - 0.386 * row["v_minus_i"])
    assert w["sigma_W"].iloc[0] == pytest.approx(np.hypot(row["sigma_H"], 0.386 * row["sigma_v_minus_i"]))
    assert (w["sigma_W"] >= raw["sigma_H"]).all()


def test_validate_all_hosts(prepared, raw):
    assert len(prepared) == len(raw) == 1803
    sizes = prepared.groupby("host", observed=True).size()
    assert len(sizes) == 22 and sizes.min() == 9 and sizes.max() == 443 and sizes["M31"] == 55
    assert list(prepared["host"].cat.categories) == list(pd.unique(raw["host"]))
    assert (prepared["n_host"] == prepared["host"].map(sizes).astype(int)).all()
    assert prepared["log_p"].between(-0.5, 1.5).all()


def test_validate_subset_keeps_the_requested_order(raw):
    sub = cepheids.validate_cepheids(raw, FEW)
    assert list(sub["host"].cat.categories) == FEW
    assert sub["host"].tolist() == sorted(sub["host"].tolist(), key=FEW.index)
    assert len(sub) == 443 + 259 + 9


@pytest.mark.parametrize("hosts, pattern", [
    (["N4258", "Nowhere"], r"host\(s\) \['Nowhere'\] not in the data"),
    (["N4258", "N4258"], "repeated"),
    ([], "empty"),
])
def test_validate_rejects_bad_hosts(raw, hosts, pattern):
    with pytest.raises(ValueError, match=pattern):
        cepheids.validate_cepheids(raw, hosts)


def test_validate_names_the_column_and_row(raw):
    with pytest.raises(ValueError, match=r"Cepheid table: missing column\(s\) \['H_mag'\]"):
        cepheids.validate_cepheids(raw.drop(columns="H_mag"))
    bad = raw.copy()
    bad.loc[4, "sigma_H"] = np.nan
    with pytest.raises(ValueError, match=r"column 'sigma_H', row 5 \(host 'M101'\).*NaN"):
        cepheids.validate_cepheids(bad)


# --- model builders ------------------------------------------------------------------------

@pytest.mark.parametrize("hosts", [FEW, None], ids=["subset", "all"])
@pytest.mark.parametrize("pooling", cepheids.POOLING)
def test_builders_on_a_subset_and_on_all_hosts(raw, hosts, pooling):
    d = cepheids.validate_cepheids(raw, hosts)
    model = cepheids.build_leavitt_model(d, pooling=pooling)
    n_hosts = d["host"].nunique()
    assert list(model.coords["host"]) == list(d["host"].cat.categories)
    assert len(model.coords["cepheid"]) == len(d)
    free = {v.name for v in model.free_RVs}
    assert {"level", "sigma_int", "gamma", "mu_anchor"} <= free
    expected = {"complete": {"slope"}, "none": {"slope"}, "partial": {"slope_pop", "slope_sd", "slope_z"}}[pooling]
    assert expected <= free
    assert np.isfinite(model.compile_logp()(model.initial_point()))
    prior = pm.sample_prior_predictive(draws=20, model=model, random_seed=1).prior
    assert prior["mu"].sizes["host"] == n_hosts
    # The anchor's distance modulus is mu_anchor by construction, and every
    # host's modulus is its zero point minus the shared absolute zero point.
    np.testing.assert_allclose(prior["mu"].sel(host="N4258"), prior["mu_anchor"], atol=1e-9)
    np.testing.assert_allclose(prior["mu"], prior["zp"] - prior["M_W"], atol=1e-9)


def test_builder_without_metallicity_and_centred(prepared):
    model = cepheids.build_leavitt_model(prepared, metallicity=False, centred=True)
    names = {v.name for v in model.free_RVs}
    assert "gamma" not in names and "slope" in names and "slope_z" not in names


def test_builder_priors_override_the_defaults(raw):
    sub = cepheids.validate_cepheids(raw, FEW)
    model = cepheids.build_leavitt_model(sub, priors={"slope_sd": {"dist": "HalfCauchy", "beta": 0.3},
                                                      "mu_anchor": {"dist": "Normal", "mu": 29.0, "sigma": 1e-3}})
    prior = pm.sample_prior_predictive(draws=200, model=model, random_seed=2).prior
    assert abs(float(prior["mu"].sel(host="N4258").mean()) - 29.0) < 0.01
    assert model["slope_sd"].owner.op.name == "halfcauchy"


@pytest.mark.parametrize("kwargs, pattern", [
    ({"pooling": "pooled"}, "pooling must be one of"),
    ({"anchor": "LMC"}, r"anchor 'LMC' must be among the hosts"),
    ({"priors": {"mu_anchor": {"dist": "Normal", "mu": 29.4, "sigma": 0.0}}}, "must be positive"),
    ({"priors": {"slope_sd": {"dist": "Normal", "mu": 0.0, "sigma": 0.5}}}, "is a scale"),
    ({"priors": {"tau": {"dist": "HalfNormal", "sigma": 0.5}}}, r"unknown prior\(s\) \['tau'\]"),
])
def test_builder_rejects_bad_options(raw, kwargs, pattern):
    sub = cepheids.validate_cepheids(raw, FEW)
    with pytest.raises(ValueError, match=pattern):
        cepheids.build_leavitt_model(sub, **kwargs)


def test_builder_rejects_missing_columns(prepared):
    with pytest.raises(ValueError, match=r"missing column\(s\) \['sigma_W'\]"):
        cepheids.build_leavitt_model(prepared.drop(columns="sigma_W"))


def _small_cepheid_table(seed=4):
    """Three hosts of 6, 9 and 4 Cepheids (small enough for dense linear algebra)."""
    rng = np.random.default_rng(seed)
    rows = [pd.DataFrame({"host": h, "log_p": rng.uniform(0.4, 1.6, n), "metal": rng.normal(0, 0.1, n),
                          "sigma_W": rng.uniform(0.05, 0.3, n), "m_W": rng.normal(25, 1, n)})
            for h, n in [("N4258", 6), ("A", 9), ("B", 4)]]
    return pd.concat(rows, ignore_index=True)


def test_marginal_model_is_the_exact_marginal_and_conditional():
    """marginal=True: its likelihood term is log N(m_W; mean, D + Z S Z^T) with the slopes and
    slope_pop integrated out (S = tau^2 I + s0^2 11^T), and slope_pop, slope are the exact
    conditional posterior: their mean at u = 0, and covariance (linear in u) as dense algebra."""
    from scipy import stats

    table = _small_cepheid_table()
    model = cepheids.build_leavitt_model(table, pooling="partial", marginal=True)
    assert {v.name for v in model.free_RVs} == {"level", "slope_sd", "gamma", "sigma_int", "slope_pop_u",
                                                 "slope_u", "mu_anchor"}
    prior = cepheids.DEFAULT_PRIORS["slope_pop"]
    m0, s0 = prior["mu"], prior["sigma"]
    level, tau, gamma, sigma_int = np.array([25.1, 24.7, 25.3]), 0.3, 0.2, 0.12
    hosts = ["N4258", "A", "B"]
    idx = pd.Categorical(table["host"], categories=hosts).codes
    centre = table.groupby("host", sort=False)[["log_p", "metal"]].transform("mean")
    x, dz = (table["log_p"] - centre["log_p"]).to_numpy(), (table["metal"] - centre["metal"]).to_numpy()
    Z = np.zeros((len(table), 3))
    Z[np.arange(len(table)), idx] = x
    # the coefficients c = (slope_pop, slopes): prior mean and covariance, design matrix
    prior_mean, prior_cov = np.full(4, m0), np.full((4, 4), s0**2) + np.diag([0, tau**2, tau**2, tau**2])
    design = np.column_stack([np.zeros(len(table)), Z])
    D = np.diag(table["sigma_W"].to_numpy() ** 2 + sigma_int**2)
    base = level[idx] + gamma * dz
    expected = stats.multivariate_normal(base + design @ prior_mean, D + design @ prior_cov @ design.T
                                         ).logpdf(table["m_W"])
    point = model.initial_point()
    point.update({"level": level, "slope_sd_log__": np.log(tau), "gamma": gamma,
                  "sigma_int_log__": np.log(sigma_int)})
    potential = model.compile_fn(model.logp(vars=model.potentials), inputs=model.value_vars,
                                 on_unused_input="ignore")
    assert float(potential(point)) == pytest.approx(expected, rel=1e-9)
    # the exact conditional posterior of c, and the model's draws as a (linear) function of u
    precision = np.linalg.inv(prior_cov) + design.T @ np.linalg.solve(D, design)
    cov = np.linalg.inv(precision)
    mean = cov @ (np.linalg.solve(prior_cov, prior_mean) + design.T @ np.linalg.solve(D, table["m_W"] - base))
    draws = model.compile_fn(model.replace_rvs_by_values([model["slope_pop"], model["slope"]]),
                             inputs=model.value_vars, on_unused_input="ignore")

    def coefficients(u):
        point.update({"slope_pop_u": u[0], "slope_u": u[1:]})
        pop, slopes = draws(point)
        return np.concatenate([[pop], slopes])

    at_zero = coefficients(np.zeros(4))
    np.testing.assert_allclose(at_zero, mean, rtol=1e-9)
    J = np.column_stack([coefficients(e) - at_zero for e in np.eye(4)])
    np.testing.assert_allclose(J @ J.T, cov, rtol=1e-7, atol=1e-12)


def test_marginal_model_needs_partial_pooling_and_a_normal_slope_pop_prior():
    table = _small_cepheid_table()
    with pytest.raises(ValueError, match="marginal=True integrates out partially pooled slopes"):
        cepheids.build_leavitt_model(table, pooling="none", marginal=True)
    with pytest.raises(ValueError, match="needs a Normal prior"):
        cepheids.build_leavitt_model(table, marginal=True,
                                     priors={"slope_pop": {"dist": "StudentT", "nu": 3, "mu": -3, "sigma": 2}})
    one_period = table.copy()
    one_period.loc[one_period["host"] == "B", "log_p"] = 1.0
    with pytest.raises(ValueError, match=r"two distinct periods in every host.*\['B'\]"):
        cepheids.build_leavitt_model(one_period, marginal=True)


def test_benchmark_model():
    model, description = cepheids.benchmark_model()
    assert isinstance(model, pm.Model) and "partially pooled" in description
    assert {"slope_pop", "slope_sd", "slope_z"} <= {v.name for v in model.free_RVs}
    assert len(model.coords["cepheid"]) == 1803


@pytest.fixture(scope="module")
def pooled_fixed_scatter(raw, python_mode):
    """The pooled model on three hosts with sigma_int fixed, and its posterior from the model itself.

    With sigma_int fixed the log density is quadratic in the free variables (levels, slope, gamma;
    mu_anchor has its Normal prior alone), so the posterior is Gaussian: minus the Hessian is its
    precision, and one Newton step from any point reaches its mean. Both come from the model's own
    gradient (PyTensor's Python implementations: nothing to compile in C). Returns the data, the
    model, the Gaussian's mean and sd of the zero points, slope and gamma, and 500 independent
    draws from it."""
    import pytensor

    sub = cepheids.validate_cepheids(raw, FEW)
    model = pm.do(cepheids.build_leavitt_model(sub, pooling="complete"), {"sigma_int": 0.05})
    start = model.initial_point()
    names = [v.name for v in model.value_vars]
    split = np.cumsum([np.size(start[n]) for n in names])[:-1]

    def to_point(x):
        return {n: v.reshape(np.shape(start[n])) for n, v in zip(names, np.split(x, split))}

    with pytensor.config.change_flags(mode=python_mode):
        dlogp = model.compile_dlogp()
        zp = model.compile_fn(model.replace_rvs_by_values([model["zp"]])[0], inputs=model.value_vars,
                              on_unused_input="ignore")
    x0 = np.concatenate([np.ravel(start[n]) for n in names])
    gradient = dlogp(start)
    # the gradient and zp are linear: unit differences give minus the Hessian (a Hessian graph takes
    # seconds to compile) and zp's Jacobian exactly
    precision = -np.column_stack([dlogp(to_point(x0 + e)) - gradient for e in np.eye(len(x0))])
    mean = x0 + np.linalg.solve(precision, gradient)
    cov = np.linalg.inv(precision)
    zp_mean = zp(to_point(mean))
    jacobian = np.column_stack([zp(to_point(mean + e)) - zp_mean for e in np.eye(len(mean))])
    at = dict(zip(names, np.split(np.arange(len(mean)), split)))
    slope_gamma = np.r_[at["slope"], at["gamma"]]
    gaussian = pd.DataFrame({"mean": np.r_[zp_mean, mean[slope_gamma]],
                             "sd": np.sqrt(np.r_[np.diag(jacobian @ cov @ jacobian.T), np.diag(cov)[slope_gamma]])},
                            index=[f"zp[{h}]" for h in FEW] + ["slope", "gamma"])
    x = np.random.default_rng(4).multivariate_normal(mean, cov, size=(2, 250))
    draws = {n: v.reshape(2, 250, *np.shape(start[n])) for n, v in zip(names, np.split(x, split, axis=-1))}
    draws["zp"] = zp_mean + (x - mean) @ jacobian.T
    idata = az.from_dict(posterior=draws, coords={"host": FEW}, dims={"level": ["host"], "zp": ["host"]})
    return sub, model, gaussian, idata


def test_model_posterior_is_the_exact_pooled_posterior(pooled_fixed_scatter):
    """The model's own Gaussian posterior (mean and covariance from its gradient) equals the
    closed-form weighted least squares of :func:`hbm.cepheids.pooled_least_squares`; chapter 4
    compares NUTS with it on all hosts in every build."""
    sub, _, gaussian, _ = pooled_fixed_scatter
    exact = cepheids.pooled_least_squares(sub, sigma_int=0.05)
    assert list(gaussian.index) == list(exact.index)
    assert ((gaussian["mean"] - exact["mean"]).abs() / exact["sd"]).max() < 1e-6
    np.testing.assert_allclose(gaussian["sd"], exact["sd"], rtol=1e-6)


def test_host_residual_ppc(pooled_fixed_scatter):
    sub, model, _, idata = pooled_fixed_scatter
    table = cepheids.host_residual_ppc(idata, model, sub, draws=100, random_seed=1)
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
    mu = cepheids.pooled_distance_moduli(sim)
    assert mu["N4258"] == cepheids.ANCHOR_MU
    assert mu["A"] - mu["N4258"] == pytest.approx(2.5, abs=4 * exact.loc["zp[A]", "sd"])
    with pytest.raises(ValueError, match="sigma_int must be non-negative"):
        cepheids.pooled_least_squares(sim, sigma_int=-1)
    with pytest.raises(ValueError, match="needs Normal priors"):
        cepheids.pooled_least_squares(sim, priors={"slope": {"dist": "StudentT", "nu": 3, "mu": -3, "sigma": 2}})


def test_exact_pooled_fit_without_the_repeated_m31_block(prepared):
    # Issue 14: with M31 counted once, the metallicity term is about -0.096 +/- 0.125 and M101 29.166.
    exact = cepheids.pooled_least_squares(prepared)
    assert exact.loc["gamma", "mean"] == pytest.approx(-0.096, abs=0.002)
    assert exact.loc["gamma", "sd"] == pytest.approx(0.125, abs=0.002)
    assert cepheids.pooled_distance_moduli(prepared)["M101"] == pytest.approx(29.166, abs=0.002)


# --- distances -----------------------------------------------------------------------------

def test_distance_table_converts_moduli_to_megaparsecs():
    mu = (np.stack([np.full(200, 25.0), np.full(200, 30.0)], axis=-1)[None]
          + np.linspace(-0.01, 0.01, 200)[None, :, None])
    idata = az.from_dict(posterior={"mu": mu}, dims={"mu": ["host"]}, coords={"host": ["one_Mpc", "ten_Mpc"]})
    table = cepheids.distance_table(idata)
    assert table.loc["one_Mpc", "d_Mpc"] == pytest.approx(1.0, rel=1e-3)
    assert table.loc["ten_Mpc", "d_Mpc"] == pytest.approx(10.0, rel=1e-3)
    assert (table["d_lo_Mpc"] < table["d_Mpc"]).all() and (table["d_Mpc"] < table["d_hi_Mpc"]).all()
    assert (table["mu_lo"] < table["mu"]).all()
    with pytest.raises(ValueError, match="hdi_prob"):
        cepheids.distance_table(idata, hdi_prob=1.5)


def test_published_distances_match_the_hosts(raw):
    published = data.load("cepheid_host_distances").set_index("host")
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


# --- the Gaia exercise ---------------------------------------------------------------------

def test_validate_clusters_applies_the_error_floor():
    gaia = data.load("gaia_clusters")
    assert (gaia["parallax_error_mas"] == 0).any()
    clean = cepheids.validate_clusters(gaia)
    assert clean["parallax_error"].min() == cepheids.PARALLAX_ERROR_FLOOR_MAS
    assert clean["cluster"].nunique() == 9
    with pytest.raises(ValueError, match="error_floor must be positive"):
        cepheids.validate_clusters(gaia, error_floor=0)
    with pytest.raises(ValueError, match=r"Gaia cluster table: missing column\(s\) \['parallax_mas'\]"):
        cepheids.validate_clusters(gaia.drop(columns="parallax_mas"))


def _simulated_clusters(zero_point=0.0):
    rng = np.random.default_rng(5)
    truth = {"near": 50.0, "far": 250.0}
    rows = []
    for name, d in truth.items():
        err = rng.uniform(0.02, 0.1, 300)
        plx = 1000.0 / d + zero_point + rng.normal(0, 0.3, 300) + rng.normal(0, err)
        rows.append(pd.DataFrame({"cluster": name, "parallax_mas": plx, "parallax_error_mas": err}))
    return truth, cepheids.validate_clusters(pd.concat(rows, ignore_index=True))


def test_cluster_builder_and_mle_on_simulated_clusters():
    truth, sim = _simulated_clusters()
    mle = cepheids.cluster_distance_mle(sim)
    for name, d in truth.items():
        # 300 members with 0.3 mas depth: the mean parallax is known to about 0.02 mas.
        assert abs(1000.0 / mle[name] - 1000.0 / d) < 0.08
    for zero_point in (False, True):
        model = cepheids.build_cluster_model(sim, zero_point=zero_point)
        assert list(model.coords["cluster"]) == ["far", "near"]
        assert ("zero_point" in {v.name for v in model.free_RVs}) == zero_point
        assert np.isfinite(model.compile_logp()(model.initial_point()))
    with pytest.raises(ValueError, match="parallax_error.*must be positive"):
        cepheids.build_cluster_model(sim.assign(parallax_error=0.0))


def test_mle_with_a_zero_point_removes_a_known_offset():
    truth, shifted = _simulated_clusters(zero_point=-0.5)
    _, plain = _simulated_clusters()
    np.testing.assert_allclose(cepheids.cluster_distance_mle(shifted, zero_point_mas=-0.5),
                               cepheids.cluster_distance_mle(plain), rtol=1e-6)


# --- self-checks: each passes the reference and fails a wrong answer of the right shape ------

def _no_reference_in(result, reference):
    text = str(result)
    for value in np.atleast_1d(np.asarray(reference, dtype=float)):
        for digits in (1, 2, 3):
            assert f"{value:.{digits}f}" not in text, (value, text)


def test_check_wesenheit(raw):
    w = cepheids.wesenheit(raw)
    assert checks.check_wesenheit(w["m_W"], w["sigma_W"])
    # Errors added linearly instead of in quadrature: right shape, wrong answer.
    wrong = checks.check_wesenheit(w["m_W"], raw["sigma_H"] + 0.386 * raw["sigma_v_minus_i"])
    assert not wrong and "sigma_W" in wrong.message
    # The colour term with the wrong coefficient.
    assert not checks.check_wesenheit(raw["H_mag"] - 0.5 * raw["v_minus_i"], w["sigma_W"])
    assert not checks.check_wesenheit(w["m_W"][:10], w["sigma_W"])
    _no_reference_in(wrong, w["sigma_W"].iloc[:3])


@pytest.fixture(scope="module")
def partial_exact(prepared):
    return cepheids.partial_pooling_posterior(prepared)


def test_partial_pooling_quadrature_is_converged_and_sensible(raw, partial_exact):
    few = cepheids.validate_cepheids(raw, FEW)
    coarse = cepheids.partial_pooling_posterior(few)
    fine = cepheids.partial_pooling_posterior(few, n_tau=160, n_sigma=120)
    assert (coarse - fine).abs().max().max() < 1e-3
    assert coarse.loc["mu[N4258]", "mean"] == pytest.approx(cepheids.ANCHOR_MU)
    # All 22 hosts: the population slope lies near the pooled slope, and pooling is partial.
    pooled = cepheids.pooled_least_squares(cepheids.validate_cepheids(raw))
    assert abs(partial_exact.loc["slope_pop", "mean"] - pooled.loc["slope", "mean"]) < 0.1
    assert 0 < partial_exact.loc["slope_sd", "mean"] < 0.3


def test_check_population_slope(partial_exact, prepared):
    ref = partial_exact.loc["slope_pop"]
    assert checks.check_population_slope(ref["mean"])
    assert checks.check_population_slope(ref["mean"] + 0.1 * ref["sd"])  # Monte Carlo error
    # The complete-pooling slope: right shape, plausible, but not the population slope asked for.
    pooled = cepheids.pooled_least_squares(prepared).loc["slope", "mean"]
    wrong = checks.check_population_slope(pooled)
    assert not wrong and "population slope" in wrong.message
    assert not checks.check_population_slope(-2.8)  # the optical V-band slope
    _no_reference_in(wrong, ref["mean"])


def test_check_distance_moduli(raw, partial_exact):
    ref = partial_exact["mean"].filter(like="mu[")
    ref.index = ref.index.str[3:-1]
    assert checks.check_distance_moduli(ref)
    # A few hosts: the check refits exactly those hosts.
    few = cepheids.partial_pooling_posterior(cepheids.validate_cepheids(raw, FEW))["mean"].filter(like="mu[")
    few.index = few.index.str[3:-1]
    assert checks.check_distance_moduli(few)
    # The 22-host answers for the same three hosts are not the three-host answers.
    assert not checks.check_distance_moduli(ref[FEW])
    # Complete-pooling moduli: right shape, close, but not the partially pooled ones.
    pooled = cepheids.pooled_distance_moduli(cepheids.validate_cepheids(raw))
    wrong = checks.check_distance_moduli(pooled)
    assert not wrong
    _no_reference_in(wrong, ref[["M101", "N4424", "LMC"]])
    missing_anchor = checks.check_distance_moduli(ref.drop("N4258"))
    assert not missing_anchor and "N4258" in missing_anchor.message
    assert not checks.check_distance_moduli({"Andromeda": 24.4, "N4258": 29.4})
    assert not checks.check_distance_moduli("far away")


def test_check_cluster_distances():
    gaia = cepheids.validate_clusters(data.load("gaia_clusters"))
    mle = cepheids.cluster_distance_mle(gaia)
    corrected = cepheids.cluster_distance_mle(gaia, zero_point_mas=cepheids.GAIA_DR2_ZERO_POINT_MAS)
    assert checks.check_cluster_distances(mle * 1.002)
    assert checks.check_cluster_distances(mle.to_dict())
    # A model with the Gaia DR2 zero point passes when it says so, and only then.
    assert checks.check_cluster_distances(corrected, zero_point_mas=cepheids.GAIA_DR2_ZERO_POINT_MAS)
    hinted = checks.check_cluster_distances(corrected)
    assert not hinted and "zero_point_mas" in hinted.message
    assert not checks.check_cluster_distances(mle, zero_point_mas=cepheids.GAIA_DR2_ZERO_POINT_MAS)
    wrong = checks.check_cluster_distances(mle * 1.01)
    assert not wrong and "0.5% relative" in wrong.message
    _no_reference_in(wrong, mle)
    # Wrong answers a student writes: the mean of the members' distances 1 / parallax (biased by
    # the noisy parallaxes), and an inverse-variance mean parallax without the cluster's depth (a
    # model that lets the brightest, most precise members dominate). (1 / mean parallax, with
    # hundreds of members per cluster, is within the tolerance: the check cannot fail it.)
    raw = data.load("gaia_clusters")
    mean_of_distances = (1000 / raw["parallax_mas"]).groupby(raw["cluster"]).mean()
    no_depth = 1000 / gaia.groupby("cluster", observed=True)[["parallax", "parallax_error"]].apply(
        lambda d: np.average(d["parallax"], weights=d["parallax_error"] ** -2))
    for answer in (mean_of_distances, no_depth):
        result = checks.check_cluster_distances(answer)
        assert not result
        _no_reference_in(result, mle)
    assert not checks.check_cluster_distances(mle.iloc[:3])
    assert not checks.check_cluster_distances(mle, zero_point_mas="Lindegren")
