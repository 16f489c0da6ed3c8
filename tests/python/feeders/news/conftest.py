"""Fixtures for the news feeder tests: recorded payloads and a fresh metrics registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from bbdash.common.metrics import Metrics
from prometheus_client import CollectorRegistry

PAYLOADS = Path(__file__).parent / "payloads"


@pytest.fixture
def payload():
    """Bytes of a recorded upstream payload by file name."""

    def read(name: str) -> bytes:
        return (PAYLOADS / name).read_bytes()

    return read


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())
