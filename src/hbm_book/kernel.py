"""The book's Jupyter kernel, ``hbm`` ("Python (hbm workbook)"): ipykernel's own, which freezes its
objects (``gc.freeze``) when it exits.

A kernel that has imported PyMC and fitted a model holds millions of objects, and Python's garbage
collections at exit went through them all while the notebook's runner waited for the kernel to end:
1.22 s to shut down after a small nutpie fit, 0.31 s in this kernel (the collector skips
frozen objects; the memory goes back to the system with the process). The forced build
(``_config.yml`` runs every notebook in this kernel) shuts one down per notebook. Everything else is
``ipykernel_launcher``'s.

Usage::

    python -m hbm_book.kernel --install    # make install: the kernelspec, in this environment
    python -m hbm_book.kernel -f FILE      # what Jupyter runs (the kernelspec's command)
"""

from __future__ import annotations

import sys
from pathlib import Path

KERNEL_NAME = "hbm"
DISPLAY_NAME = "Python (hbm workbook)"


def install() -> str:
    """Install the ``hbm`` kernelspec into this environment (``sys.prefix``) and return its folder:
    ipykernel's own (``python -m ipykernel install --sys-prefix --name hbm``), with this module in
    place of ``ipykernel_launcher`` in its command."""
    import json

    from ipykernel.kernelspec import install as install_ipykernel

    folder = install_ipykernel(kernel_name=KERNEL_NAME, display_name=DISPLAY_NAME, prefix=sys.prefix)
    spec_file = Path(folder) / "kernel.json"
    spec = json.loads(spec_file.read_text())
    spec["argv"] = ["hbm_book.kernel" if arg == "ipykernel_launcher" else arg for arg in spec["argv"]]
    spec_file.write_text(json.dumps(spec, indent=1))
    return folder


def main() -> None:
    """Run the kernel, as ``ipykernel_launcher`` does, with ``gc.freeze`` registered to run at exit."""
    import atexit
    import gc

    # ipykernel_launcher's first step: the working folder off the module path while ipykernel
    # loads (its shell puts it back)
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
        del sys.path[0]
    atexit.register(gc.freeze)   # registered first, so it runs after ipykernel's own exit handlers
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    if sys.argv[1:] == ["--install"]:
        print(install())
    else:
        main()
