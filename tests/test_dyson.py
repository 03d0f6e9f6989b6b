import hbm  # noqa: F401  (first: links PyTensor to OpenBLAS)
import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.special import expit

from hbm import checks, data, dyson


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
    peaks = dyson.top_peaks(df, n_peaks=3)
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
    assert dyson.top_peaks(df, n_peaks=1)["false_alarm_probability"].iloc[0] > 0.05


def test_top_peak_of_every_simulated_object_is_near_its_true_frequency():
    truth = data.load_truth("dyson_spheres")["objects"]
    peaks = dyson.top_peaks(data.load_dyson_spheres(), n_peaks=2)
    top = peaks[peaks["rank"] == 1].set_index("object_id")
    assert sorted(top.index) == sorted(truth)
    for name, row in top.iterrows():
        assert abs(row["frequency"] - truth[name]["frequency"]) < 0.005
        assert row["lower"] < truth[name]["frequency"] < row["upper"]


def test_top_peaks_rejects_bad_options():
    df = synthetic()
    with pytest.raises(ValueError, match="n_peaks"):
        dyson.top_peaks(df, n_peaks=0)
    with pytest.raises(ValueError, match="minimum_frequency"):
        dyson.top_peaks(df, minimum_frequency=2.0, maximum_frequency=1.0)


def test_window_function_peaks_at_zero_frequency():
    t = np.sort(np.random.default_rng(2).uniform(0, 40, 10))
    f = np.linspace(0.001, 1, 500)
    w = dyson.window_function(t, f)
    assert w[0] > 0.99 and w[200:].max() < 0.9


def test_frequency_posterior_matches_brute_force_integration():
    df = synthetic(freqs=(0.2,), n=10, noise=0.05)
    t, y, dy = df["time"].to_numpy(), df["flux"].to_numpy(), df["flux_err"].to_numpy()
    grid = np.linspace(0.19, 0.21, 41)
    density = dyson.frequency_posterior(t, y, dy, grid)
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
    df = data.load_dyson_spheres()
    model = dyson.build_model(df, pooling=pooling)
    n = df["object_id"].nunique()
    assert len(model.coords["object"]) == n and len(model.coords["obs"]) == len(df)
    names = {rv.name for rv in model.free_RVs}
    expected = {"log_mean_flux", "frequency", "rel_amplitude_xy"}
    assert names == (expected | {"mu", "sigma", "rho_unit"} if pooling == "partial" else expected)
    point = model.initial_point()
    assert np.isfinite(model.compile_logp()(point))
    windows = dyson.frequency_windows(df)
    lower, upper = windows["lower"].to_numpy(), windows["upper"].to_numpy()
    start = lower + (upper - lower) * expit(point["frequency_interval__"])
    assert np.allclose(start, windows["peak"].to_numpy())


def test_model_builds_for_one_object_and_prefers_the_periodogram_peak():
    df = data.load_dyson_spheres()
    one = df[df["object_id"] == "DS-05"]
    model = dyson.build_model(one)
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
        dyson.build_model(df, pooling="complete")
    with pytest.raises(ValueError, match="no frequency window"):
        dyson.build_model(df, windows=dyson.frequency_windows(df).iloc[:1])
    with pytest.raises(ValueError, match="unknown prior"):
        dyson.build_model(df, priors={"tau": (1.0, 0.0)})


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
    for function in (dyson.check_light_curves, dyson.build_model, dyson.top_peaks):
        with pytest.raises(ValueError, match=message):
            function(bad)


def test_light_curve_summary_estimates_relative_amplitude():
    summary = dyson.light_curve_summary(synthetic(freqs=(0.2, 0.31), n=200, rel_amp=0.2))
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
    curve = dyson.predict_flux(post, "X", [0.0, 1.0, 2.0])
    assert curve.shape == (2, 50, 3)
    assert np.allclose(curve.isel(time=0), 100 * (1 + 0.2 * np.sin(post["phase"].sel(object="X"))))
    with pytest.raises(ValueError, match="not in the posterior"):
        dyson.predict_flux(post, "Y", [0.0])
    truth = {"objects": {"X": {"mean_flux": 100.0, "relative_amplitude": 0.2, "frequency": 0.25,
                               "phase": -np.pi + 0.01}}}
    table = dyson.recovery_table(az.InferenceData(posterior=post), truth).set_index("parameter")
    assert bool(table.loc["phase", "inside"])  # -pi + 0.01 is next to the draws around +pi
    assert bool(table.loc["frequency", "inside"])
    truth["objects"]["X"]["phase"] = 0.0
    assert not dyson.recovery_table(az.InferenceData(posterior=post), truth).set_index("parameter").loc[
        "phase", "inside"]


def test_chapter_3_self_checks_pass_and_fail():
    df = data.load_dyson_spheres()
    top = dyson.top_peaks(df, n_peaks=1)["frequency"].to_numpy()
    assert checks.check_top_frequencies(top)
    assert not checks.check_top_frequencies(top + 0.01)
    estimates = dyson.light_curve_summary(df)["rel_amplitude_estimate"].to_numpy()
    assert checks.check_rel_amplitude_estimates(estimates)
    assert not checks.check_rel_amplitude_estimates(estimates * 1.2)
    assert checks.check_frequency_means(top)  # the peaks lie within 0.001 of the posterior means here
    assert not checks.check_frequency_means(top + 0.003)
    result = checks.check_window_mass(np.ones(len(top)))
    assert not result and "window probabilities" in result.message
