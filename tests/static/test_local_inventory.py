"""The local inventory's two ways to get images (docs/testing.md):

- the offline kit (group `offline_kit`): every image a role runs must come from
  the archive tests/images/build-stack.sh builds, never from a registry, or
  `make test` would try to pull on a machine that has none;
- otherwise (`make demo` with Docker Hub reachable): the roles' pinned upstream
  images, so nothing image-related may be set for every local host.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "inventories" / "local"
KIT = yaml.safe_load((LOCAL / "group_vars" / "offline_kit.yml").read_text())
ALL = yaml.safe_load((LOCAL / "group_vars" / "all" / "main.yml").read_text())
BUILD_STACK = (ROOT / "tests" / "images" / "build-stack.sh").read_text()
BUILD_BASE = (ROOT / "tests" / "images" / "build-base.sh").read_text()


def role_image_variables() -> dict[str, Any]:
    """Every role default naming an image, or whether to pull one."""
    found: dict[str, Any] = {}
    for defaults in sorted(ROOT.glob("roles/*/defaults/main.yml")):
        for name, value in (yaml.safe_load(defaults.read_text()) or {}).items():
            if re.search(r"_image(_pull)?$", name):
                found[name] = value
    return found


def test_roles_have_images_to_check() -> None:
    names = role_image_variables()
    assert {"postgres_image", "grafana_image", "feeders_image_base_image"} <= set(names)


def test_the_offline_kit_sets_every_role_image_and_pulls_nothing() -> None:
    for name, upstream in role_image_variables().items():
        # An image that follows another role's (the link role's front runs nginx's
        # image) comes from the kit through that one.
        follows = re.match(r"^\{\{ (\w+_image) ", str(upstream))
        if follows and name not in KIT:
            assert follows.group(1) in KIT, (
                f"{name} follows {follows.group(1)}, missing from offline_kit.yml"
            )
            continue
        assert name in KIT, f"{name} (upstream {upstream!r}) is missing from offline_kit.yml"
        if name.endswith("_pull"):
            assert KIT[name] is False, f"{name} must be false in the offline kit"
        else:
            assert re.match(r"^bbdash-(offline|testdouble)/", KIT[name]), (name, KIT[name])


def test_every_offline_image_is_built_locally() -> None:
    """Each image the kit names is built by the image scripts (the prefix is a
    variable there: bbdash-offline; doubles are bbdash-testdouble/<name>:test)."""
    images = [v for k, v in KIT.items() if k.endswith("_image")]
    for image in images:
        repo, tag = image.rsplit(":", 1)
        kind, name = repo.split("/")
        if kind == "bbdash-testdouble":
            assert re.search(rf"for name in [^;]*\b{name}\b", BUILD_STACK), image
            assert tag == "test", image
        elif name == "debian":
            assert "debian:bookworm" in BUILD_BASE, image
        else:
            assert re.search(rf"for name in [^;]*\b{name}\b", BUILD_STACK), image
            assert tag == "debian", image


def test_nothing_image_related_is_set_for_every_local_host() -> None:
    leaked = [name for name in ALL if re.search(r"_image|_pull$|offline_images", name)]
    assert leaked == [], f"move {leaked} to offline_kit.yml: they would override a real demo"


def test_molecule_groups() -> None:
    default = yaml.safe_load((ROOT / "molecule" / "default" / "molecule.yml").read_text())
    assert default["platforms"][0]["groups"] == ["bloomberg", "offline_kit"]
    demo = (ROOT / "molecule" / "demo" / "molecule.yml").read_text()
    assert 'groups: [bloomberg, "${BBDASH_DEMO_KIT:-offline_kit}"]' in demo


def test_expected_containers_differ_from_the_role_only_by_the_test_timing() -> None:
    """The local inventory repeats the prometheus role's list to shorten one
    `for:` (verify stops Grafana and waits for ContainerAbsent); nothing else
    may drift from what production gets."""
    role = yaml.safe_load((ROOT / "roles" / "prometheus" / "defaults" / "main.yml").read_text())
    local = [dict(item) for item in ALL["prometheus_expected_containers"]]
    shortened = [item for item in local if "for" in item]
    assert [(item["name"], item["for"]) for item in shortened] == [("bloomberg-grafana", "30s")]
    for item in shortened:
        del item["for"]
    assert local == role["prometheus_expected_containers"]
