"""The lock file (issue 13, item 6): exact versions generated from the ranges of pyproject.toml, what
`make install` and `pip install -r requirements.txt` install, and what the key-number reference records."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest

from packaging.markers import Marker
from packaging.requirements import Requirement

from hbm_book import PACKAGES, keynumbers

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements-lock.txt"


def _pins() -> dict[str, str]:
    """name -> version of the lock's lines that apply to this platform and Python."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s*(?:;(.*))?$", line.strip())
        if match and (not match[3] or Marker(match[3]).evaluate()):
            name = re.sub(r"[-_.]+", "-", match[1]).lower()
            assert name not in pins, f"{name} is pinned twice for this platform"
            pins[name] = match[2]
    return pins


def test_lock_pins_every_declared_requirement_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [r for extra in ("book", "test")
                                        for r in project["optional-dependencies"][extra]]
    pins = _pins()
    for requirement in map(Requirement, wanted):
        if requirement.marker and not requirement.marker.evaluate():
            continue
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pins, f"{requirement} is not in the lock: run make upgrade-lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), \
            f"the lock pins {name}=={pins[name]}, outside {requirement}: run make upgrade-lock"


def test_lock_header_says_how_to_regenerate_it():
    head = LOCK.read_text().splitlines()[:2]
    assert head[1].strip() == "#    make upgrade-lock"
    assert "--upgrade" in (ROOT / "Makefile").read_text().split("upgrade-lock:")[1].split("\n\n")[0]


def test_requirements_txt_installs_the_project_at_the_locked_versions():
    lines = [ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines == ["-c requirements-lock.txt", "-e .[book,test]"]


def test_this_environment_has_the_locked_versions_of_the_recorded_packages():
    """The key-number reference records the lock's versions; a build that is compared with it should
    run on them (`make install` after a change of the lock reinstalls)."""
    pins = _pins()
    differ = {name: (metadata.version(name), pins.get(name)) for name in PACKAGES
              if metadata.version(name) != pins.get(name)}
    assert not differ, f"installed vs locked: {differ}; run make install"


def test_make_install_leaves_out_the_excluded_packages():
    """requirements-exclude.txt: `make install` (uv) installs the lock without them, although the lock
    lists them; jsonschema then imports without building rfc3987-syntax's parser."""
    excluded = [ln.strip() for ln in (ROOT / "requirements-exclude.txt").read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]
    assert excluded == ["rfc3987-syntax", "lark"] and set(excluded) <= set(_pins())
    if metadata.distribution("jsonschema").read_text("INSTALLER").strip() != "uv":
        pytest.skip("this environment was not installed by make install (uv), which is what excludes them")
    installed = [name for name in excluded if importlib.util.find_spec(name.replace("-", "_"))]
    assert not installed, f"{installed} installed; a .venv older than requirements-exclude.txt keeps them: " \
                          "remove .venv and run make install"


def test_reference_record_takes_its_versions_from_the_lock():
    summary = {"numbers": {"es_x": 1.0}, "notebooks": ["01_eight_schools"],
               "machine": {"versions": {name: "0" for name in PACKAGES}}}
    record = keynumbers.reference_record(summary, lock=LOCK)
    assert record["versions"] == {name: _pins().get(name) for name in PACKAGES}
    assert record["lock"]["file"] == LOCK.name and len(record["lock"]["sha256"]) == 64
    assert keynumbers.lock_differences(record)  # built with other versions than the lock's: flagged


def test_a_grouped_test_off_its_groups_worker_fails(request):
    """tests/conftest.py fails a test whose xdist_group mark a ``--dist loadgroup`` run ignored
    (pytest 9.2 with pytest-xdist 3.8, the reason pyproject.toml keeps pytest below 9.2)."""
    hook = request.config.pluginmanager.get_plugin(str(ROOT / "tests" / "conftest.py")).pytest_runtest_setup

    def item(nodeid, loadgroup=True):
        return SimpleNamespace(nodeid=nodeid, config=SimpleNamespace(option=SimpleNamespace(loadgroup=loadgroup)),
                               get_closest_marker=lambda name: name == "xdist_group" or None)

    with pytest.raises(pytest.fail.Exception, match="xdist_group ignored"):
        hook(item("tests/test_x.py::test_y"))
    hook(item("tests/test_x.py::test_y@pipelines"))              # the group is in the node id: runs
    hook(item("tests/test_x.py::test_y", loadgroup=False))       # another --dist mode: runs


def test_make_tests_keeps_each_file_on_one_worker_and_hands_out_the_integration_tests_first(request):
    """``make tests`` (unit and integration tests in one ``--dist loadgroup`` run): tests/conftest.py
    groups every ungrouped test by its file and keeps the groups it finds; in every run it puts the
    integration tests first, then the files of LONGEST_FIRST in its order, then the others as
    collected."""
    conftest = request.config.pluginmanager.get_plugin(str(ROOT / "tests" / "conftest.py"))
    hook = conftest.pytest_collection_modifyitems
    assert all((ROOT / "tests" / f"{name}.py").is_file() for name in conftest.LONGEST_FIRST)

    class Item:
        def __init__(self, path, *marks):
            self.path, self.marks = Path(path), {m.name: m for m in marks}

        def get_closest_marker(self, name):
            return self.marks.get(name)

        def add_marker(self, decorator):
            self.marks[decorator.name] = decorator.mark

    def items():
        return [Item("tests/test_a.py"), Item("tests/test_b.py"), Item("tests/test_dyson_spheres.py"),
                Item("tests/test_c.py", pytest.mark.integration.mark, pytest.mark.xdist_group("pipelines").mark),
                Item("tests/test_a.py"), Item("tests/test_sampling.py")]

    def groups(run):
        return [(i.path.stem, i.marks.get("xdist_group") and i.marks["xdist_group"].args[0]) for i in run]

    run = items()
    hook(config=SimpleNamespace(option=SimpleNamespace(loadgroup=True)), items=run)
    assert groups(run) == [("test_c", "pipelines"), ("test_sampling", "test_sampling"),
                           ("test_dyson_spheres", "test_dyson_spheres"), ("test_a", "test_a"), ("test_b", "test_b"),
                           ("test_a", "test_a")]
    run = items()
    hook(config=SimpleNamespace(option=SimpleNamespace(loadgroup=False)), items=run)
    assert groups(run) == [("test_c", "pipelines"), ("test_sampling", None), ("test_dyson_spheres", None),
                           ("test_a", None), ("test_b", None), ("test_a", None)]
