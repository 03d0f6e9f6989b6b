"""The chapters of the book, each described once in its slice's ``chapter.toml``.

Every chapter is one folder ``src/hbm/<slug>/`` (its models, exact answers and self-checks)
holding a ``chapter.toml`` descriptor. Timings, benchmarks, the key-number check, the
instructors page and the student edition read the descriptors instead of keeping lists of
their own. This module uses only the standard library, so build tools can read the
descriptors without importing PyMC.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Chapter:
    """One chapter, as described by ``src/hbm/<slug>/chapter.toml``.

    Attributes
    ----------
    slug : str
        The folder name, ``eight_schools``; also the module ``hbm.<slug>``.
    number : int
        Chapter number in the book.
    notebook : str
        The notebook's stem in ``book/``, ``01_eight_schools``.
    title : str
        The chapter title.
    glue_prefix : str
        Prefix of every glue key of the chapter, ``es_``.
    budget_seconds : float
        Expected execution time of the notebook on the reference 2-core machine (a report, not a gate).
    datasets : list of str
        Names of the data sets it loads (``hbm.data.load(name)``).
    benchmark_model : str
        ``"function"`` in ``hbm.<slug>`` returning ``(model, description)``: the chapter's main
        model for the sampler benchmark.
    goals : list of str
        Learning goals, shown on the instructors page.
    """

    slug: str
    number: int
    notebook: str
    title: str
    glue_prefix: str
    budget_seconds: float
    datasets: list[str] = field(default_factory=list)
    benchmark_model: str = ""
    goals: list[str] = field(default_factory=list)

    @property
    def module(self) -> str:
        """The chapter's module, ``hbm.eight_schools``."""
        return f"hbm.{self.slug}"

    @property
    def folder(self) -> Path:
        """The chapter's folder in the package."""
        return PACKAGE_DIR / self.slug


def chapters() -> list[Chapter]:
    """Every chapter with a ``chapter.toml``, in book order."""
    found = []
    for path in sorted(PACKAGE_DIR.glob("*/chapter.toml")):
        with path.open("rb") as f:
            spec = tomllib.load(f)
        try:
            found.append(Chapter(slug=path.parent.name, **spec))
        except TypeError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return sorted(found, key=lambda c: c.number)


def chapter(key: str | int) -> Chapter:
    """One chapter by slug (``eight_schools``), notebook (``01_eight_schools``) or number."""
    for c in chapters():
        if key in (c.slug, c.notebook, c.number, f"{c.number:02d}"):
            return c
    raise KeyError(f"no chapter {key!r}; chapters are {[c.notebook for c in chapters()]}")
