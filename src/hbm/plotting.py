"""The book's figure style, set in one place.

Figures have an explicit white face colour so that they stay readable on the
book's dark theme, and a consistent size and font.
"""

from __future__ import annotations

import arviz as az
import matplotlib as mpl
import matplotlib.pyplot as plt

STYLE = {
    "figure.figsize": (7.0, 4.2),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "axes.facecolor": "white",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 11,
    "axes.titlesize": 12,
    "legend.frameon": False,
}
"""Matplotlib settings applied by :func:`set_style`."""

PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
"""Okabe-Ito colour-blind-safe palette, used as the colour cycle."""


def set_style() -> None:
    """Apply the book's figure style to matplotlib (and ArviZ plots, which use matplotlib)."""
    az.style.use("arviz-whitegrid")
    mpl.rcParams.update(STYLE)
    mpl.rcParams["axes.prop_cycle"] = mpl.cycler(color=PALETTE)
    plt.rcParams["image.cmap"] = "viridis"
