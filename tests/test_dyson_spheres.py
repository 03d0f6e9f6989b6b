import hbm  # noqa: I001  (first: links PyTensor to OpenBLAS)
import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.special import expit

from hbm import data
from hbm import dyson_spheres as ds


def synthetic(freqs=(0.2, 0.31), n=14, span=40.0, rel_amp=0.2, noise=0.01, seed=1):
    """Light curves of pure sinusoids with small noise, one object per frequency."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, f in enumerate(freqs):
        t = np.sort(rng.uniform(0, span, n))
        err = np.full(n, noise * 100)
        y = 100 * (1 + rel_amp * np.sin(2 * np.pi * f * t + 0.7 * k)) + rng.normal(0, err)
        rows.append(pd.DataFrame({"object_id": f"S{k}", "time": t, "flux": y, "flux_err": err}))
    return pd.concat(rows, ignore_index=True)


def test_top_peaks_finds_injected_frequencies():
    df = synthetic()
    peaks = ds.top_peaks(df, n_peaks=3)
    assert list(peaks.columns) == ["object_id", "rank", "frequency", "period", "power", "false_alarm_probability",
                                   "lower", "upper"]
    assert peaks.groupby("object_id").size().tolist() == [3, 3]
    for (name, group), f in zip(peaks.groupby("object_id"), (0.2, 0.31)):
        assert group["rank"].tolist() == [1, 2, 3]
        assert group["power"].is_monotonic_decreasing
        top = group.iloc[0]
        assert abs(top["frequency"] - f) < 0.003
        assert top["lower"] < top["frequency"] < top["upper"]
        assert top["false_alarm_probability"] < 1e-6
        assert np.allclose(group["period"], 1 / group["frequency"])


def test_top_peaks_of_noise_are_not_significant():
    rng = np.random.default_rng(5)
    t = np.sort(rng.uniform(0, 40, 12))
    df = pd.DataFrame({"object_id": "N", "time": t, "flux": rng.normal(100, 2, 12), "flux_err": 2.0})
    assert ds.top_peaks(df, n_peaks=1)["false_alarm_probability"].iloc[0] > 0.05


def test_top_peak_of_every_simulated_object_is_near_its_true_frequency():
    truth = data.load_truth("dyson_spheres")["objects"]
    peaks = ds.top_peaks(data.load("dyson_spheres"), n_peaks=2)
    top = peaks[peaks["rank"] == 1].set_index("object_id")
    assert sorted(top.index) == sorted(truth)
    for name, row in top.iterrows():
        assert abs(row["frequency"] - truth[name]["frequency"]) < 0.005
        assert row["lower"] < truth[name]["frequency"] < row["upper"]


def test_top_peaks_rejects_bad_options():
    df = synthetic()
    with pytest.raises(ValueError, match="n_peaks"):
        ds.top_peaks(df, n_peaks=0)
    with pytest.raises(ValueError, match="minimum_frequency"):
        ds.top_peaks(df, minimum_frequency=2.0, maximum_frequency=1.0)


def test_window_function_peaks_at_zero_frequency():
    t = np.sort(np.random.default_rng(2).uniform(0, 40, 10))
    f = np.linspace(0.001, 1, 500)
    w = ds.window_function(t, f)
    assert w[0] > 0.99 and w[200:].max() < 0.9


def test_frequency_posterior_matches_brute_force_integration():
    df = synthetic(freqs=(0.2,), n=10, noise=0.05)
    t, y, dy = df["time"].to_numpy(), df["flux"].to_numpy(), df["flux_err"].to_numpy()
    grid = np.linspace(0.19, 0.21, 41)
    density = ds.frequency_posterior(t, y, dy, grid)
    assert np.isclose(density.sum() * (grid[1] - grid[0]), 1.0)

    def marginal(f):  # integrate exp(-chi2 / 2) over (a, b, c) on a grid around the optimum
        X = np.column_stack([np.ones_like(t), np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)])
        best, *_ = np.linalg.lstsq(X / dy[:, None], y / dy, rcond=None)
        sd = np.sqrt(np.diag(np.linalg.inv((X / dy[:, None]).T @ (X / dy[:, None]))))
        axes = [np.linspace(b - 7 * s, b + 7 * s, 71) for b, s in zip(best, sd)]
        A, B, C = np.meshgrid(*axes, indexing="ij")
        resid = y - (A[..., None] + B[..., None] * X[:, 1] + C[..., None] * X[:, 2])
        chi2 = np.sum((resid / dy) ** 2, axis=-1)
        return np.exp(-0.5 * chi2).sum() * np.prod([a[1] - a[0] for a in axes])

    i, j = 20, 25
    assert np.isclose(density[i] / density[j], marginal(grid[i]) / marginal(grid[j]), rtol=1e-3)


@pytest.mark.parametrize("pooling", ["partial", "none"])
def test_model_builds_for_all_objects(pooling):
    df = data.load("dyson_spheres")
    model = ds.build_model(df, pooling=pooling)
    n = df["object_id"].nunique()
    assert len(model.coords["object"]) == n and len(model.coords["obs"]) == len(df)
    names = {rv.name for rv in model.free_RVs}
    expected = {"log_mean_flux", "frequency", "rel_amplitude_xy"}
    population = {"mu_log_rel_amplitude", "mu_log_frequency", "sigma_log_rel_amplitude", "sigma_log_frequency",
                  "rho_unit"}
    assert names == (expected | population if pooling == "partial" else expected)
    point = model.initial_point()
    assert np.isfinite(model.compile_logp()(point))
    windows = ds.frequency_windows(df)
    lower, upper = windows["lower"].to_numpy(), windows["upper"].to_numpy()
    start = lower + (upper - lower) * expit(point["frequency_interval__"])
    assert np.allclose(start, windows["peak"].to_numpy())


def test_model_builds_for_one_object_and_prefers_the_periodogram_peak():
    df = data.load("dyson_spheres")
    one = df[df["object_id"] == "DS-05"]
    model = ds.build_model(one)
    assert list(model.coords["object"]) == ["DS-05"]
    logp = model.compile_logp()
    point = model.initial_point()
    peak = logp(point)
    shifted = dict(point)
    shifted["frequency_interval__"] = point["frequency_interval__"] + 0.5
    assert peak > logp(shifted)


def test_build_model_rejects_bad_options():
    df = synthetic()
    with pytest.raises(ValueError, match="pooling"):
        ds.build_model(df, pooling="complete")
    with pytest.raises(ValueError, match="no frequency window"):
        ds.build_model(df, windows=ds.frequency_windows(df).iloc[:1])
    with pytest.raises(ValueError, match="unknown prior"):
        ds.build_model(df, priors={"tau": {"dist": "HalfNormal", "sigma": 1.0}})
    with pytest.raises(ValueError, match="sigma_log_frequency"):
        ds.build_model(df, priors={"sigma_log_frequency": {"dist": "Normal", "mu": 0.0, "sigma": 1.0}})


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.assign(time=np.where(d.index == 3, d["time"].iloc[2], d["time"])), "duplicate time"),
        (lambda d: d.iloc[[0, 2, 1, *range(3, len(d))]].reset_index(drop=True), "out of time order"),
        (lambda d: d.assign(flux=np.where(d.index == 4, np.nan, d["flux"])), "'flux', row 5 \\(object_id 'S0'\\).*NaN"),
        (lambda d: d.assign(flux_err=np.where(d.index == 5, 0.0, d["flux_err"])), "must be positive"),
        (lambda d: d.assign(flux_err=np.where(d.index == 5, -1.0, d["flux_err"])), "must be positive"),
        (lambda d: d.drop(columns="flux_err"), "missing column"),
        (lambda d: d.iloc[:3], "at least"),
    ],
)
def test_bad_light_curves_are_refused(change, message):
    bad = change(synthetic(freqs=(0.2,)))
    for function in (ds.validate_light_curves, ds.build_model, ds.top_peaks):
        with pytest.raises(ValueError, match=message):
            function(bad)


def test_light_curve_summary_estimates_relative_amplitude():
    summary = ds.light_curve_summary(synthetic(freqs=(0.2, 0.31), n=200, rel_amp=0.2))
    assert np.allclose(summary["rel_amplitude_estimate"], 0.2, atol=0.02)
    assert np.allclose(summary["relative_noise"], 0.01, rtol=0.05)


def test_predict_flux_and_circular_recovery():
    rng = np.random.default_rng(0)
    post = xr.Dataset(
        {"mean_flux": (("chain", "draw", "object"), np.full((2, 50, 1), 100.0)),
         "rel_amplitude": (("chain", "draw", "object"), np.full((2, 50, 1), 0.2)),
         "frequency": (("chain", "draw", "object"), 0.25 + rng.normal(0, 1e-4, (2, 50, 1))),
         "phase": (("chain", "draw", "object"), np.angle(np.exp(1j * (np.pi + rng.normal(0, 0.05, (2, 50, 1))))))},
        coords={"object": ["X"]})
    curve = ds.predict_flux(post, "X", [0.0, 1.0, 2.0])
    assert curve.shape == (2, 50, 3)
    assert np.allclose(curve.isel(time=0), 100 * (1 + 0.2 * np.sin(post["phase"].sel(object="X"))))
    with pytest.raises(ValueError, match="not in the posterior"):
        ds.predict_flux(post, "Y", [0.0])
    truth = {"objects": {"X": {"mean_flux": 100.0, "relative_amplitude": 0.2, "frequency": 0.25,
                               "phase": -np.pi + 0.01}}}
    table = ds.recovery_table(az.InferenceData(posterior=post), truth).set_index("parameter")
    assert bool(table.loc["phase", "inside"])  # -pi + 0.01 is next to the draws around +pi
    assert bool(table.loc["frequency", "inside"])
    truth["objects"]["X"]["phase"] = 0.0
    assert not ds.recovery_table(az.InferenceData(posterior=post), truth).set_index("parameter").loc[
        "phase", "inside"]


# ---------------------------------------------------------------------------
# The grid model: every peak competes
# ---------------------------------------------------------------------------


def test_grid_likelihood_matches_brute_force_integration_with_gaussian_prior():
    df = synthetic(freqs=(0.2,), n=10, noise=0.05)
    t, y, dy = df["time"].to_numpy(), df["flux"].to_numpy(), df["flux_err"].to_numpy()
    grid = ds.frequency_grid(df, maximum_frequency=0.3)
    sd = grid.rel_amplitude_prior["sigma"] * grid.scale[0]

    def log_marginal(f):  # integrate N(y | a + b sin + c cos) N(b | 0, sd) N(c | 0, sd) over (a, b, c)
        X = np.column_stack([np.ones_like(t), np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)])
        best, *_ = np.linalg.lstsq(X / dy[:, None], y / dy, rcond=None)
        scale = np.sqrt(np.diag(np.linalg.inv((X / dy[:, None]).T @ (X / dy[:, None]))))
        axes = [np.linspace(b - 8 * s, b + 8 * s, 81) for b, s in zip(best, scale)]
        A, B, C = np.meshgrid(*axes, indexing="ij")
        resid = y - (A[..., None] + B[..., None] * X[:, 1] + C[..., None] * X[:, 2])
        log_terms = (-0.5 * np.sum((resid / dy) ** 2, axis=-1) - 0.5 * (B**2 + C**2) / sd**2
                     - np.log(2 * np.pi * sd**2))
        top = log_terms.max()
        return top + np.log(np.exp(log_terms - top).sum() * np.prod([a[1] - a[0] for a in axes]))

    i, j = np.searchsorted(grid.frequency[0], [0.2, 0.202])
    expected = log_marginal(grid.frequency[0, i]) - log_marginal(grid.frequency[0, j])
    assert np.isclose(grid.log_likelihood[0, i] - grid.log_likelihood[0, j], expected, atol=1e-3)


def test_grid_is_fine_enough():
    df = data.load("dyson_spheres")
    coarse = ds.frequency_grid(df)
    fine = ds.frequency_grid(df, points_per_peak=2 * ds.POINTS_PER_PEAK)
    for pop in [(None, None), (np.log(0.2), 0.25)]:
        a = ds.frequency_summary(coarse, ds.frequency_weights(coarse, *pop))
        b = ds.frequency_summary(fine, ds.frequency_weights(fine, *pop))
        assert np.allclose(a.to_numpy(), b.to_numpy(), atol=1e-4)


def test_grid_model_logp_is_the_mixture_over_the_grid():
    from scipy import stats

    df = synthetic(freqs=(0.2, 0.31), n=12, noise=0.03)
    grid = ds.frequency_grid(df)
    model = ds.build_grid_model(grid)
    assert {rv.name for rv in model.free_RVs} == {"mu_log_frequency", "sigma_log_frequency"}
    mu, sigma = np.log(0.25), 0.3
    point = {"mu_log_frequency": mu, "sigma_log_frequency_log__": np.log(sigma)}
    potential = model.replace_rvs_by_values([model.potentials[0]])[0]
    terms = model.compile_fn(potential, inputs=model.value_vars)(point)
    for k in range(2):
        f = grid.frequency[k]
        dens = stats.lognorm(sigma, scale=np.exp(mu)).pdf(f)
        ll = grid.log_likelihood[k] - grid.log_likelihood[k].max()
        # the truncated prior normalised over the grid ...
        expected = np.log(np.sum(np.exp(ll) * dens) / np.sum(dens))
        assert np.isclose(terms[k], expected, rtol=1e-8)
        # ... which is the prior's probability of the band here, where sigma spans many grid steps
        band = stats.lognorm(sigma, scale=np.exp(mu)).cdf(f[[0, -1]] + grid.step[k] * np.array([-0.5, 0.5]))
        assert np.isclose(np.sum(dens) * grid.step[k], band[1] - band[0], rtol=1e-6)


def test_grid_model_is_exact_for_a_population_narrower_than_the_grid():
    """A population far narrower than the grid spacing puts each object's frequency on one grid
    point: the one nearest its centre, or the band's edge when the centre lies outside the band.
    Each object's term is then its likelihood there, relative to its maximum. (The band's normal
    probability and the grid's sum are both huge there: as their difference, the term was 0 or
    rounding noise, and a chain that reached it stuck.) Evaluated without PyTensor's rewrites
    (``python_mode``, from tests/conftest.py), so the model must be stable by itself: with the
    largest prior term left in, the test fails in that mode and as nutpie compiles it (numba and
    the rewrites) alike, and passes in both as the model is. Compiled by numba it took 3.5 s more on
    a new machine."""
    df = synthetic(freqs=(0.2, 0.31), n=12, noise=0.03)
    grid = ds.frequency_grid(df)
    model = ds.build_grid_model(grid)
    potential = model.replace_rvs_by_values([model.potentials[0]])[0]
    terms = model.compile_fn(potential, inputs=model.value_vars)
    base = grid.log_likelihood - grid.log_likelihood.max(axis=1, keepdims=True)
    log_f = np.log(grid.frequency)
    inside = np.log(0.3) + 1e-4                     # between grid points of both objects
    nearest = np.abs(log_f - inside).argmin(axis=1)
    for mu, expected in [(-15.0, base[:, 0]), (3.0, base[:, -1]), (inside, base[[0, 1], nearest])]:
        for log_sigma in (-67.0, -40.0, -20.0):
            value = terms({"mu_log_frequency": mu, "sigma_log_frequency_log__": log_sigma})
            np.testing.assert_allclose(value, expected, rtol=1e-9, err_msg=f"mu {mu}, log sigma {log_sigma}")
    for mu in (-15.0, np.log(0.25), 3.0):
        for log_sigma in (-10.0, -3.0, 0.0, 2.0):
            value = terms({"mu_log_frequency": mu, "sigma_log_frequency_log__": log_sigma})
            assert np.all(np.isfinite(value)) and np.all(value <= 1e-12), (mu, log_sigma, value)


def _issue_case():
    """Light curves simulated the chapter's way (8 objects, 10-15 points over 45 days), in which
    DS-03's highest periodogram peak is an alias far from its true frequency."""
    df, truth = ds.simulate_light_curves(np.random.default_rng(13),
                                         {"span_days": 45.0, "min_points": 10, "max_points": 15})
    return df, truth["objects"]["DS-03"]["frequency"]


def test_grid_model_finds_the_true_peak_when_it_is_not_the_highest():
    df, true_f = _issue_case()
    window = ds.frequency_windows(df).loc["DS-03"]
    assert not window["lower"] <= true_f <= window["upper"], "premise: the highest peak is not the true one"
    grid = ds.frequency_grid(df)
    _, weights = ds.population_quadrature(grid, ds.GRID_PRIORS)
    interval = ds.frequency_summary(grid, weights).loc["DS-03"]
    assert interval["lower"] <= true_f <= interval["upper"]
    assert interval["upper"] - interval["lower"] < 0.02  # it chose the true peak, not the whole band
    masses = ds.peak_masses(grid, {"independent": ds.frequency_weights(grid), "population": weights})
    masses = masses[masses["object_id"] == "DS-03"]
    true_peak = masses[(masses["lower"] <= true_f) & (true_f <= masses["upper"])].iloc[0]
    highest = masses.sort_values("independent").iloc[-1]
    assert highest["frequency"] != true_peak["frequency"]  # without the population another peak wins
    assert true_peak["population"] > 0.9


def test_grid_posterior_over_exact_population_draws_matches_quadrature():
    """grid_posterior, given exact draws of the population (from the quadrature's points), gives each
    object's frequency the mean of the quadrature's frequency weights. (That NUTS on the grid model
    draws the quadrature's population is asserted by chapter 3 itself, within 4 Monte Carlo standard
    errors, in every build.)"""
    df = data.load("dyson_spheres")
    grid, points, weights, _ = ds.checks._grid_reference()   # the quadrature of this data, cached
    w = points["weight"].to_numpy()
    pick = np.random.default_rng(3).choice(len(points), size=(2, 500), p=w / w.sum())
    post = xr.Dataset({name: (("chain", "draw"), points[name].to_numpy()[pick])
                       for name in ("mu_log_frequency", "sigma_log_frequency")})
    draws = ds.grid_posterior(df, grid, post, random_seed=4)
    frequencies = ds.frequency_summary(grid, weights)
    assert np.allclose(draws["frequency"].mean(("chain", "draw")), frequencies["mean"], atol=0.003)
    assert np.all(draws["rel_amplitude"] > 0) and np.all(np.abs(draws["phase"]) <= np.pi)


def test_quadrature_weights_are_the_grid_models_posterior_density():
    """population_quadrature's points carry the grid model's posterior (PyMC's log density of
    build_grid_model, on the sampler's scale log sigma_f, as the quadrature's grid): the log weight
    minus the model's log density is the same constant at every point, the heaviest and the
    lightest alike (the quadrature sums each object's prior over its grid in its own way)."""
    grid, points, _, _ = ds.checks._grid_reference()
    model = ds.build_grid_model(grid)
    logp = model.compile_logp()
    pick = np.unique(np.r_[np.argsort(points["weight"].to_numpy())[[0, 1, -2, -1]],
                           np.linspace(0, len(points) - 1, 24).astype(int)])
    rows = points.iloc[pick]
    diff = [np.log(r.weight) - logp({"mu_log_frequency": r.mu_log_frequency,
                                     "sigma_log_frequency_log__": np.log(r.sigma_log_frequency)})
            for r in rows.itertuples()]
    assert rows["weight"].max() / rows["weight"].min() > 1e6        # points of every weight
    assert np.ptp(diff) < 1e-10, np.ptp(diff)      # 2.5e-14 here


def test_peak_masses_partition_the_band():
    grid = ds.frequency_grid(data.load("dyson_spheres"))
    weights = ds.frequency_weights(grid)
    table = ds.peak_masses(grid, {"independent": weights}, n_peaks=10_000)
    assert np.allclose(table.groupby("object_id")["independent"].sum(), 1.0, atol=1e-9)


def test_grid_options_are_validated():
    df = synthetic()
    with pytest.raises(ValueError, match="zero-mean normal"):
        ds.frequency_grid(df, rel_amplitude_prior={"dist": "HalfNormal", "sigma": 0.2})
    with pytest.raises(ValueError, match="points_per_peak"):
        ds.frequency_grid(df, points_per_peak=2)
    with pytest.raises(ValueError, match="FrequencyGrid"):
        ds.build_grid_model(df)
    with pytest.raises(ValueError, match="unknown prior"):
        ds.build_grid_model(ds.frequency_grid(df), priors={"mu_log_rel_amplitude": {"dist": "Normal", "mu": 0,
                                                                                      "sigma": 1}})


def test_simulation_overrides():
    df, truth = ds.simulate_light_curves(np.random.default_rng(0), {"n_objects": 3}, seed=5)
    assert df["object_id"].nunique() == 3 and truth["seed"] == 5
    with pytest.raises(ValueError, match="unknown population"):
        ds.simulate_light_curves(np.random.default_rng(0), {"n_object": 3})


# ---------------------------------------------------------------------------
# Self-checks: a right answer passes, a wrong one of the right shape fails without the reference
# ---------------------------------------------------------------------------


def _no_reference(result, reference):
    text = str(result)
    for value in np.ravel(reference):
        for digits in (3, 4):
            assert f"{value:.{digits}f}" not in text


def test_check_rel_amplitude_estimates():
    ref = ds.light_curve_summary(data.load("dyson_spheres"))["rel_amplitude_estimate"].to_numpy()
    assert ds.checks.check_rel_amplitude_estimates(ref)
    wrong = ds.checks.check_rel_amplitude_estimates(ref * 1.1)
    assert not wrong
    _no_reference(wrong, ref)


def _excess_variance(df, *, ddof=1, noise=True):
    """The exercise's estimator written as a student would, without the package's helper."""
    out = []
    for _, g in df.groupby("object_id", sort=False):
        excess = g["flux"].var(ddof=ddof) - noise * (g["flux_err"] ** 2).mean()
        out.append(np.sqrt(2 * max(excess, 0.0)) / g["flux"].mean())
    return np.array(out)


def test_check_rel_amplitude_estimates_student_answers():
    df = data.load("dyson_spheres")
    ref = ds.light_curve_summary(df)["rel_amplitude_estimate"].to_numpy()
    assert ds.checks.check_rel_amplitude_estimates(_excess_variance(df))  # the text's recipe
    # Forgot to subtract the measurement noise: the raw scatter.
    no_noise = ds.checks.check_rel_amplitude_estimates(_excess_variance(df, noise=False))
    assert not no_noise
    _no_reference(no_noise, ref)
    # The population variance (divisor n) instead of the sample variance the text asks for.
    assert not ds.checks.check_rel_amplitude_estimates(_excess_variance(df, ddof=0))


def test_check_top_frequencies():
    peaks = ds.top_peaks(data.load("dyson_spheres"), n_peaks=2)
    ref = peaks[peaks["rank"] == 1]["frequency"].to_numpy()
    assert ds.checks.check_top_frequencies(ref)
    wrong = ds.checks.check_top_frequencies(peaks[peaks["rank"] == 2]["frequency"].to_numpy())
    assert not wrong
    _no_reference(wrong, ref)


def _astropy_top_peaks(df, samples_per_peak):
    from astropy.timeseries import LombScargle

    out = []
    for _, g in df.groupby("object_id", sort=False):
        t = g["time"].to_numpy()
        f, p = LombScargle(t, g["flux"], g["flux_err"]).autopower(
            minimum_frequency=1 / (t.max() - t.min()), maximum_frequency=1.0,
            samples_per_peak=samples_per_peak)
        out.append(f[np.argmax(p)])
    return np.array(out)


def test_check_top_frequencies_student_answers():
    """The exercise's recipe with astropy alone passes; astropy's default grid (5 samples per peak,
    which the exercise text warns against) is too coarse for the 0.002 tolerance."""
    df = data.load("dyson_spheres")
    assert ds.checks.check_top_frequencies(_astropy_top_peaks(df, 50))
    assert not ds.checks.check_top_frequencies(_astropy_top_peaks(df, 5))


def test_check_frequency_means():
    ref = ds.checks._window_means()
    assert ds.checks.check_frequency_means(ref + 0.0005)
    top = ds.top_peaks(data.load("dyson_spheres"), n_peaks=1)["frequency"].to_numpy()
    wrong = ds.checks.check_frequency_means(top + 0.003)
    assert not wrong
    _no_reference(wrong, ref)
    # The centre of each window instead of the posterior mean in it.
    windows = ds.frequency_windows(data.load("dyson_spheres"))
    centre = ds.checks.check_frequency_means(((windows["lower"] + windows["upper"]) / 2).to_numpy())
    assert not centre
    _no_reference(centre, ref)


def test_check_frequency_intervals():
    *_, ref = ds.checks._grid_reference()
    lower, upper = ref["lower"].to_numpy(), ref["upper"].to_numpy()
    width = upper - lower
    assert ds.checks.check_frequency_intervals(lower, upper)
    shifted = ds.checks.check_frequency_intervals(lower + 0.5 * width, upper + 0.5 * width)
    assert not shifted
    _no_reference(shifted, np.concatenate([lower, upper]))
    centre = (lower + upper) / 2
    wide = ds.checks.check_frequency_intervals(centre - width, centre + width)  # twice as wide
    assert not wide and "too far into the tails" in wide.message
    assert not ds.checks.check_frequency_intervals([-100.0] * 8, [100.0] * 8)
    narrow = ds.checks.check_frequency_intervals(centre - 0.25 * width, centre + 0.25 * width)
    assert not narrow and "cut off" in narrow.message
    assert not ds.checks.check_frequency_intervals(upper, lower)
    assert not ds.checks.check_frequency_intervals(lower[:3], upper[:3])
    # the window model's answer (the exact posterior inside each highest-peak window) is not this one
    df = data.load("dyson_spheres")
    windows = ds.frequency_windows(df)
    window_ends = []
    for name, g in df.groupby("object_id", sort=False):
        f = np.linspace(windows.loc[name, "lower"], windows.loc[name, "upper"], 4001)
        cdf = np.cumsum(ds.frequency_posterior(g["time"], g["flux"], g["flux_err"], f) / f)
        window_ends.append(np.interp([0.03, 0.97], cdf / cdf[-1], f))
    window_ends = np.array(window_ends)
    assert not ds.checks.check_frequency_intervals(window_ends[:, 0], window_ends[:, 1])


def test_check_window_mass():
    df = data.load("dyson_spheres")
    ref = ds.window_mass(df, ds.frequency_windows(df)).to_numpy()
    assert ds.checks.check_window_mass(ref)
    wrong = ds.checks.check_window_mass(np.clip(ref - 0.02, 0, 1))
    assert not wrong and "window probabilities" in wrong.message
    _no_reference(wrong, ref)
    # The text's recipe on a coarser grid of its own passes; a flat prior on f instead of the
    # log-uniform one the exercise asks for fails.
    windows = ds.frequency_windows(df)
    answers = {"log-uniform": [], "flat": []}
    for name, g in df.groupby("object_id", sort=False):
        t = g["time"].to_numpy()
        f = np.linspace(1 / (t.max() - t.min()), 1.0, 5000)
        density = ds.frequency_posterior(t, g["flux"], g["flux_err"], f)
        inside = (f >= windows.loc[name, "lower"]) & (f <= windows.loc[name, "upper"])
        for prior, weighted in (("log-uniform", density / f), ("flat", density)):
            answers[prior].append(weighted[inside].sum() / weighted.sum())
    assert ds.checks.check_window_mass(answers["log-uniform"])
    flat = ds.checks.check_window_mass(answers["flat"])
    assert not flat
    _no_reference(flat, ref)


def test_check_top_peak_masses():
    grid, _, weights, _ = ds.checks._grid_reference()
    ref = ds.peak_masses(grid, {"p": weights}, n_peaks=1)["p"].to_numpy()
    assert ds.checks.check_top_peak_masses(ref + 0.005)
    independent = ds.peak_masses(grid, {"p": ds.frequency_weights(grid)}, n_peaks=1)["p"].to_numpy()
    wrong = ds.checks.check_top_peak_masses(independent)  # without the population
    assert not wrong
    _no_reference(wrong, ref)


def test_population_moments_are_the_weighted_mean_and_sd():
    points = pd.DataFrame({"mu_log_frequency": [0.0, 1.0, 3.0], "sigma_log_frequency": [1.0, 1.0, 2.0],
                           "weight": [0.25, 0.5, 0.25]})
    moments = ds.population_moments(points)
    assert moments.loc["mu_log_frequency", "mean"] == pytest.approx(1.25)
    assert moments.loc["mu_log_frequency", "sd"] == pytest.approx(np.sqrt(0.25 * 1.25**2 + 0.5 * 0.25**2 + 0.25 * 1.75**2))
    assert moments.loc["sigma_log_frequency", "mean"] == pytest.approx(1.25)
    assert moments.loc["sigma_log_frequency", "sd"] == pytest.approx(np.sqrt(3) / 4)


def test_grid_of_some_objects_gives_their_weights():
    grid = ds.frequency_grid(synthetic(freqs=(0.2, 0.31, 0.45)))
    names = [grid.objects[2], grid.objects[0]]
    part = grid.select(names)
    assert part.objects == names and part.frequency.shape == (2, grid.frequency.shape[1])
    rows = [grid.objects.index(n) for n in names]
    mu, sigma = np.array([-1.0, 0.5]), np.array([0.3, 1.0])
    for args in [(), (mu, sigma)]:
        assert np.allclose(ds.frequency_weights(part, *args), ds.frequency_weights(grid, *args)[rows])
    with pytest.raises(ValueError, match="no such object.*S9"):
        grid.select(["S0", "S9"])
