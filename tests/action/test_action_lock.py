"""The committed locks: every job installs exactly what the baselines were recorded with.

requirements.lock (the action), requirements-test.lock (.venv) and requirements-nodeps.lock (Apache
Otava, installed without its metadata's pins) are resolved from pyproject.toml by `make lock`. The
checks here are offline: the locks against pyproject.toml's ranges, against the dependencies the
installed packages declare, and against the venv `make venv` built from them; and the action and the
Makefile installing from them with --require-hashes.
"""

from __future__ import annotations

import importlib.metadata
import re
import socket
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.action import harness

BUNDLE = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((BUNDLE / "pyproject.toml").read_text())
RUNTIME, TEST, NODEPS = (BUNDLE / name for name in ("requirements.lock", "requirements-test.lock",
                                                      "requirements-nodeps.lock"))
PROJECT = canonicalize_name(PYPROJECT["project"]["name"])
# Installed in every venv by `python -m venv` itself, never by the locks.
VENV_TOOLS = {"pip"}


@dataclass(frozen=True)
class Pin:
    name: str
    version: Version
    marker: Marker | None
    hashes: tuple[str, ...]

    def applies(self, environment: dict | None = None) -> bool:
        return self.marker is None or self.marker.evaluate(environment)


def read_lock(path: Path) -> list[Pin]:
    """A pip requirements file of `name==version ; marker \\ --hash=...` entries (what uv writes)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("--hash") else line.strip()
        if not line or line.startswith("#"):
            continue
        requirement_text, *hashes = re.split(r"\s+--hash=", line)
        requirement = Requirement(requirement_text.strip())
        [specifier] = list(requirement.specifier)
        assert specifier.operator == "==", f"{path.name}: {requirement_text} is not pinned with =="
        pins.append(Pin(canonicalize_name(requirement.name), Version(specifier.version), requirement.marker,
                        tuple(hashes)))
    return pins


def pins_here(path: Path) -> dict[str, Pin]:
    """The entries of a lock that this Python installs (a universal lock may fork on markers)."""
    applicable = {}
    for pin in read_lock(path):
        if pin.applies():
            assert pin.name not in applicable, f"{path.name}: two versions of {pin.name} apply here"
            applicable[pin.name] = pin
    return applicable


def installed() -> dict[str, Version]:
    return {canonicalize_name(dist.metadata["Name"]): Version(dist.version)
            for dist in importlib.metadata.distributions()}


def build_requirements() -> list[Requirement]:
    return [Requirement(text) for text in PYPROJECT["build-system"]["requires"]]


@pytest.mark.parametrize("lock", [RUNTIME, TEST, NODEPS], ids=lambda path: path.name)
def test_every_locked_package_is_one_exact_version_with_its_hashes(lock):
    pins = read_lock(lock)
    assert pins, f"{lock.name} is empty"
    for pin in pins:
        assert pin.hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in pin.hashes), pin.name


@pytest.mark.parametrize(("lock", "extras"), [(RUNTIME, ()), (TEST, ("test",))],
                         ids=["requirements.lock", "requirements-test.lock"])
def test_pyprojects_ranges_admit_the_locked_versions(lock, extras):
    """A range edited in pyproject.toml without `make lock` (or a dependency added) fails here."""
    wanted = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]] + build_requirements()
    for extra in extras:
        wanted += [Requirement(text) for text in PYPROJECT["project"]["optional-dependencies"][extra]]
    locked = {}
    for pin in read_lock(lock):
        locked.setdefault(pin.name, []).append(pin)
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{lock.name} has no {name} (pyproject.toml asks for {requirement}): make lock"
        for pin in locked[name]:
            assert requirement.specifier.contains(pin.version, prereleases=True), \
                f"{lock.name}: {name}=={pin.version} is outside pyproject.toml's {requirement}: make lock"


def test_the_test_lock_holds_the_actions_versions():
    """The tests run on exactly what the action installs (requirements-test.lock is constrained by it):
    every version the runtime lock holds, the test lock holds too (a test tool may need a package on more
    platforms than the bundle does, so its markers may be wider)."""
    runtime = {(pin.name, pin.version) for pin in read_lock(RUNTIME)}
    test = {(pin.name, pin.version) for pin in read_lock(TEST)}
    assert runtime - test == set()


def test_the_lock_is_closed_under_the_locked_packages_own_dependencies():
    """Installed with --no-deps, so nothing may be missing: walk the dependency graph from pyproject.toml
    (extras included) through the metadata of the installed packages, as a resolver would on this
    Python, and find every package it reaches locked at a version its dependants accept."""
    lock = pins_here(RUNTIME)
    queue = [(Requirement(text), "pyproject.toml") for text in PYPROJECT["project"]["dependencies"]]
    queue += [(requirement, "build-system") for requirement in build_requirements()]
    seen: set[tuple[str, frozenset]] = set()
    while queue:
        requirement, wanted_by = queue.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        assert name in lock, f"requirements.lock misses {name}, which {wanted_by} needs ({requirement})"
        assert requirement.specifier.contains(lock[name].version, prereleases=True), \
            f"{wanted_by} needs {requirement}, requirements.lock has {name}=={lock[name].version}"
        if key in seen:
            continue
        seen.add(key)
        for text in importlib.metadata.distribution(name).requires or []:
            dependency = Requirement(text)
            applies = dependency.marker is None or any(
                dependency.marker.evaluate({"extra": extra}) for extra in ("", *requirement.extras))
            if applies:
                queue.append((dependency, f"{name}{sorted(requirement.extras) or ''}"))
    unused = set(lock) - {name for name, _ in seen}
    assert not unused, f"requirements.lock pins what nothing here needs: {sorted(unused)}"


def test_make_venv_built_exactly_the_locks():
    """The venv the tests run in is the test lock plus Otava, nothing more, nothing else."""
    expected = {name: pin.version for name, pin in {**pins_here(TEST), **pins_here(NODEPS)}.items()}
    have = {name: version for name, version in installed().items() if name not in VENV_TOOLS | {PROJECT}}
    if Path(sys.prefix).resolve() != (BUNDLE / ".venv").resolve():
        pytest.skip("not running in the bundle's .venv")
    assert have == expected


def pip_installs(script: str) -> list[str]:
    """Each `pip install` command of a script or Makefile, its continuation lines joined."""
    lines = script.replace("\\\n", " ").replace("$(PIP_INSTALL)", "pip install").splitlines()
    return [" ".join(line.split()) for line in lines if "pip install" in line and ":=" not in line]


@pytest.mark.parametrize(("where", "locks"), [
    ("action.yml", ("requirements.lock", "requirements-nodeps.lock")),
    ("Makefile", ("requirements-test.lock", "requirements-nodeps.lock")),
])
def test_the_action_and_the_makefile_install_from_the_locks_with_hashes(where, locks):
    text = (BUNDLE / where).read_text()
    if where == "action.yml":
        text = harness.load_action(BUNDLE / where)["runs"]["steps"][0]["run"]
    installs = pip_installs(text)
    locked = [command for command in installs if "--require-hashes" in command]
    assert locked, f"{where}: nothing is installed by hash: {installs}"
    for command in locked:
        assert "--no-deps" in command and all(f"{lock}" in command for lock in locks), f"{where}: {command}"
    for command in set(installs) - set(locked):  # the bundle itself: everything it needs is locked
        assert "--no-deps" in command.split() and "-e" in command.split(), f"{where}: unlocked {command}"


def test_the_otava_reason_still_holds_its_metadata_would_not_resolve():
    """requirements-nodeps.txt exists because Otava's metadata pins numpy/scipy below the locked ones;
    if that stops being true, Otava can move into the resolved lock."""
    declared = [Requirement(text) for text in importlib.metadata.distribution("apache-otava").requires or []]
    lock = pins_here(RUNTIME)
    conflicts = [str(r) for r in declared if canonicalize_name(r.name) in lock
                 and (r.marker is None or r.marker.evaluate({"extra": ""}))
                 and not r.specifier.contains(lock[canonicalize_name(r.name)].version, prereleases=True)]
    assert conflicts, "apache-otava's metadata now fits the lock: resolve it with the rest"


def test_the_locked_workflows_install_nothing_unlocked():
    """The workflows run the bundle through the action or `make venv`, both locked."""
    for workflow in sorted((BUNDLE / ".github" / "workflows").glob("*.yml")):
        if workflow.name == "perf-comment.yml":
            continue  # its own small venv (requests) is the fork-comment workflow's, not the bundle's
        for job in yaml.safe_load(workflow.read_text())["jobs"].values():
            for step in job.get("steps", []):
                assert "pip install" not in str(step.get("run", "")), f"{workflow.name}: pip install in a step"


@pytest.mark.e2e
def test_the_action_builds_its_venv_from_the_locks_and_runs_on_it(tmp_path):
    """The setup step from scratch (no venv to reuse), as on a fresh runner: it installs the locks by
    hash, and the bundle runs on exactly that (here against a target that is not there: exit 2)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = harness.run_action(
        BUNDLE / "action.yml",
        {"profile": "smoke", "stack": "external", "base-url": f"http://127.0.0.1:{port}", "comment": "off",
         "python": sys.executable},
        workspace=tmp_path / "workspace", runner_temp=tmp_path / "runner-temp",
        env={"DATABASE_URL": "", "REDIS_URL": ""}, stubs={"actions/upload-artifact@": lambda step: None},
        step_timeout_s=900)
    setup = run.steps[0]
    assert setup.outcome == "success" and "building the virtual environment" in setup.log, setup.log
    venv_python = tmp_path / "runner-temp" / "perf-gate-venv" / "bin" / "python"
    listing = "import importlib.metadata as m\nfor d in m.distributions(): print(d.metadata['Name'], d.version)"
    freeze = subprocess.run([str(venv_python), "-c", listing], capture_output=True, text=True, check=True).stdout
    have = {canonicalize_name(name): Version(version) for name, version in map(str.split, freeze.splitlines())}
    expected = {name: pin.version for name, pin in {**pins_here(RUNTIME), **pins_here(NODEPS)}.items()}
    assert {name: version for name, version in have.items() if name not in VENV_TOOLS | {PROJECT}} == expected
    assert run.outputs["verdict"] == "invalid" and run.outputs["exit-code"] == "2", run.log[-3000:]
    assert "does not answer" in run.summary
