"""Fixtures of the Grafana TEST DOUBLE's contract modules (sessions, desks): the
role's grafana.ini and dashboards provider, and a factory of fresh doubles, each
stopped at the test's end. The double is started as test_grafana_double_contract.py
does it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import test_grafana_double_contract as contract


@pytest.fixture(scope="module")
def role_files() -> dict[str, str]:
    """grafana.ini and the dashboards provider, rendered as the contract module does."""
    rendered = contract.render_templates(
        contract.ROLE,
        {"grafana.ini": "grafana.ini.j2", "dashboards.yml": "provisioning/dashboards.yml.j2"},
        {"contract": {"vault_grafana_metrics_password": contract.METRICS_PASSWORD}},
        contract.SHARED_VARS,
    )
    return rendered["contract"]


@pytest.fixture
def fresh(role_files: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., contract.Grafana]]:
    """make(extra_ini="") starts a double of its own (grafana.ini lines appended)."""
    started: list[contract.Grafana] = []

    def make(extra_ini: str = "") -> contract.Grafana:
        started.append(contract.start(tmp_path / f"g{len(started)}", role_files, extra_ini))
        return started[-1]

    try:
        yield make
    finally:
        for running in started:
            if running.process.poll() is None:
                contract.stop(running)
