import hbm  # noqa: F401  (before pymc: links PyTensor to OpenBLAS)
import numpy as np
import pandas as pd
import pymc as pm
import pytest

from hbm import checks, data
from hbm import districts as hd

BUILDERS = {
    "pooled": hd.build_pooled,
    "unpooled": hd.build_unpooled,
    "centred": lambda df, **kw: hd.build_hierarchical(df, centered=True, **kw),
    "non-centred": lambda df, **kw: hd.build_hierarchical(df, centered=False, **kw),
}

STUDENT_CSV = """district,hours_studied,score_change,score_change_err
North,10,3.1,2.0
North,25,8.4,2.5
North,31,9.9,1.9
South,12,2.2,3.0
South,30,6.0,2.2
West,20,7.5,1.5
"""


@pytest.fixture(scope="module")
def df():
    return data.load_five_districts()


@pytest.mark.parametrize("name", list(BUILDERS))
def test_builders_on_the_real_file(df, name):
    model = BUILDERS[name](df)
    assert isinstance(model, pm.Model)
    assert list(model.coords["district"]) == list("ABCDE")
    assert len(model.coords["school"]) == 27
    assert model.coords["school"][:2] == ("A-1", "A-2")
    assert model.named_vars_to_dims["score_change"] == ("school",)
    assert model.named_vars_to_dims["beta_school"] == ("school",)
    # the measurement errors enter the likelihood: the log density at a fixed point depends on them
    point = model.initial_point()
    logp = model.compile_logp()(point)
    with model:
        pm.set_data({"score_change_err": 2 * df["score_change_err"].to_numpy()})
    assert model.compile_logp()(point) != pytest.approx(logp)
    if name != "pooled":
        assert model.named_vars_to_dims["beta"] == ("district",)


def test_hierarchical_parameterisations_differ(df):
    centred = hd.build_hierarchical(df, centered=True)
    noncentred = hd.build_hierarchical(df, centered=False)
    assert "beta" in [v.name for v in centred.free_RVs]
    assert "beta_z" in [v.name for v in noncentred.free_RVs]
    assert "beta" in [v.name for v in noncentred.deterministics]
    with pytest.raises(ValueError, match="centered"):
        hd.build_hierarchical(df, centered="yes")


@pytest.mark.parametrize("name", list(BUILDERS))
def test_builders_on_a_student_csv(write_csv, name):
    df = data.load_five_districts(write_csv(STUDENT_CSV, "mine.csv"))
    model = BUILDERS[name](df)
    assert list(model.coords["district"]) == ["North", "South", "West"]  # West has a single school
    assert list(model.coords["school"]) == ["North-1", "North-2", "North-3", "South-1", "South-2", "West-1"]
    assert np.isfinite(model.compile_logp()(model.initial_point()))


@pytest.mark.parametrize("name", list(BUILDERS))
def test_unknown_district_labels(df, name):
    with pytest.raises(ValueError, match=r"unknown district label\(s\) \['E'\]"):
        BUILDERS[name](df, districts=list("ABCD"))


def test_expected_districts_fix_the_order_and_allow_an_empty_one(df):
    model = hd.build_hierarchical(df, centered=False, districts=list("EDCBAF"))
    assert list(model.coords["district"]) == list("EDCBAF")
    assert np.isfinite(model.compile_logp()(model.initial_point()))


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("score_change", np.nan, "'score_change', row 3: value nan is NaN"),
        ("hours_studied", np.inf, "'hours_studied', row 3: value 'inf' is infinite"),
        ("score_change_err", 0.0, "'score_change_err', row 3: value '0.0' must be positive"),
        ("score_change_err", -1.0, "'score_change_err', row 3: value '-1.0' must be positive"),
        ("district", "", "'district', row 3: empty value"),
    ],
)
@pytest.mark.parametrize("name", list(BUILDERS))
def test_bad_values_are_refused(df, name, column, value, message):
    bad = df.copy()
    bad[column] = bad[column].astype(object)
    bad.loc[2, column] = value
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        BUILDERS[name](bad)


def test_bad_tables_are_refused(df, write_csv):
    with pytest.raises(ValueError, match=r"missing column\(s\) \['score_change_err'\]"):
        hd.build_pooled(df.drop(columns="score_change_err"))
    with pytest.raises(ValueError, match="no data rows"):
        hd.build_pooled(df.iloc[:0])
    with pytest.raises(ValueError, match="column 'hours_studied', row 1: value 'ten' is not a number"):
        hd.build_pooled(df.assign(hours_studied=["ten"] * len(df)))
    # the loader catches the same problems in a file, naming the line
    with pytest.raises(ValueError, match="score_change_err.*row 1.*must be positive"):
        data.load_five_districts(write_csv("district,hours_studied,score_change,score_change_err\nA,1,2,0\n"))
    with pytest.raises(ValueError, match="score_change.*row 1.*NaN"):
        data.load_five_districts(write_csv("district,hours_studied,score_change,score_change_err\nA,1,nan,1\n"))


def test_bad_priors_are_refused(df):
    with pytest.raises(ValueError, match="unknown prior"):
        hd.build_pooled(df, priors={"tau": ("halfnormal", 1.0)})
    with pytest.raises(ValueError, match="sigma_beta"):
        hd.build_hierarchical(df, centered=False, priors={"sigma_beta": ("normal", 0.0, 1.0)})


def test_school_slopes_refuses_unknown_districts(df):
    idata = pm.sample_prior_predictive(model=hd.build_unpooled(df), draws=50, random_seed=1)
    idata.add_groups(posterior=idata.prior)
    table = hd.school_slopes(idata, df)
    assert list(table.columns) == ["district", "mean", "sd", "hdi_3%", "hdi_97%"]
    assert len(table) == 27 and (table["hdi_3%"] < table["hdi_97%"]).all()
    a_mean = float(idata.posterior["beta"].sel(district="A").mean())
    assert table.loc["A-1", "mean"] == pytest.approx(a_mean)
    new = pd.DataFrame({"district": ["Z"], "hours_studied": [10.0], "score_change": [1.0], "score_change_err": [1.0]})
    with pytest.raises(ValueError, match=r"unknown district label\(s\) \['Z'\]"):
        hd.school_slopes(idata, new)


def _weighted_least_squares(x, y, var):
    X = np.column_stack([np.ones_like(x), x])
    W = X.T / var
    return np.linalg.solve(W @ X, W @ y)


def test_exact_posterior_tends_to_weighted_least_squares(df):
    # With flat priors on the line and the intrinsic scatter fixed near a value s0, the pooled
    # posterior mean is the weighted least-squares line with weights 1 / (err^2 + s0^2).
    flat = {"mu_alpha": ("normal", 0.0, 1e3), "mu_beta": ("normal", 0.0, 1e3),
            "sigma_school": ("exponential", 1e-6)}
    exact = hd.exact_posterior(df, "pooled", priors=flat)["lines"]["mean"]
    wls = _weighted_least_squares(df["hours_studied"].to_numpy(), df["score_change"].to_numpy(),
                                  df["score_change_err"].to_numpy() ** 2)
    np.testing.assert_allclose(exact[["alpha", "beta"]], wls, rtol=1e-4)


def test_exact_posterior_hierarchical_between_extremes(df):
    exact = {m: hd.exact_posterior(df, m, n_grid=12)["lines"]["mean"] for m in ("pooled", "unpooled", "hierarchical")}
    # district E (two schools) is pulled from its unpooled slope toward the population slope
    e_un, e_hi, mu = exact["unpooled"]["beta[E]"], exact["hierarchical"]["beta[E]"], exact["hierarchical"]["mu_beta"]
    assert abs(e_hi - mu) < abs(e_un - mu)
    assert min(e_un, mu) <= e_hi <= max(e_un, mu)


def test_pooled_sampling_matches_exact_posterior(df):
    idata = pm.sample(model=hd.build_pooled(df), draws=300, tune=300, chains=2, cores=1, random_seed=3,
                      progressbar=False, compute_convergence_checks=False)
    exact = hd.exact_posterior(df, "pooled")["lines"]
    assert float(idata.posterior["beta"].mean()) == pytest.approx(exact.loc["beta", "mean"], abs=0.02)
    assert float(idata.posterior["beta"].std()) == pytest.approx(exact.loc["beta", "sd"], rel=0.2)


def test_self_checks(df):
    exact = hd.exact_posterior(df, "hierarchical")["lines"]["mean"]
    slopes = exact[[f"beta[{d}]" for d in "ABCDE"]].to_numpy()
    assert checks.check_district_slopes(slopes, model="hierarchical")
    assert not checks.check_district_slopes(slopes + 0.1, model="hierarchical")
    assert not checks.check_district_slopes(slopes[:4], model="hierarchical")
    per_school = exact[[f"beta[{d}]" for d in df["district"]]].to_numpy()
    assert checks.check_school_slopes(per_school)
    assert not checks.check_pooled_slope(exact["mu_beta"] + 0.5)
    assert checks.check_district_sizes(df["district"].value_counts().sort_index())
    assert not checks.check_district_sizes([9, 7, 5, 3, 3])
    result = checks.check_true_value_inside((0.0, 0.1), "mu_beta")
    assert not result and "0.35" not in str(result)
    assert checks.check_true_value_inside((0.2, 0.5), "mu_beta")


@pytest.mark.parametrize("model", ["pooled", "unpooled", "hierarchical"])
def test_exact_loo_is_a_ratio_of_evidences(df, model):
    # log p(y_i | y_-i) = log p(y) - log p(y_-i): the closed form must match two evidence computations
    n_grid = 8 if model == "hierarchical" else 40
    loo = hd.exact_loo(df, model, n_grid=n_grid)
    assert list(loo.index) == hd.coords(df)["school"]
    full = hd.exact_posterior(df, model, n_grid=n_grid)["log_evidence"]
    for i in (0, 25):  # A-1 and E-1
        rest = hd.exact_posterior(df.drop(index=i).reset_index(drop=True), model, n_grid=n_grid)["log_evidence"]
        assert loo.iloc[i] == pytest.approx(full - rest, abs=1e-8)
    assert np.all(loo < 0)


def test_prior_predictive_sd_matches_simulation(df):
    prior = pm.sample_prior_predictive(model=hd.build_hierarchical(df, centered=False), draws=4000, random_seed=5)
    simulated = prior.prior_predictive["score_change"].std(("chain", "draw")).values
    exact = hd.prior_predictive_sd(df)
    np.testing.assert_allclose(simulated, exact.to_numpy(), rtol=0.08)
    assert checks.check_prior_predictive_sd(simulated)
    assert not checks.check_prior_predictive_sd(simulated * 1.5)
    with pytest.raises(ValueError, match="half-Cauchy"):
        hd.prior_predictive_sd(df, priors=hd.PRIOR_SETS["heavy-tailed"])


def test_prior_sensitivity_check(df):
    means = {n: hd.exact_posterior(df, "hierarchical", priors=hd.PRIOR_SETS[n], n_grid=12)["lines"].loc["mu_beta", "mean"]
             for n in ["wide", "heavy-tailed"]}
    assert checks.check_prior_sensitivity(means)
    assert not checks.check_prior_sensitivity({k: v + 0.1 for k, v in means.items()})
    assert not checks.check_prior_sensitivity({"wide": 0.25})
