"""Sampling with the book's defaults, and convergence checks that can fail a build.

The sampler is chosen here and nowhere else: nutpie (Rust NUTS, compiled with numba) when it is
installed, which is faster end to end for every chapter's model, otherwise PyMC's own NUTS
(as on Colab, whose image has PyMC but not nutpie). Both draw from the same posterior; the
sampler-performance appendix compares them.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass, field
from numbers import Integral

import arviz as az

import hbm
import numpy as np
import pandas as pd
import pymc as pm
from pymc.model.transform.optimization import freeze_dims_and_data

NUTS_SAMPLER = "nutpie" if importlib.util.find_spec("nutpie") else "pymc"
"""The NUTS implementation every chapter uses: nutpie when installed, else PyMC's."""

DEFAULTS = {"draws": 1000, "tune": 1000, "chains": 4, "nuts_sampler": NUTS_SAMPLER}
"""The book's default sampler settings; every chapter may override them."""

QUIET_ENV = "HBM_QUIET"
"""Set ``HBM_QUIET=1`` for no progress bars, no PyMC log and no PyMC convergence warnings (the
book build sets it: chapters assert convergence with :func:`check_convergence` instead)."""


def quiet() -> bool:
    """True when ``HBM_QUIET`` is set to anything but ``0``."""
    return os.environ.get(QUIET_ENV, "") not in ("", "0")


def sample(model: pm.Model, *, random_seed: int, **overrides) -> az.InferenceData:
    """Sample a model with NUTS and the book's defaults.

    Parameters
    ----------
    model : pymc.Model
        The model to sample.
    random_seed : int
        Required, so that every run of every notebook is reproducible.
    **overrides
        Any other keyword of :func:`pymc.sample` (``draws``, ``tune``,
        ``chains``, ``target_accept``, ``nuts_sampler``, ...), overriding
        :data:`DEFAULTS`.

    Returns
    -------
    arviz.InferenceData
        The posterior and the sampler statistics.

    Notes
    -----
    Defaults: 4 chains of 1000 tuning and 1000 kept draws, run in as many
    processes as there are CPU cores (at most one per chain). In a live
    session the progress bar, PyMC's log and its convergence warnings are
    shown; during the book build they are not (the chapters assert convergence
    with :func:`check_convergence` instead, and the pages stay free of stderr).

    A model with data containers (``pm.Data``) is sampled as a copy with its data
    and dimension lengths fixed as constants (PyMC's ``freeze_dims_and_data``):
    the same posterior, compiled faster, because nutpie passes each container to
    its compiled log density through a step that numba compiles slowly. On the
    reference 2-core machine chapter 2's and 4's models compiled in 5-8 s frozen
    against 9-19 s (the speed issue's closing notes). ``model`` itself is not
    changed, so ``pm.set_data`` on it before sampling still takes effect. A model
    without data containers compiles no faster frozen, and is sampled as it is.

    With ``nuts_sampler="nutpie"`` the posterior is tidied to look like
    PyMC's own: nutpie's extra unconstrained variables (``sigma_log__``, ...)
    are dropped and the model's dimension names restored where nutpie lost them.
    """
    if isinstance(random_seed, bool) or not isinstance(random_seed, Integral):
        raise TypeError(f"random_seed must be an integer, got {random_seed!r}")
    building = quiet()
    kwargs = {**DEFAULTS, "progressbar": not building, "quiet": building, "compute_convergence_checks": not building}
    kwargs.update(overrides)
    kwargs.setdefault("cores", min(kwargs["chains"], os.cpu_count() or 1))
    if kwargs.get("nuts_sampler") == "nutpie":
        plain_numba_shape_errors()
        faster_nutpie_wrappers()
    sampled = freeze_dims_and_data(model) if model.data_vars else model
    idata = pm.sample(model=sampled, random_seed=hbm.seed(random_seed), **kwargs)
    if kwargs.get("nuts_sampler") == "nutpie":
        idata.posterior = _tidy_nutpie_posterior(idata.posterior, model)
    return idata


@functools.cache
def plain_numba_shape_errors() -> bool:
    """Give numba's slice-assignment error its short message, which compiles seconds faster.

    numba compiles every ``a[...] = b`` with an error branch whose message names both shapes;
    building that message in compiled code (f-strings, ``str.join``) is a compile of several
    seconds, once in every Python process. nutpie's wrapper around every model has such an
    assignment, so the first fit in each kernel, test worker or benchmark process paid it (on the
    reference 2-core machine it was about half of eight schools' first nutpie compile; the
    measurements are in the speed issue's closing notes).

    This switches numba's CPU implementation of that error to numba's own generic one: the same
    ``ValueError``, with the message "cannot assign slice from input of different size". Nothing
    else changes: the branch runs only when the shapes differ (nutpie checks the sizes first), and
    then raises as before. :func:`sample` calls this before every nutpie fit; it acts once per
    process.

    Returns
    -------
    bool
        True if numba's implementation was switched, False if this numba version does not have
        the expected internals (then nothing is changed).
    """
    try:
        import numba.np.arrayobj as arrayobj
        from numba.core.registry import cpu_target

        detailed, generic = arrayobj.ol_raise_with_shape_context_cpu, arrayobj.ol_raise_with_shape_context_generic
        cpu_target.typing_context.refresh()
        templates = cpu_target.typing_context.resolve_value_type(arrayobj.raise_with_shape_context).templates
    except (ImportError, AttributeError, ValueError):
        return False
    switched = False
    for template in templates:
        if getattr(template, "_overload_func", None) is detailed:
            template._overload_func = staticmethod(generic)
            switched = True
    return switched


NUTPIE_WRAPPERS = {"_make_c_logp_func": "05c3ba1d4805ee1d", "_make_c_expand_func": "585c632fd7c07427"}
"""nutpie's two wrapper builders that :func:`faster_nutpie_wrappers` replaces, with the first 16 hex
digits of the SHA-256 of their source in the nutpie versions whose code the replacements copy
(0.16.8): any other source is left alone."""

_NUTPIE_ORIGINALS: dict = {}
"""nutpie's own wrapper builders, kept by :func:`faster_nutpie_wrappers` when it replaces them (the test
compares their wrappers with the replacements')."""


@functools.cache
def faster_nutpie_wrappers() -> bool:
    """Build nutpie's C wrappers with a narrower ``try``, which numba compiles about 0.5 s faster per fit.

    For every fit nutpie compiles two C callbacks with numba (a fresh closure for each model, so
    numba's caches never hold them): one returns the log density and its gradient, the other the
    draws' values. Each wraps its whole body in ``try: ... except Exception: return <code>``, and
    numba compiles everything inside a ``try`` slowly: for eight schools the log-density wrapper
    compiled in 1.06 s, and in 0.64 s with only the model's call inside the ``try`` (the values
    wrapper in 0.32 s and 0.21 s; the speed issue's closing notes). Here only that call, the one
    step that can raise (a Cholesky factor of a matrix that is not positive definite, say), is
    inside the ``try``; the rest (views of the C arrays, copies into them, finiteness checks) cannot raise once the
    gradient's shape has been checked, and the same codes are returned in every case.

    The wrappers are replaced only when nutpie's own have the source these copy
    (:data:`NUTPIE_WRAPPERS`); :func:`sample` calls this before every nutpie fit, and it acts once
    per process.

    Returns
    -------
    bool
        True if nutpie's wrapper builders were replaced, False if nutpie is missing or its
        wrappers are not the ones these copy (then nothing is changed).
    """
    import hashlib
    import inspect

    try:
        from nutpie import compile_pymc
    except ImportError:
        return False
    found = {name: getattr(compile_pymc, name, None) for name in NUTPIE_WRAPPERS}
    if not all(callable(f) and hashlib.sha256(inspect.getsource(f).encode()).hexdigest()[:16] == digest
               for f, digest in zip(found.values(), NUTPIE_WRAPPERS.values())):
        return False
    _NUTPIE_ORIGINALS.update(found)
    compile_pymc._make_c_logp_func = _make_c_logp_func
    compile_pymc._make_c_expand_func = _make_c_expand_func
    return True


def _make_c_logp_func(n_dim, logp_fn, user_data, shared_logp, shared_data):
    """nutpie 0.16.8's ``_make_c_logp_func`` with only the model's call inside ``try``."""
    import numba
    from nutpie.compile_pymc import make_extraction_fn

    extract = make_extraction_fn(logp_fn, shared_data, shared_logp, user_data.dtype)
    c_sig = numba.types.int64(numba.types.uint64, numba.types.CPointer(numba.types.double),
                              numba.types.CPointer(numba.types.double), numba.types.CPointer(numba.types.double),
                              numba.types.voidptr)

    def logp_numba(dim, x_, out_, logp_, user_data_):
        if dim != n_dim:
            return -1
        x = numba.carray(x_, (n_dim,))
        out = numba.carray(out_, (n_dim,))
        logp = numba.carray(logp_, ())
        try:
            logp_val, grad = extract(x, user_data_)
        except Exception:  # noqa: BLE001
            return 1
        if grad.shape != out.shape:
            return 1
        logp[()] = logp_val
        out[...] = grad
        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
        return 0

    return logp_numba, c_sig


def _make_c_expand_func(n_dim, n_expanded, expand_fn, user_data, shared_vars, shared_data):
    """nutpie 0.16.8's ``_make_c_expand_func`` with only the model's call inside ``try``."""
    import numba
    from nutpie.compile_pymc import make_extraction_fn

    extract = make_extraction_fn(expand_fn, shared_data, shared_vars, user_data.dtype)
    c_sig = numba.types.int64(numba.types.uint64, numba.types.uint64, numba.types.CPointer(numba.types.double),
                              numba.types.CPointer(numba.types.double), numba.types.voidptr)

    def expand_numba(dim, expanded, x_, out_, user_data_):
        if dim != n_dim:
            return -1
        if expanded != n_expanded:
            return -1
        x = numba.carray(x_, (n_dim,))
        out = numba.carray(out_, (n_expanded,))
        try:
            (values,) = extract(x, user_data_)
        except Exception:  # noqa: BLE001
            return -2
        if values.shape != out.shape:
            return -2
        out[...] = values
        return 0

    return expand_numba, c_sig


def _tidy_nutpie_posterior(post, model: pm.Model):
    post = post.drop_vars([v for v in post.data_vars if str(v).endswith("__")])
    for name, dims in model.named_vars_to_dims.items():
        if name in post and dims and post[name].dims[2:] != tuple(dims):
            post = post.assign({name: (("chain", "draw", *dims), post[name].values)})
    stale = [d for d in post.dims if not any(d in post[v].dims for v in post.data_vars)]
    return post.drop_dims(stale)


class ConvergenceError(RuntimeError):
    """Raised by :func:`check_convergence` with ``strict=True`` when a check fails."""


@dataclass
class ConvergenceReport:
    """The outcome of :func:`check_convergence`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per scalar parameter: ``r_hat``, ``ess_bulk``, ``ess_tail``
        and ``ok``.
    divergences : int
        Number of divergent transitions after tuning, over all chains.
    bfmi : numpy.ndarray
        Estimated Bayesian fraction of missing information (E-BFMI), per chain.
    failures : list of str
        One line per failed check; empty when everything passed.
    """

    table: pd.DataFrame
    divergences: int
    bfmi: np.ndarray
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.failures

    def summary(self) -> str:
        """A short human-readable verdict."""
        head = (f"{len(self.table)} parameters: max R-hat {self.table['r_hat'].max():.3f}, "
                f"min bulk ESS {self.table['ess_bulk'].min():.0f}, min tail ESS {self.table['ess_tail'].min():.0f}, "
                f"{self.divergences} divergences, min E-BFMI {np.min(self.bfmi):.2f}")
        if self.ok:
            return f"Converged. {head}."
        return f"NOT converged. {head}.\n" + "\n".join(f"  - {f}" for f in self.failures)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return f"<pre>{self.summary()}</pre>"


def check_convergence(
    idata: az.InferenceData,
    var_names: list[str] | None = None,
    *,
    rhat_max: float = 1.01,
    ess_min: float = 400,
    max_divergences: int = 0,
    bfmi_min: float = 0.3,
    strict: bool = False,
) -> ConvergenceReport:
    """Check an MCMC run for convergence with ArviZ's diagnostics.

    Parameters
    ----------
    idata : arviz.InferenceData
        Output of :func:`sample` (needs at least two chains).
    var_names : list of str, optional
        Variables to check; default every posterior variable. Names starting
        with ``~`` are excluded, as in ArviZ.
    rhat_max : float, default 1.01
        Largest acceptable rank-normalised split R-hat (Vehtari et al. 2021).
    ess_min : float, default 400
        Smallest acceptable bulk and tail effective sample size.
    max_divergences : int, default 0
        Largest acceptable number of divergent transitions.
    bfmi_min : float, default 0.3
        Smallest acceptable E-BFMI of any chain.
    strict : bool, default False
        Raise :class:`ConvergenceError` listing every failure instead of
        returning a failing report.

    Returns
    -------
    ConvergenceReport
        The per-parameter table and the list of failures.
    """
    diag = az.summary(idata, var_names=var_names, kind="diagnostics")
    table = diag[["r_hat", "ess_bulk", "ess_tail"]].copy()
    bad_rhat = ~(table["r_hat"] <= rhat_max)
    bad_ess = ~((table["ess_bulk"] >= ess_min) & (table["ess_tail"] >= ess_min))
    table["ok"] = ~(bad_rhat | bad_ess)

    failures = [f"{name}: R-hat {row.r_hat:.3f} > {rhat_max}" for name, row in table[bad_rhat].iterrows()]
    failures += [f"{name}: ESS bulk {row.ess_bulk:.0f} / tail {row.ess_tail:.0f} < {ess_min}"
                 for name, row in table[bad_ess].iterrows()]
    stats = idata.sample_stats
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    if divergences > max_divergences:
        failures.append(f"{divergences} divergent transitions (at most {max_divergences} allowed)")
    bfmi = np.atleast_1d(az.bfmi(idata)) if "energy" in stats else np.array([np.nan])
    low = np.flatnonzero(bfmi < bfmi_min)
    if low.size:
        failures.append(f"E-BFMI below {bfmi_min} in chain(s) {low.tolist()}: {np.round(bfmi[low], 2).tolist()}")

    report = ConvergenceReport(table=table, divergences=divergences, bfmi=bfmi, failures=failures)
    if strict and not report.ok:
        raise ConvergenceError(report.summary())
    return report
