import hbm  # noqa: F401  (before pymc: links PyTensor to OpenBLAS)
import numpy as np
import pandas as pd
import pymc as pm
import pytest

from hbm import chapters, data
from hbm import five_districts as fd
from hbm.five_districts import checks
from hbm.five_districts.simulate import DISTRICT_SIZES, five_districts

VARIANTS = {
    "complete": {"pooling": "complete"},
    "none": {"pooling": "none"},
    "centred": {"pooling": "partial", "centred": True},
    "non-centred": {"pooling": "partial", "centred": False},
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
    return data.load("five_districts")


def _build(df, name, **kwargs):
    return fd.build_model(df, **VARIANTS[name], **kwargs)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_builders_on_the_real_file(df, name):
    model = _build(df, name)
    assert isinstance(model, pm.Model)
    assert list(model.coords["district"]) == list("ABCDE")
    assert len(model.coords["school"]) == 27
    assert model.coords["school"][:2] == ("A-1", "A-2")
    assert model.named_vars_to_dims["score_change"] == ("school",)
    assert model.named_vars_to_dims["beta_school"] == ("school",)
    # the measurement errors enter the likelihood: the log density at a fixed point depends on them
    # (the compiled function reads the data container when called: one compilation serves both)
    point, logp = model.initial_point(), model.compile_logp()
    before = logp(point)
    with model:
        pm.set_data({"score_change_err": 2 * df["score_change_err"].to_numpy()})
    assert logp(point) != pytest.approx(before)
    if name != "complete":
        assert model.named_vars_to_dims["beta"] == ("district",)


def test_parameterisations_differ_and_bad_options_are_refused(df):
    centred = fd.build_model(df, pooling="partial", centred=True)
    noncentred = fd.build_model(df)  # the default: partial pooling, non-centred
    assert "beta" in [v.name for v in centred.free_RVs]
    assert "beta_z" in [v.name for v in noncentred.free_RVs]
    assert "beta" in [v.name for v in noncentred.deterministics]
    with pytest.raises(ValueError, match="centred"):
        fd.build_model(df, centred="yes")
    with pytest.raises(ValueError, match="pooling must be one of"):
        fd.build_model(df, pooling="hierarchical")
    with pytest.raises(ValueError, match="pooling must be one of"):
        fd.quadrature_loo(df, pooling="pooled")


def test_marginal_model_is_the_exact_marginal_and_conditional(write_csv):
    """marginal=True: the likelihood term is log N(y; X m, V + X P X^T) with every district's line
    integrated out, and alpha, beta are the lines' exact conditional posterior (mean at u = 0,
    covariance from the linear map u -> lines), on a table with a one-school district and a
    district without schools."""
    from scipy import stats

    table = data.load("five_districts", write_csv(STUDENT_CSV))
    districts = ["North", "South", "West", "East"]
    model = fd.build_model(table, marginal=True, districts=districts, priors=fd.PRIOR_SETS["wide"])
    assert {v.name for v in model.free_RVs} == {"mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta",
                                                 "sigma_school", "alpha_u", "beta_u"}
    assert model.named_vars_to_dims["beta_school"] == ("school",)
    mu, sd, sigma_school = np.array([1.5, 0.3]), np.array([2.0, 0.2]), 1.3
    idx = pd.Index(districts).get_indexer(table["district"])
    n, k = len(table), len(districts)
    X = np.zeros((n, 2 * k))  # columns: the k intercepts, then the k slopes
    X[np.arange(n), idx] = 1.0
    X[np.arange(n), k + idx] = table["hours_studied"]
    prior_mean, prior_cov = np.repeat(mu, k), np.diag(np.repeat(sd**2, k))
    V = np.diag(table["score_change_err"] ** 2 + sigma_school**2)
    y = table["score_change"].to_numpy()
    expected = stats.multivariate_normal(X @ prior_mean, V + X @ prior_cov @ X.T).logpdf(y)
    point = model.initial_point()
    point.update({"mu_alpha": mu[0], "mu_beta": mu[1], "sigma_alpha_log__": np.log(sd[0]),
                  "sigma_beta_log__": np.log(sd[1]), "sigma_school_log__": np.log(sigma_school)})
    potential = model.compile_fn(model.logp(vars=model.potentials), inputs=model.value_vars,
                                 on_unused_input="ignore")
    assert float(potential(point)) == pytest.approx(expected, rel=1e-9)
    precision = np.linalg.inv(prior_cov) + X.T @ np.linalg.solve(V, X)
    cov = np.linalg.inv(precision)
    mean = cov @ (np.linalg.solve(prior_cov, prior_mean) + X.T @ np.linalg.solve(V, y))
    lines = model.compile_fn(model.replace_rvs_by_values([model["alpha"], model["beta"]]),
                             inputs=model.value_vars, on_unused_input="ignore")

    def draw(u):
        point.update({"alpha_u": u[:k], "beta_u": u[k:]})
        return np.concatenate(lines(point))

    at_zero = draw(np.zeros(2 * k))
    np.testing.assert_allclose(at_zero, mean, rtol=1e-9, atol=1e-12)
    J = np.column_stack([draw(e) - at_zero for e in np.eye(2 * k)])
    np.testing.assert_allclose(J @ J.T, cov, rtol=1e-7, atol=1e-12)
    with pytest.raises(ValueError, match="marginal=True integrates out partially pooled lines"):
        fd.build_model(table, pooling="none", marginal=True)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_builders_on_a_student_csv(write_csv, name):
    df = data.load("five_districts", write_csv(STUDENT_CSV, "mine.csv"))
    model = _build(df, name)
    assert list(model.coords["district"]) == ["North", "South", "West"]  # West has a single school
    assert list(model.coords["school"]) == ["North-1", "North-2", "North-3", "South-1", "South-2", "West-1"]
    assert np.isfinite(model.compile_logp()(model.initial_point()))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_unknown_district_labels(df, name):
    with pytest.raises(ValueError, match=r"unknown district label\(s\) \['E'\]"):
        _build(df, name, districts=list("ABCD"))


def test_expected_districts_fix_the_order_and_allow_an_empty_one(df):
    model = fd.build_model(df, districts=list("EDCBAF"))
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
@pytest.mark.parametrize("name", list(VARIANTS))
def test_bad_values_are_refused(df, name, column, value, message):
    bad = df.copy()
    bad[column] = bad[column].astype(object)
    bad.loc[2, column] = value
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        _build(bad, name)


def test_bad_tables_are_refused(df, write_csv):
    with pytest.raises(ValueError, match=r"missing column\(s\) \['score_change_err'\]"):
        fd.validate_schools(df.drop(columns="score_change_err"))
    with pytest.raises(ValueError, match="no data rows"):
        fd.build_model(df.iloc[:0], pooling="complete")
    with pytest.raises(ValueError, match="column 'hours_studied', row 1: value 'ten' is not a number"):
        fd.build_model(df.assign(hours_studied=["ten"] * len(df)))
    # the loader catches the same problems in a file, naming the line
    with pytest.raises(ValueError, match="score_change_err.*row 1.*must be positive"):
        data.load("five_districts", write_csv("district,hours_studied,score_change,score_change_err\nA,1,2,0\n"))
    with pytest.raises(ValueError, match="score_change.*row 1.*NaN"):
        data.load("five_districts", write_csv("district,hours_studied,score_change,score_change_err\nA,1,nan,1\n"))


def test_validate_schools_returns_a_clean_copy(df):
    out = fd.validate_schools(df, districts=list("ABCDEF"))
    assert out is not df and list(out.columns) == list(fd.COLUMNS)
    assert out["hours_studied"].dtype == float
    with pytest.raises(ValueError, match="distinct"):
        fd.validate_schools(df, districts=["A", "A"])


def test_bad_priors_are_refused(df):
    with pytest.raises(ValueError, match="unknown prior"):
        fd.build_model(df, priors={"tau": {"dist": "HalfNormal", "sigma": 1.0}})
    with pytest.raises(ValueError, match="sigma_beta"):
        fd.build_model(df, priors={"sigma_beta": {"dist": "Normal", "mu": 0.0, "sigma": 1.0}})
    with pytest.raises(ValueError, match="sigma_school"):
        fd.build_model(df, priors={"sigma_school": ("halfnormal", 1.0)})  # the old tuple shape
    with pytest.raises(ValueError, match="Normal prior for 'mu_beta'"):
        fd.quadrature_posterior(df, priors={"mu_beta": {"dist": "StudentT", "nu": 3, "mu": 0, "sigma": 1}})


def test_priors_reach_the_model(df):
    model = fd.build_model(df, priors=fd.PRIOR_SETS["heavy-tailed"])
    assert type(model["sigma_beta"].owner.op).__name__ == "HalfCauchyRV"
    assert type(fd.build_model(df)["sigma_beta"].owner.op).__name__ == "HalfNormalRV"


def test_school_slopes_refuses_unknown_districts(df):
    idata = pm.sample_prior_predictive(model=fd.build_model(df, pooling="none"), draws=50, random_seed=1)
    idata.add_groups(posterior=idata.prior)
    table = fd.school_slopes(idata, df)
    assert list(table.columns) == ["district", "mean", "sd", "hdi_3%", "hdi_97%"]
    assert len(table) == 27 and (table["hdi_3%"] < table["hdi_97%"]).all()
    a_mean = float(idata.posterior["beta"].sel(district="A").mean())
    assert table.loc["A-1", "mean"] == pytest.approx(a_mean)
    new = pd.DataFrame({"district": ["Z"], "hours_studied": [10.0], "score_change": [1.0], "score_change_err": [1.0]})
    with pytest.raises(ValueError, match=r"unknown district label\(s\) \['Z'\]"):
        fd.school_slopes(idata, new)


def _weighted_least_squares(x, y, var):
    X = np.column_stack([np.ones_like(x), x])
    W = X.T / var
    return np.linalg.solve(W @ X, W @ y)


def test_quadrature_tends_to_weighted_least_squares(df):
    # With flat priors on the line and the intrinsic scatter fixed near 0, the pooled posterior
    # mean is the weighted least-squares line with weights 1 / err^2.
    flat = {"mu_alpha": {"dist": "Normal", "mu": 0.0, "sigma": 1e3}, "mu_beta": {"dist": "Normal", "mu": 0.0, "sigma": 1e3},
            "sigma_school": {"dist": "Exponential", "lam": 1e6}}
    lines = fd.quadrature_posterior(df, pooling="complete", priors=flat)["lines"]["mean"]
    wls = _weighted_least_squares(df["hours_studied"].to_numpy(), df["score_change"].to_numpy(),
                                  df["score_change_err"].to_numpy() ** 2)
    np.testing.assert_allclose(lines[["alpha", "beta"]], wls, rtol=1e-4)


def test_partial_pooling_lies_between_the_extremes(df):
    means = {p: fd.quadrature_posterior(df, pooling=p)["lines"]["mean"] for p in fd.POOLING}
    # district E (two schools) is pulled from its unpooled slope toward the population slope
    e_un, e_hi, mu = means["none"]["beta[E]"], means["partial"]["beta[E]"], means["partial"]["mu_beta"]
    assert abs(e_hi - mu) < abs(e_un - mu)
    assert min(e_un, mu) <= e_hi <= max(e_un, mu)


@pytest.mark.parametrize("pooling", fd.POOLING)
def test_quadrature_is_converged(df, pooling):
    # Doubling the grid changes no reported number by more than 0.01 (issue 14, item 4).
    n = fd.quadrature.N_GRID
    results = [(fd.quadrature_posterior(df, pooling=pooling, n_grid=k), fd.quadrature_loo(df, pooling=pooling, n_grid=k))
               for k in (n, 2 * n)]
    (post, loo), (post2, loo2) = results
    assert abs(loo.sum() - loo2.sum()) < 0.01
    np.testing.assert_allclose(loo, loo2, atol=0.01)
    np.testing.assert_allclose(post["lines"], post2["lines"], atol=0.01)
    np.testing.assert_allclose(post["scales"], post2["scales"], atol=0.01)
    assert abs(post["log_evidence"] - post2["log_evidence"]) < 0.01


def test_quadrature_is_converged_under_the_other_prior_sets(df):
    for name in ("wide", "heavy-tailed"):
        n = fd.quadrature.N_GRID
        mu = [fd.quadrature_posterior(df, priors=fd.PRIOR_SETS[name], n_grid=k)["lines"].loc["mu_beta", "mean"]
              for k in (n, 2 * n)]
        assert abs(mu[0] - mu[1]) < 0.01, name


@pytest.mark.parametrize("pooling", fd.POOLING)
def test_quadrature_conditionals_match_the_dense_gaussian(df, pooling):
    """Given the scales, the quadrature's evidence, posterior means and variances (computed with
    the closed-form prior precision) equal the dense n x n Gaussian computation, with the prior
    covariance written out from the hierarchy: alpha_j = mu_alpha + sigma_alpha z_j."""
    from scipy import stats

    from hbm.five_districts.quadrature import _conditional, _setup

    m = _setup(df, pooling, None)
    X, names = m["X"], m["names"]
    p = fd.DEFAULT_PRIORS
    sd = {"alpha": p["mu_alpha"]["sigma"], "beta": p["mu_beta"]["sigma"]}
    rng = np.random.default_rng(7)
    scales = rng.uniform(0.2, 3.0, size=(3, len(m["scale_names"])))
    got = _conditional(m, scales, full=True)
    for b, point in enumerate(scales):
        scale = dict(zip(m["scale_names"], point))
        S0 = np.zeros((len(names), len(names)))
        for line in ("alpha", "beta"):
            members = [i for i, name in enumerate(names) if name.startswith((line, f"mu_{line}"))]
            if pooling == "partial":
                S0[np.ix_(members, members)] = sd[line] ** 2          # the shared mu_alpha (mu_beta)
                groups = [i for i in members if "[" in names[i]]
                S0[groups, groups] += scale[f"sigma_{line}"] ** 2
            else:
                S0[members, members] = sd[line] ** 2
        C = X @ S0 @ X.T + np.diag(m["s2"] + scale["sigma_school"] ** 2)
        assert got["loglik"][b] == pytest.approx(stats.multivariate_normal(X @ m["m0"], C).logpdf(m["y"]), rel=1e-10)
        gain = S0 @ X.T @ np.linalg.inv(C)
        np.testing.assert_allclose(got["mean"][b], m["m0"] + gain @ (m["y"] - X @ m["m0"]), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(got["var"][b], np.diag(S0 - gain @ X @ S0), rtol=1e-7)  # rounding of S0 - ...: 1e-9


@pytest.mark.parametrize("pooling", fd.POOLING)
def test_quadrature_loo_is_a_ratio_of_evidences(df, pooling):
    # log p(y_i | y_-i) = log p(y) - log p(y_-i): the closed form must match two evidence computations
    loo = fd.quadrature_loo(df, pooling=pooling)
    assert list(loo.index) == fd.coords(df)["school"]
    full = fd.quadrature_posterior(df, pooling=pooling)["log_evidence"]
    for i in (0, 25):  # A-1 and E-1
        rest = fd.quadrature_posterior(df.drop(index=i).reset_index(drop=True), pooling=pooling)["log_evidence"]
        assert loo.iloc[i] == pytest.approx(full - rest, abs=2e-3)
    assert np.all(loo < 0)


def test_quadrature_interval_is_a_94_percent_interval(df):
    post = fd.quadrature_posterior(df)
    mean, sd = post["lines"].loc["mu_beta"]
    low, high = fd.quadrature_interval(df, "mu_beta")
    assert low < mean < high
    assert (high - low) / (2 * 1.881 * sd) == pytest.approx(1, abs=0.05)  # close to Gaussian
    low, high = fd.quadrature_interval(df, "sigma_beta")
    assert 0 <= low < post["scales"].loc["sigma_beta", "mean"] < high
    with pytest.raises(ValueError, match="unknown parameter"):
        fd.quadrature_interval(df, "tau")


@pytest.mark.parametrize("name", ["mu_alpha", "mu_beta", "beta[E]"])
def test_quadrature_interval_holds_94_percent_of_the_exact_marginal(df, name):
    """A line parameter's marginal is the quadrature's mixture of normals: its exact probability
    between the interval's ends (the mixture's CDF, not the density grid the interval is read from)
    is 0.94, to the grid's resolution."""
    from scipy import stats

    from hbm.five_districts.quadrature import N_GRID, _quadrature

    q = _quadrature(df, "partial", None, N_GRID)
    j = q["names"].index(name)
    mu, sd = q["mean"][:, j], np.sqrt(q["var"][:, j])
    low, high = fd.quadrature_interval(df, name)
    mass = q["weight"] @ (stats.norm.cdf(high, mu, sd) - stats.norm.cdf(low, mu, sd))
    assert mass == pytest.approx(0.94, abs=5e-4)


@pytest.mark.parametrize("name", ["complete", "none", "centred"])
def test_model_density_is_the_quadratures_joint_density(df, name):
    """The PyMC model and the quadrature's linear-Gaussian model (its design, prior mean and prior
    precision, :func:`hbm.five_districts.quadrature._setup`) have the same joint density of the data,
    the lines and the scales, at random points: so the same posterior, which the quadrature computes
    exactly (its conditionals against the dense Gaussian and its convergence are tested above;
    chapter 2 compares every model's MCMC with it, within 4.5 Monte Carlo standard errors)."""
    from scipy import stats

    from hbm.five_districts.quadrature import _setup

    m = _setup(df, VARIANTS[name]["pooling"], None)
    model = _build(df, name)
    value = {rv.name: model.rvs_to_values[rv].name for rv in model.free_RVs}
    logp = model.compile_logp(jacobian=False)       # the density of the variables, not of the log scales
    k = len(model.coords["district"])
    spread = np.array([3.0 if n.startswith(("alpha", "mu_alpha")) else 0.3 for n in m["names"]])  # points, points/hour
    rng = np.random.default_rng(11)
    for _ in range(3):
        lines = m["m0"] + spread * rng.standard_normal(len(spread))
        scales = rng.uniform(0.3, 3.0, len(m["scale_names"]))
        if name == "complete":
            point = {"alpha": lines[0], "beta": lines[1]}
        else:
            point = {"alpha": lines[:k], "beta": lines[k:2 * k]}
            if name == "centred":
                point |= {"mu_alpha": lines[2 * k], "mu_beta": lines[2 * k + 1]}
        point |= dict(zip(m["scale_names"], scales))
        values = {value[v]: np.log(x) if value[v].endswith("_log__") else x for v, x in point.items()}
        assert set(values) == set(value.values())
        P0, logdet_S0 = (a[0] for a in m["prior_precision"](scales[None]))
        r = lines - m["m0"]
        expected = (stats.norm(m["X"] @ lines, np.sqrt(m["s2"] + scales[0] ** 2)).logpdf(m["y"]).sum()
                    - 0.5 * (r @ P0 @ r + logdet_S0 + len(r) * np.log(2 * np.pi))
                    + sum(float(hbm.priors.prior_logpdf(spec, x)) for spec, x in zip(m["priors"], scales)))
        # PyTensor rounds the Normal's constant log(sqrt(2 pi)) to single precision: 3e-8 per term
        assert logp(values) == pytest.approx(expected, abs=1e-6)


def test_prior_predictive_sd_matches_simulation(df, draw_at_once):
    model = fd.build_model(df)
    simulated = draw_at_once(model, model["score_change"], 4000, random_seed=5).std(axis=0)
    exact = fd.prior_predictive_sd(df)
    np.testing.assert_allclose(simulated, exact.to_numpy(), rtol=0.08)
    with pytest.raises(ValueError, match="HalfCauchy"):
        fd.prior_predictive_sd(df, priors=fd.PRIOR_SETS["heavy-tailed"])


def test_descriptor_and_benchmark_model():
    chapter = chapters.chapter("five_districts")
    assert (chapter.number, chapter.notebook, chapter.glue_prefix) == (2, "02_five_districts", "fd_")
    assert chapter.datasets == ["five_districts"] and len(chapter.goals) >= 5
    model, description = getattr(fd, chapter.benchmark_model)()
    assert isinstance(model, pm.Model) and "beta_z" in model.named_vars and "non-centred" in description


def test_generator_draws_other_district_sizes():
    sizes = {"A": 5, "B": 4, "C": 3, "D": 2, "E": 2, "F": 1}
    df, truth = five_districts(np.random.default_rng(1), sizes)
    assert df["district"].value_counts().to_dict() == sizes == truth["schools_per_district"]
    assert fd.validate_schools(df).shape == (17, 4)
    assert five_districts(np.random.default_rng(1))[0]["district"].value_counts().to_dict() == DISTRICT_SIZES


# ---------------------------------------------------------------------------
# Self-checks: the right answer passes; a wrong answer of the right shape fails without
# showing the reference.
# ---------------------------------------------------------------------------


def _hides(result, reference) -> bool:
    text = str(result)
    return not any(f"{v:.{k}f}" in text for v in np.atleast_1d(np.asarray(reference, float)) for k in (2, 3))


@pytest.fixture(scope="module")
def references(df):
    lines = {p: fd.quadrature_posterior(df, pooling=p)["lines"]["mean"] for p in fd.POOLING}
    return {"lines": lines, "sizes": df["district"].value_counts().sort_index()}


def test_check_district_sizes(references):
    right = references["sizes"]
    assert checks.check_district_sizes(right)
    assert checks.check_district_sizes(right.to_dict())
    wrong = checks.check_district_sizes([9, 7, 5, 3, 3])
    assert not wrong and _hides(wrong, right.to_numpy())


def test_check_pooled_slope(references):
    right = references["lines"]["complete"]["beta"]
    assert checks.check_pooled_slope(right + 0.005)
    wrong = checks.check_pooled_slope(references["lines"]["partial"]["mu_beta"])  # a plausible slope
    assert not wrong and _hides(wrong, right)


@pytest.mark.parametrize("pooling", ["none", "partial"])
def test_check_district_slopes(references, pooling):
    right = references["lines"][pooling][[f"beta[{d}]" for d in "ABCDE"]].to_numpy()
    assert checks.check_district_slopes(right + 0.01, pooling=pooling)
    other = "partial" if pooling == "none" else "none"  # the other model's slopes
    wrong = checks.check_district_slopes(references["lines"][other][[f"beta[{d}]" for d in "ABCDE"]].to_numpy(),
                                         pooling=pooling)
    assert not wrong and _hides(wrong, right)
    assert not checks.check_district_slopes(right[:4], pooling=pooling)
    with pytest.raises(ValueError, match="pooling"):
        checks.check_district_slopes(right, pooling="complete")


def test_check_school_slopes(df, references):
    lines = references["lines"]["partial"]
    right = lines[[f"beta[{d}]" for d in df["district"]]].to_numpy()
    assert checks.check_school_slopes(right)
    wrong = checks.check_school_slopes(references["lines"]["none"][[f"beta[{d}]" for d in df["district"]]].to_numpy())
    assert not wrong and _hides(wrong, right)
    assert not checks.check_school_slopes(np.full(27, lines["mu_beta"]))  # everyone at the population slope


def test_check_prior_predictive_sd(df):
    right = fd.prior_predictive_sd(df).to_numpy()
    assert checks.check_prior_predictive_sd(right * 1.05)
    wrong_priors = {"sigma_school": {"dist": "HalfNormal", "sigma": 10.0}}
    wrong = checks.check_prior_predictive_sd(fd.prior_predictive_sd(df, priors=wrong_priors).to_numpy())
    assert not wrong and _hides(wrong, right)


def test_check_prior_sensitivity(df):
    names = ["wide", "heavy-tailed"]
    post = {n: fd.quadrature_posterior(df, priors=fd.PRIOR_SETS[n]) for n in ["default", *names]}
    mu = {n: post[n]["lines"].loc["mu_beta", "mean"] for n in names}
    sigma = {n: post[n]["scales"].loc["sigma_beta", "mean"] for n in names}
    assert checks.check_prior_sensitivity(mu, sigma)
    assert checks.check_prior_sensitivity({k: v + 0.01 for k, v in mu.items()}, {k: 1.05 * v for k, v in sigma.items()})
    # refits that kept the default priors: mu_beta barely moves, but the spread of the slopes does
    default = {"mu": {n: post["default"]["lines"].loc["mu_beta", "mean"] for n in names},
               "sigma": {n: post["default"]["scales"].loc["sigma_beta", "mean"] for n in names}}
    wrong = checks.check_prior_sensitivity(default["mu"], default["sigma"])
    assert not wrong and "sigma_beta" in str(wrong) and _hides(wrong, list(mu.values()) + list(sigma.values()))
    wrong = checks.check_prior_sensitivity({k: v + 0.1 for k, v in mu.items()}, sigma)
    assert not wrong and _hides(wrong, list(mu.values()))
    assert not checks.check_prior_sensitivity({"wide": 0.25}, sigma)
    assert not checks.check_prior_sensitivity(mu, [0.2, 0.2])


@pytest.mark.parametrize("name", checks.POPULATION)
def test_check_true_value_inside(df, name):
    truth = data.load_truth("five_districts")["population"][name]
    low, high = fd.quadrature_interval(df, name)
    assert low <= truth <= high  # the shipped data's truths are inside the reference intervals
    assert checks.check_true_value_inside((low, high), name)
    for wrong in [(-100.0, 100.0),  # any wide interval
                  (truth - 1e-3, truth + 1e-3),  # a too narrow one
                  (truth + 1e-3, truth + 1e-3 + (high - low)),  # right width, misses the truth
                  (low + 0.25 * (high - low), high + 0.25 * (high - low))]:  # right width, shifted
        result = checks.check_true_value_inside(wrong, name)
        assert not result, wrong
        assert _hides(result, [low, high, truth])
    with pytest.raises(ValueError, match="unknown population parameter"):
        checks.check_true_value_inside((0, 1), "tau")


def test_check_true_value_inside_fails_another_models_interval(df):
    # the wide priors' 94% interval of mu_beta: a real posterior interval that contains the truth, of another model
    low, high = fd.quadrature_interval(df, "mu_beta", priors=fd.PRIOR_SETS["wide"])
    truth = data.load_truth("five_districts")["population"]["mu_beta"]
    assert low <= truth <= high
    wrong = checks.check_true_value_inside((low, high), "mu_beta")
    assert not wrong and _hides(wrong, fd.quadrature_interval(df, "mu_beta"))


def test_check_understanding():
    right = {"a": False, "b": True, "c": False, "d": False, "e": True, "f": False}
    assert checks.check_understanding(right)
    wrong = checks.check_understanding({**right, "a": True})  # "complete pooling predicts as well"
    assert not wrong and "1 of the 6" in str(wrong) and "'a'" not in str(wrong)
    assert not checks.check_understanding({**right, "d": True, "f": True})
    assert not checks.check_understanding({k: v for k, v in right.items() if k != "b"})
    assert not checks.check_understanding({**right, "e": 1})
