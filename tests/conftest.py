import datetime
import gc
import os
import tempfile
from pathlib import Path

import hbm  # noqa: F401  (first: links PyTensor to OpenBLAS before any test imports pymc)
import pytest

C_MARKERS = ("integration", "book")


def mark_arviz_notice_shown() -> Path:
    """Write today's date to ArviZ 0.x's once-a-day stamp, as its import does after its notice.

    ArviZ writes that stamp through a fixed temporary name, and two test workers importing ArviZ
    at once on a new machine raced for it (FileNotFoundError while collecting a test file). Written
    here, in pytest's main process before pytest-xdist starts the workers, the stamp is today's and
    no worker writes it. The main process imported ArviZ for that until now, 2.7 s (more on a new
    machine) before the workers could start; they import it in any case.
    ``tests/test_imports.py`` checks that ArviZ reads this stamp."""
    from platformdirs import user_cache_dir  # ArviZ's own way to find the folder

    stamp = Path(user_cache_dir("arviz", "arviz")) / "daily_warning"
    today = datetime.date.today().isoformat()
    if not stamp.is_file() or stamp.read_text().strip() != today:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=stamp.parent, prefix="daily_warning.")   # a name of its own
        with os.fdopen(fd, "w") as f:
            f.write(today)
        os.replace(tmp, stamp)
    return stamp


def pytest_configure(config):
    if not hasattr(config, "workerinput"):     # pytest's main process, not a pytest-xdist worker
        mark_arviz_notice_shown()
    # The last thing a test process does: freeze every object it holds. A worker that has imported
    # PyMC and built and compiled models holds millions of them, and Python's garbage collections at
    # exit went through them all while pytest's main process waited for the worker to end: the last
    # test to the end of `make unit` took 2.1 s, 0.5 s frozen (the collector skips frozen objects;
    # the memory goes back to the system with the process). Registered before pytest's own
    # clean-ups, it runs after them (last in, first out), after the collection in which pytest
    # looks for unraisable exceptions.
    config.add_cleanup(gc.freeze)


@pytest.fixture(scope="session")
def python_mode():
    """PyTensor's Python implementations with no graph rewrites but those its Python linker
    requires (PyTensor adds its ``minimum_compile`` and ``py_only`` rewrites to any mode with that
    linker). The unit tests build models and evaluate them a few times: a new model then compiles
    no C (10-20 s each on a new machine), and no time goes to rewriting graphs for speed. The
    rewrites of ``FAST_COMPILE``, the mode used until now, took 9-12 of the 73 core-seconds of the
    five chapters' test files (2026-12-03). The book, the integration tests and nutpie keep every
    rewrite; a model must then also be stable without them (test_dyson_spheres)."""
    from pytensor.compile.mode import Mode

    return Mode(linker="py", optimizer=None)


@pytest.fixture(autouse=True)
def pytensor_mode(request, python_mode):
    """Unit tests run models in :func:`python_mode`. Integration and book tests keep the C mode the
    book uses. Module-scoped fixtures are set up before this one, in the C mode (they ask for
    ``python_mode`` themselves). nutpie is unaffected: it compiles its functions with numba
    whatever the mode. A test that samples with PyMC's own NUTS (the gradient evaluated thousands
    of times) passes ``compile_kwargs={"mode": "NUMBA"}``: numba compiles it as nutpie compiles
    the book's models, in about two thirds of C's time with nothing cached (about 1 s slower when
    cached)."""
    if any(request.node.get_closest_marker(name) for name in C_MARKERS):
        yield
        return
    import pytensor

    with pytensor.config.change_flags(mode=python_mode):
        yield


LONGEST_FIRST = ("test_sampling", "test_school_rankings", "test_five_districts", "test_student",
                 "test_dyson_spheres", "test_cepheids", "test_open_anywhere", "test_eight_schools", "test_hbm_book",
                 "test_install")
"""The unit-test files that take longest, longest first: 23, 21, 10, 9, 8, 6, 6, 4, 4 and 4 s of the
98 s of test time (two workers) of a ``make unit`` on a new 2-core machine (2026-12-03, 60.0 s).
A file runs on one worker; handed out first, these leave the files of a second or less to fill in
at the end. By count of tests (pytest-xdist's order) test_sampling came last, and one worker sat
idle for 7 s. A file missing here only runs later."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """The order in which pytest-xdist hands out the files (``make unit``, ``make tests``: with
    ``--no-loadscope-reorder`` it keeps this one): the integration tests first, they are the longest
    (``make tests``), then the files of :data:`LONGEST_FIRST`, then the rest. And for ``make tests``
    (``--dist loadgroup``: unit and integration tests in one run on every core) a test without an
    ``xdist_group`` mark joins its file's group, so a file stays on one worker and its module
    fixtures (compiled models, fits) are made once. (Runs before pytest-xdist's own hook, which
    reads the marks.)"""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: (item.get_closest_marker("integration") is None,
                                 rank.get(item.path.stem, len(rank))))
    if getattr(config.option, "loadgroup", False):
        for item in items:
            if not item.get_closest_marker("xdist_group"):
                item.add_marker(pytest.mark.xdist_group(item.path.stem))


def pytest_runtest_setup(item):
    """Fail a test whose ``xdist_group`` mark a ``--dist loadgroup`` run (``make tests``,
    ``make check-book``) does not honour. pytest-xdist puts a grouped test on its group's worker by
    appending ``@group`` to the test's node id; pytest 9.2 ignores that (pytest-xdist issue 1386)
    and the groups would be silently spread over the workers: chapter 1's round trip shared a
    worker with another long test while the other worker sat idle at the end."""
    if (getattr(item.config.option, "loadgroup", False) and item.get_closest_marker("xdist_group")
            and "@" not in item.nodeid):
        pytest.fail(f"xdist_group ignored by pytest {pytest.__version__} with pytest-xdist (its issue 1386): "
                    "install the locked versions (make install)", pytrace=False)


@pytest.fixture
def draw_at_once():
    """``draw_at_once(model, var, n, random_seed)``: ``n`` prior draws of a model's variable in one
    evaluation of its graph, vectorised over ``n`` draws of every free variable that depends on
    no other (the rest follow them). ``pm.draw(var, draws=n)`` evaluates the graph ``n`` times,
    seconds for a few thousand draws in the unit tests' Python mode."""
    import pymc as pm
    from pymc.distributions.shape_utils import change_dist_size
    from pytensor.graph.replace import vectorize_graph
    from pytensor.graph.traversal import ancestors

    def draw(model, var, n: int, random_seed: int):
        rvs = set(model.basic_RVs)
        roots = [rv for rv in model.free_RVs if not set(ancestors(rv.owner.inputs)) & rvs]
        batched = vectorize_graph(var, {rv: change_dist_size(rv, (n,), expand=True) for rv in roots})
        return pm.draw(batched, random_seed=random_seed)

    return draw


@pytest.fixture
def write_csv(tmp_path):
    """Write text to a CSV file in a temporary folder and return its path."""

    def _write(text: str, name: str = "bad.csv"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write


@pytest.fixture(scope="session")
def student_book_edition(tmp_path_factory):
    """The book's own chapters (and coursework templates) exported once into a student edition:
    (export folder, Edition). Shared by the tests that only read it (tests/test_student.py,
    tests/test_instructors.py), so the whole book is exported once per run, not once per module."""
    from hbm_book import student

    out = tmp_path_factory.mktemp("student_book") / "student"
    found = student.export(out)
    return out, found
