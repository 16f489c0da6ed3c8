"""The real-image CI workflow (.github/workflows/real-images.yml) and its molecule
scenario (molecule/real-images), which cannot run on the build machines: what
can be checked without a registry is checked here (docs/testing.md, "Real
images in CI").

- every action is pinned to a full commit SHA, with the tag it was read from;
- every job runs on Ubuntu 22.04; the molecule job needs lint and unit and runs
  the real-images scenario, never the offline kit's build or scenario;
- the scenario joins `bloomberg` only (never `offline_kit`) and its verifier
  deselects the tests marked `doubles`, while the default scenario runs them all;
- a verify test that reads a test double is marked `doubles`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_FILE = ROOT / ".github" / "workflows" / "real-images.yml"
WORKFLOW = yaml.safe_load(WORKFLOW_FILE.read_text())
JOBS: dict[str, Any] = WORKFLOW["jobs"]
MOLECULE_JOB = "molecule-real-images"
SCENARIO = yaml.safe_load((ROOT / "molecule" / "real-images" / "molecule.yml").read_text())
DEFAULT_SCENARIO = yaml.safe_load((ROOT / "molecule" / "default" / "molecule.yml").read_text())
INFRA = ROOT / "tests" / "infra"

PINNED = re.compile(
    r"^\s*(?:-\s+)?uses:\s+(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})"
    r"\s+#\s+v\d+\.\d+\.\d+\s*$"
)
# What only a test double (or an image only the offline kit has) answers. The
# `points("` helper of test_collect.on_host reads the InfluxDB double's
# /__double/points.
DOUBLE_ONLY = re.compile(
    r"/__double/|/api/test-double/|TEST DOUBLE|bbdash-testdouble/"
    r"|bbdash-offline/(?!debian:bookworm|testhost:bookworm)|points\(\""
)


def steps(job: str) -> list[dict[str, Any]]:
    return JOBS[job]["steps"]


def runs(job: str) -> str:
    """A job's shell commands, without their comments."""
    lines = "\n".join(step.get("run", "") for step in steps(job)).splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def test_every_action_is_pinned_to_a_commit_sha_with_its_tag() -> None:
    lines = [line for line in WORKFLOW_FILE.read_text().splitlines() if "uses:" in line]
    assert lines, "the workflow uses no action"
    for line in lines:
        assert PINNED.match(line), f"not pinned to a 40-hex SHA with a '# vX.Y.Z' comment: {line}"
    # The parsed workflow agrees with the lines read (no `uses` hidden in a flow mapping).
    used = [s["uses"] for job in JOBS.values() for s in job.get("steps", []) if "uses" in s]
    used += [job["uses"] for job in JOBS.values() if "uses" in job]
    assert len(used) == len(lines)
    assert all(re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", u) for u in used), used


def test_triggers() -> None:
    # PyYAML reads the key `on` as the boolean true (YAML 1.1).
    triggers = WORKFLOW.get("on", WORKFLOW.get(True))
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers)


def test_jobs_run_on_ubuntu_22_04_with_timeouts() -> None:
    assert {"lint", "unit", MOLECULE_JOB} <= set(JOBS)
    for name, job in JOBS.items():
        assert job["runs-on"] == "ubuntu-22.04", name
        assert 0 < int(job["timeout-minutes"]) <= 360, name


def test_python_3_11_and_the_project_make_targets() -> None:
    for job in ("lint", MOLECULE_JOB):
        setups = [s for s in steps(job) if s.get("uses", "").startswith("actions/setup-python@")]
        assert [s["with"]["python-version"] for s in setups] == ["3.11"], job
    assert re.search(r"^make lint$", runs("lint"), re.MULTILINE)
    # Debian 12's python3 (3.11) in the unit job's container.
    assert JOBS["unit"]["container"]["image"] == "debian:bookworm"
    assert re.search(r"^make (-o deps )?unit$", runs("unit"), re.MULTILINE)
    assert re.search(r"^\s*make venv\b", runs(MOLECULE_JOB), re.MULTILINE)


def test_the_molecule_job_runs_the_real_images_scenario_after_lint_and_unit() -> None:
    job = JOBS[MOLECULE_JOB]
    assert set(job["needs"]) == {"lint", "unit"}
    script = runs(MOLECULE_JOB)
    scenarios = re.findall(r"molecule\s+\w+\s+(?:-s|--scenario-name)[\s=](\S+)", script)
    assert scenarios == ["real-images"], scenarios
    # The test host is built as build-base.sh builds it; nothing of the offline kit is.
    assert "tests/images/build-base.sh" in script
    for kit in (
        "build-stack.sh",
        "build-wheelhouse.sh",
        "make images",
        "make molecule",
        "make test",
    ):
        assert kit not in script, kit
    assert "BBDASH_OFFLINE_KIT" not in WORKFLOW_FILE.read_text()


def test_the_molecule_log_is_kept_on_failure() -> None:
    uploads = [
        s for s in steps(MOLECULE_JOB) if s.get("uses", "").startswith("actions/upload-artifact@")
    ]
    assert len(uploads) == 1
    (upload,) = uploads
    assert "failure()" in upload["if"]
    paths = upload["with"]["path"].split()
    assert ".cache/molecule/real-images.log" in paths
    # upload-artifact leaves hidden folders (.cache) out unless told otherwise.
    assert upload["with"]["include-hidden-files"] is True
    assert "tee .cache/molecule/real-images.log" in runs(MOLECULE_JOB)


def test_the_real_images_scenario_stays_out_of_the_offline_kit() -> None:
    (platform,) = SCENARIO["platforms"]
    assert platform["groups"] == ["bloomberg"]
    assert "offline_kit" not in yaml.safe_dump(SCENARIO)
    # No image archive mounted (the kit's .cache/images), its own inner Docker volume.
    assert not any(".cache/images" in v for v in platform["volumes"])
    (default_platform,) = DEFAULT_SCENARIO["platforms"]
    assert platform["name"] != default_platform["name"]
    # Its own named volumes (a bind mount, absolute or from the project, may be shared).
    assert {v.split(":")[0] for v in platform["volumes"]}.isdisjoint(
        v.split(":")[0] for v in default_platform["volumes"] if not v.startswith(("/", "$"))
    )
    # The only project folder it mounts is the test helpers' archives.
    assert [v for v in platform["volumes"] if v.startswith("$")] == [
        "${MOLECULE_PROJECT_DIRECTORY}/.cache/test-helpers:/var/cache/bbdash-test-helpers:ro"
    ]
    # Otherwise the same host: image, capabilities, preparation and converge.
    for key in ("image", "command", "cgroupns_mode", "capabilities", "security_opts", "tmpfs"):
        assert platform[key] == default_platform[key], key
    assert SCENARIO["provisioner"]["playbooks"] == {
        "prepare": "../default/prepare.yml",
        "converge": "../default/converge.yml",
    }
    assert SCENARIO["scenario"]["test_sequence"] == DEFAULT_SCENARIO["scenario"]["test_sequence"]


def test_the_real_images_verifier_deselects_the_doubles_marker() -> None:
    verifier = SCENARIO["verifier"]
    assert verifier["name"] == "testinfra"
    assert verifier["directory"] == DEFAULT_SCENARIO["verifier"]["directory"]
    assert re.fullmatch(r"not\s+doubles", verifier["options"]["m"].strip())
    # The default scenario (the offline kit) keeps running every test.
    assert "m" not in DEFAULT_SCENARIO["verifier"]["options"]


def test_the_doubles_marker_is_registered_for_verify() -> None:
    # pytest.ini sets --strict-markers: an unregistered marker stops verify.
    conftest = (INFRA / "conftest.py").read_text()
    assert re.search(r'addinivalue_line\(\s*"markers",\s*"doubles:', conftest)


def _marked_doubles(node: ast.FunctionDef) -> bool:
    return any(ast.unparse(d).split("(")[0] == "pytest.mark.doubles" for d in node.decorator_list)


def _verify_tests() -> list[tuple[str, ast.FunctionDef, str]]:
    found = []
    for path in sorted(INFRA.glob("test_*.py")):
        source = path.read_text()
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found.append(
                    (f"{path.name}::{node.name}", node, ast.get_source_segment(source, node))
                )
    return found


def test_verify_tests_that_read_a_double_are_marked() -> None:
    tests = _verify_tests()
    assert len(tests) > 50
    unmarked = [
        name
        for name, node, text in tests
        if DOUBLE_ONLY.search(text or "") and not _marked_doubles(node)
    ]
    assert not unmarked, (
        f"read a test double (or a kit image) but are not marked doubles: {unmarked}"
    )
    # And the split is real: some tests are deselected, most still run.
    marked = [name for name, node, _ in tests if _marked_doubles(node)]
    assert 0 < len(marked) < len(tests) / 4, marked


@pytest.mark.parametrize(
    "line",
    [
        "      - uses: actions/checkout@v7",
        "      - uses: actions/checkout@3d3c42e  # v7.0.1",
        "      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1",
        "      - uses: actions/checkout@main  # v7.0.1",
    ],
)
def test_the_pin_check_refuses_tags_short_shas_and_missing_versions(line: str) -> None:
    assert not PINNED.match(line)
