"""The chapter's Stan cross-check: the program in ``noncentred.stan``, run with PyStan 3 by
``run_pystan.py`` in a separate Python process (PyStan's event loop clashes with Jupyter's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

import hbm

from ..models import validate_schools

PROGRAM = Path(__file__).with_name("noncentred.stan")
"""The non-centred Eight Schools model in Stan, with the chapter's default priors."""

RUNNER = Path(__file__).with_name("run_pystan.py")
"""The script that compiles and samples a program with PyStan."""


def program(path: str | Path = PROGRAM) -> str:
    """The text of a Stan program (default :data:`PROGRAM`)."""
    return Path(path).read_text()


def stan_available() -> bool:
    """True when PyStan 3 can be imported (it has no Windows wheels)."""
    try:
        result = subprocess.run([sys.executable, "-c", "import stan"], capture_output=True, timeout=120,
                                cwd=tempfile.gettempdir())
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def compile_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment :func:`sample_stan` starts PyStan's process with: ``-g0`` added to
    ``CFLAGS`` and ``CXXFLAGS``.

    httpstan compiles a program with Python's own compiler flags, which include ``-g``. The
    debug information for Stan's C++ templates was about a fifth of chapter 1's cold compile:
    46 s against 59 s, and 53 s against 65 s, side by side on a 2-core machine (the speed
    issue's closing note). The flags in these variables come after Python's, so ``-g0`` turns
    it off; the code is optimised as before (``-O3``) and draws the same numbers.

    Parameters
    ----------
    environ : mapping of str to str, optional
        The environment to start from (default ``os.environ``); it is not changed.

    Returns
    -------
    dict of str to str
        A copy of ``environ`` whose ``CFLAGS`` and ``CXXFLAGS`` end with ``-g0``.
    """
    env = dict(os.environ if environ is None else environ)
    for name in ("CFLAGS", "CXXFLAGS"):
        env[name] = f"{env.get(name, '')} -g0".strip()
    return env


def sample_stan(y, sigma, *, random_seed: int, draws: int = 1000, tune: int = 1000, chains: int = 4,
                adapt_delta: float = 0.8, path: str | Path = PROGRAM, timeout: float = 600):
    """Compile and sample a Stan program (default :data:`PROGRAM`) with PyStan 3 in another process.

    Its compiler output is captured rather than printed, and it compiles without debug
    information (:func:`compile_env`). ``adapt_delta`` is Stan's target
    acceptance rate (PyMC's ``target_accept``); ``random_seed`` is shifted by :func:`hbm.seed`.

    Returns
    -------
    arviz.InferenceData
        Posterior ``mu``, ``tau``, ``theta`` (dim ``school``) with chains, and
        ``sample_stats.diverging``.

    Raises
    ------
    RuntimeError
        If the Stan process fails; the message holds the end of its error output.
    """
    import arviz as az

    y, sigma = validate_schools(y, sigma)
    with tempfile.TemporaryDirectory() as tmp:
        out, args_file = Path(tmp) / "draws.npz", Path(tmp) / "args.json"
        args_file.write_text(json.dumps({
            "program": str(Path(path).resolve()), "seed": hbm.seed(random_seed), "chains": chains,
            "draws": draws, "tune": tune, "delta": float(adapt_delta), "out": str(out),
            "data": {"J": int(y.size), "y": y.tolist(), "sigma": sigma.tolist()}}))
        result = subprocess.run([sys.executable, str(RUNNER), str(args_file)], capture_output=True, text=True,
                                timeout=timeout, cwd=tmp, env=compile_env())
        if result.returncode != 0:
            raise RuntimeError("Stan run failed:\n" + result.stderr[-3000:])
        with np.load(out) as f:
            # PyStan gives (parameter dims..., draws * chains) with the chain index varying fastest
            def chains_first(a, shape):
                return np.moveaxis(np.asarray(a).reshape(*shape, draws, chains), (-1, -2), (0, 1))

            posterior = {"mu": chains_first(f["mu"], ()), "tau": chains_first(f["tau"], ()),
                         "theta": chains_first(f["theta"], (y.size,))}
            diverging = chains_first(f["divergent"], ()).astype(bool)
    coords = {"school": [chr(ord("A") + j) for j in range(y.size)]}
    return az.from_dict(posterior=posterior, sample_stats={"diverging": diverging}, coords=coords,
                        dims={"theta": ["school"]})
