"""PyMC models of the light curves: the window-restricted sinusoid population and the grid
mixture over every periodogram peak.

Object ``k`` is observed at a few irregular times ``t`` with flux ``y +- dy`` and modelled as
a single sinusoid about its mean flux ``m_k``,

    y ~ Normal(m_k (1 + r_k sin(2 pi f_k t + phi_k)), dy),

with relative amplitude ``r_k``, frequency ``f_k`` (cycles per day) and phase ``phi_k``.

* :func:`build_model` samples every parameter with NUTS, each frequency inside the window of
  its highest periodogram peak: the posterior *conditional on* that peak. It carries the
  population of amplitudes and frequencies (and their correlation), but it cannot prefer another
  peak.
* :func:`build_grid_model` integrates each object's sinusoid coefficients out exactly and sums
  its frequency over a fine grid of the whole band, so every peak competes; NUTS samples only the
  population of frequencies.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from hbm.dyson_spheres.exact import FrequencyGrid
from hbm.dyson_spheres.lightcurves import validate_light_curves
from hbm.dyson_spheres.periodogram import frequency_windows
from hbm.priors import Prior, prior_rv, resolve_priors

DEFAULT_PRIORS: dict[str, dict] = {
    "mu_log_rel_amplitude": {"dist": "Normal", "mu": -2.0, "sigma": 1.0},
    "mu_log_frequency": {"dist": "Normal", "mu": float(np.log(0.15)), "sigma": 1.0},
    "sigma_log_rel_amplitude": {"dist": "HalfNormal", "sigma": 0.5},
    "sigma_log_frequency": {"dist": "HalfNormal", "sigma": 0.5},
    "log_mean_flux": {"dist": "Normal", "mu": 0.0, "sigma": 2.0},
}
"""Default priors of :func:`build_model`. ``mu_*``: the population means of log relative
amplitude and log frequency (a relative amplitude of ``exp(-2) = 0.14`` and a frequency of 0.15
cycles/day, each within a factor ``e`` at one sd); ``sigma_*``: the population standard
deviations. ``log_mean_flux`` is a normal *centred on the log of each object's median flux*
(its ``mu`` is added to that centre). The model without pooling gives each log relative
amplitude the prior of ``mu_log_rel_amplitude``. The correlation of the two population
log-normals has an LKJ(2) prior, density proportional to ``1 - rho**2``, not an option."""

GRID_PRIORS: dict[str, dict] = {k: DEFAULT_PRIORS[k] for k in ("mu_log_frequency", "sigma_log_frequency")}
"""Default priors of :func:`build_grid_model`: those of the frequency population."""

POOLING = ("partial", "none")


def _least_squares_start(df: pd.DataFrame, objects: list[str], frequency: np.ndarray,
                         t_ref: np.ndarray) -> dict[str, np.ndarray]:
    """Weighted least-squares sinusoid of each object at a given frequency, with the phase taken at
    the object's reference time ``t_ref``: the sampler's starting point."""
    median_flux, amp_xy = [], []
    for name, f, t0 in zip(objects, frequency, t_ref):
        g = df[df["object_id"] == name]
        t, y, w = g["time"].to_numpy() - t0, g["flux"].to_numpy(), 1 / g["flux_err"].to_numpy()
        X = np.column_stack([np.ones_like(t), np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)])
        (a, b, c), *_ = np.linalg.lstsq(X * w[:, None], y * w, rcond=None)
        median_flux.append(abs(float(np.median(y))) or 1.0)
        scale = a if a > 0 else median_flux[-1]
        amp_xy.append([b / scale, c / scale])
    return {"median_flux": np.array(median_flux), "frequency": np.asarray(frequency, dtype=float),
            "rel_amplitude_xy": np.array(amp_xy)}


def build_model(
    df: pd.DataFrame,
    *,
    windows: pd.DataFrame | None = None,
    pooling: str = "partial",
    priors: Mapping[str, Prior] | None = None,
) -> pm.Model:
    """Sinusoid model of every object's light curve, each frequency inside a window.

    Parameters
    ----------
    df : pandas.DataFrame
        A light-curve table (see :func:`validate_light_curves`); one or more objects.
    windows : pandas.DataFrame, optional
        Indexed by ``object_id`` with columns ``lower`` and ``upper``: each
        object's frequency window (cycles/day). Default
        :func:`frequency_windows` of ``df``, the basin of the highest
        periodogram peak.
    pooling : {"partial", "none"}, default "partial"
        ``"partial"``: log relative amplitudes and log frequencies are drawn
        from a population, a bivariate normal with means ``mu``, standard
        deviations ``sigma`` and correlation ``rho``. ``"none"``: independent
        objects, each log relative amplitude with a fixed normal prior and each
        frequency log-uniform in its window. (Complete pooling, one sinusoid for
        all objects, makes no sense here.)
    priors : mapping, optional
        Overrides of :data:`DEFAULT_PRIORS` (``hbm.priors`` shape).

    Returns
    -------
    pymc.Model
        Coordinates ``object``, ``obs`` (the rows of ``df``), ``xy`` and, when
        pooled, ``param``. Free variables: ``log_mean_flux``, ``frequency``
        (bounded to the window), ``rel_amplitude_xy`` (the vector
        ``(r cos psi, r sin psi)``, whose length is the relative amplitude and
        whose angle ``psi`` is the phase at the object's mean observation time,
        so the phase has no artificial boundary; its components are flat on
        ``(-1, 1)``) and, when pooled,
        ``mu_log_rel_amplitude``, ``mu_log_frequency``, ``sigma_log_rel_amplitude``,
        ``sigma_log_frequency`` and ``rho_unit`` (``(1 + rho) / 2``).
        Deterministics: ``mean_flux``, ``rel_amplitude``, ``amplitude``,
        ``phase`` (at ``t = 0``, in ``(-pi, pi]``) and, when pooled, ``mu``, ``sigma`` (dims ``param``)
        and ``rho``. Observed: ``flux``.

    Notes
    -----
    Restricting each frequency to its window samples the posterior conditional
    on the frequency lying in the window: the model can never prefer another
    peak (:func:`build_grid_model` can). Hence the population density enters
    as a :func:`pymc.Potential` on the window-bounded frequency and is *not*
    renormalised to the window (a truncated population would be a different
    model, in which each object's window is known before the data). The
    priors on ``(log r, phi)`` enter as a potential on ``rel_amplitude_xy``
    with the Jacobian ``1 / r**2`` of the change of variables, and the phase is
    uniform on the circle. The sampler starts from the weighted least-squares
    sinusoid at the periodogram peak (``frequency`` and ``rel_amplitude_xy``
    carry it as ``initval``).

    The amplitude vector carries the phase at each object's mean observation time
    ``t_k``, ``psi_k = phi_k + 2 pi f_k t_k``, not at ``t = 0``: the observations lie some
    twenty days from ``t = 0``, where a change of frequency turns the phase at ``t = 0``
    by ``2 pi t df`` and the posterior of ``(f, x, y)`` is a strongly curved banana (a
    rotation of the vector with ``f``), on whose rim NUTS diverged on some seeds. At the
    middle of the data frequency and phase are nearly uncorrelated. The model is the same:
    the phase is uniform on the circle, so shifting it by ``2 pi f t_k`` changes no
    density (the box ``(-1, 1)**2`` and its rotation agree for every relative amplitude
    below 1); ``phase`` is reported at ``t = 0`` as before.
    """
    if pooling not in POOLING:
        raise ValueError(f"pooling must be one of {POOLING} for the sinusoid model, got {pooling!r}")
    df = validate_light_curves(df)
    prior = resolve_priors(DEFAULT_PRIORS, priors)
    if prior["log_mean_flux"]["dist"] != "Normal":
        raise ValueError("the prior of 'log_mean_flux' must be a Normal (centred on each object's log median "
                         f"flux), got {prior['log_mean_flux']}")
    objects = list(pd.unique(df["object_id"]))
    if windows is None:
        windows = frequency_windows(df)
    missing = [o for o in objects if o not in windows.index]
    if missing:
        raise ValueError(f"windows has no frequency window for object(s) {missing}")
    lower = windows.loc[objects, "lower"].to_numpy(dtype=float)
    upper = windows.loc[objects, "upper"].to_numpy(dtype=float)
    if not np.all((0 < lower) & (lower < upper)):
        raise ValueError("each frequency window needs 0 < lower < upper")

    idx = pd.Index(objects).get_indexer(df["object_id"])
    # each object's phase is sampled at its mean observation time (see Notes)
    t_ref = df.groupby("object_id", sort=False)["time"].mean().loc[objects].to_numpy(dtype=float)
    t = df["time"].to_numpy() - t_ref[idx]
    peak = windows.loc[objects, "peak"].to_numpy(dtype=float) if "peak" in windows else (lower + upper) / 2
    start = _least_squares_start(df, objects, np.clip(peak, lower, upper), t_ref)
    coords = {"object": objects, "obs": np.arange(len(df)), "xy": ["x", "y"]}
    if pooling == "partial":
        coords["param"] = ["log_rel_amplitude", "log_frequency"]

    with pm.Model(coords=coords) as model:
        log_m = pm.Normal("log_mean_flux", mu=np.log(start["median_flux"]) + prior["log_mean_flux"]["mu"],
                          sigma=prior["log_mean_flux"]["sigma"], dims="object")
        freq = pm.Uniform("frequency", lower=lower, upper=upper, dims="object", initval=start["frequency"])
        # The relative amplitude vector (r cos phi, r sin phi): the light curve is linear in it, so
        # its posterior is close to Gaussian, and its angle, the phase, is circular by construction.
        # Its components are flat on (-1, 1), which allows any relative amplitude below 1 at any
        # phase (the flux cannot go negative); the density of (log r, phi) is added as a potential.
        amp_xy = pm.Uniform("rel_amplitude_xy", -1.0, 1.0, dims=("object", "xy"),
                            initval=np.clip(start["rel_amplitude_xy"], -0.9, 0.9))
        r = pm.Deterministic("rel_amplitude", pt.sqrt(pt.sum(amp_xy**2, axis=1)), dims="object")
        log_r, log_f = pt.log(r), pt.log(freq)
        # Density of (x, y) = density of (log r, phi) / r**2, with phi uniform on the circle.
        jacobian = -2 * log_r - np.log(2 * np.pi)
        if pooling == "partial":
            mu = pm.Deterministic("mu", pt.stack([prior_rv("mu_log_rel_amplitude", prior["mu_log_rel_amplitude"]),
                                                  prior_rv("mu_log_frequency", prior["mu_log_frequency"])]),
                                  dims="param")
            sigma = pm.Deterministic(
                "sigma", pt.stack([prior_rv("sigma_log_rel_amplitude", prior["sigma_log_rel_amplitude"]),
                                   prior_rv("sigma_log_frequency", prior["sigma_log_frequency"])]),
                dims="param")
            # LKJ(2) prior on the 2 x 2 correlation matrix: (1 + rho) / 2 ~ Beta(2, 2).
            rho = pm.Deterministic("rho", 2 * pm.Beta("rho_unit", 2.0, 2.0) - 1)
            # (log r, log f) ~ bivariate normal, written as log f ~ Normal(mu_f, sigma_f) and
            # log r | log f ~ Normal(mu_r + rho sigma_r (log f - mu_f) / sigma_f, sigma_r sqrt(1 - rho^2)).
            log_r_given_f = pm.Normal.dist(mu[0] + rho * sigma[0] * (log_f - mu[1]) / sigma[1],
                                           sigma[0] * pt.sqrt(1 - rho**2))
            pm.Potential("population_frequency", pm.logp(pm.Normal.dist(mu[1], sigma[1]), log_f) - log_f,
                         dims="object")
            pm.Potential("population_amplitude", pm.logp(log_r_given_f, log_r) + jacobian, dims="object")
        else:
            amp_prior = prior["mu_log_rel_amplitude"]
            amp_dist = getattr(pm, amp_prior["dist"]).dist(**{k: v for k, v in amp_prior.items() if k != "dist"})
            pm.Potential("log_uniform_frequency", -log_f, dims="object")
            pm.Potential("prior_amplitude", pm.logp(amp_dist, log_r) + jacobian, dims="object")

        m = pm.Deterministic("mean_flux", pt.exp(log_m), dims="object")
        pm.Deterministic("amplitude", m * r, dims="object")
        # phase at t = 0: the angle of the vector, psi, turned back by 2 pi f t_ref, in (-pi, pi]
        psi = pt.arctan2(amp_xy[:, 1], amp_xy[:, 0])
        turn = psi - 2 * np.pi * freq * t_ref
        pm.Deterministic("phase", pt.arctan2(pt.sin(turn), pt.cos(turn)), dims="object")

        arg = 2 * np.pi * freq[idx] * t  # t: time since the object's reference time
        # r sin(2 pi f t + psi) = r cos(psi) sin(2 pi f t) + r sin(psi) cos(2 pi f t)
        wave = amp_xy[idx, 0] * pt.sin(arg) + amp_xy[idx, 1] * pt.cos(arg)
        pm.Normal("flux", mu=m[idx] * (1 + wave), sigma=df["flux_err"].to_numpy(),
                  observed=df["flux"].to_numpy(), dims="obs")
    return model


def build_grid_model(grid: FrequencyGrid, *, priors: Mapping[str, Prior] | None = None) -> pm.Model:
    """Population of frequencies with every object's frequency summed over its whole band.

    Each object's frequency has the population prior ``log f_k ~ Normal(mu_f, sigma_f)``,
    truncated to its searched band, and its sinusoid coefficients are integrated out exactly
    (:func:`hbm.dyson_spheres.frequency_grid`). The frequency is then summed over the grid:

        log p(y_k | mu_f, sigma_f) = logsumexp_g [log p(y_k | f_g) + log p(f_g | mu_f, sigma_f)]
                                     - logsumexp_g log p(f_g | mu_f, sigma_f),

    an exact discrete marginalisation (to the grid's midpoint rule), smooth in ``mu_f`` and
    ``sigma_f``, so NUTS samples the population alone. The truncated prior is normalised by the
    same sum over the grid (not by the normal probability of the band): its weights add to one
    for every ``(mu_f, sigma_f)``, and each object's term is a weighted mean of its
    likelihood, at most its maximum, and stays exact for a population far narrower than the grid
    spacing. (There the band's normal probability and the grid's sum are both huge, and their
    difference was rounding noise, once +1e45 in nutpie's compiled density: a chain that reached
    it in warm-up stuck.) Every peak of every object competes, with weights set by its marginal
    likelihood and by the population; each object's frequency posterior follows from
    :func:`hbm.dyson_spheres.frequency_weights` of the population draws.

    Parameters
    ----------
    grid : FrequencyGrid
        From :func:`hbm.dyson_spheres.frequency_grid`.
    priors : mapping, optional
        Overrides of :data:`GRID_PRIORS`.

    Returns
    -------
    pymc.Model
        Coordinate ``object``; free variables ``mu_log_frequency`` and ``sigma_log_frequency``;
        a potential ``objects`` (each object's log marginal likelihood).
    """
    if not isinstance(grid, FrequencyGrid):
        raise ValueError(f"grid must be a FrequencyGrid from frequency_grid(df), got {type(grid).__name__}")
    prior = resolve_priors(GRID_PRIORS, priors)
    # The per-object maximum is a constant; removing it keeps the sums in floating-point range.
    base = grid.log_likelihood - grid.log_likelihood.max(axis=1, keepdims=True)
    log_f = np.log(grid.frequency)
    with pm.Model(coords={"object": grid.objects}) as model:
        mu = prior_rv("mu_log_frequency", prior["mu_log_frequency"])
        sigma = prior_rv("sigma_log_frequency", prior["sigma_log_frequency"])
        # density of f (not log f) on the grid, up to factors that cancel below: the log-normal,
        # with its Jacobian 1 / f
        log_prior = -0.5 * ((log_f - mu) / sigma) ** 2 - log_f
        # truncated to the band and normalised by its sum over the grid. The largest term is taken
        # out first, exactly (it cancels from the ratio): for a population far narrower than the
        # grid spacing the terms are huge, and the likelihood at the nearest point stays exact.
        # (PyTensor's log_softmax gives the same numbers, but nutpie's sampling took 1.8x longer.)
        log_prior = log_prior - pt.max(log_prior, axis=1, keepdims=True)
        pm.Potential("objects", pm.math.logsumexp(base + log_prior, axis=1) - pm.math.logsumexp(log_prior, axis=1),
                     dims="object")
    return model
