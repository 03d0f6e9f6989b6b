"""Compile and sample a Stan program with PyStan 3; run as a script by hbm.eight_schools.stan.

    python run_pystan.py ARGS.json

ARGS.json holds ``program`` (path of the .stan file), ``data``, ``seed``, ``chains``, ``draws``,
``tune``, ``delta`` and ``out`` (the .npz file to write). PyStan runs its own asyncio event loop,
which clashes with Jupyter's, hence a separate process.
"""

import json
import sys
from pathlib import Path

import numpy as np
import stan  # PyStan 3


def main(args_file: str) -> None:
    args = json.loads(Path(args_file).read_text())
    code = Path(args["program"]).read_text()
    posterior = stan.build(code, data=args["data"], random_seed=args["seed"])
    fit = posterior.sample(num_chains=args["chains"], num_samples=args["draws"], num_warmup=args["tune"],
                           delta=args["delta"])
    np.savez(args["out"], mu=fit["mu"], tau=fit["tau"], theta=fit["theta"], divergent=fit["divergent__"])


if __name__ == "__main__":
    main(sys.argv[1])
