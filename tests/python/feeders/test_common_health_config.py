"""Heartbeat-based /healthz, /metrics, the healthcheck command, and settings loading."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest
from bbdash.common.config import ConfigError, ServiceSettings, load_settings
from bbdash.common.health import HealthServer, Heartbeat
from bbdash.common.healthcheck import check
from bbdash.common.metrics import Metrics


class DemoServiceSettings(ServiceSettings):
    SERVICE = "demo-service"
    DEFAULT_BUCKET = "markets"
    DEFAULT_PORT = 9999


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_healthz_follows_the_heartbeat_and_metrics_are_served():
    metrics = Metrics()
    heartbeat = Heartbeat(metrics)
    heartbeat.register("main", max_age_s=0.2)
    metrics.source_messages.labels("binance").inc(3)
    server = HealthServer(metrics, heartbeat, "127.0.0.1", 0)
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        status, body = _get(base + "/healthz")
        assert status == 200 and '"ok"' in body
        assert check(base + "/healthz")
        time.sleep(0.3)  # the loop stops beating
        status, body = _get(base + "/healthz")
        assert status == 503 and '"stale"' in body
        assert not check(base + "/healthz")
        heartbeat.beat("main")
        assert check(base + "/healthz")
        status, body = _get(base + "/metrics")
        assert status == 200
        assert 'bbdash_source_messages_total{source="binance"} 3.0' in body
        assert 'bbdash_heartbeat_timestamp_seconds{loop="main"}' in body
        assert _get(base + "/nope")[0] == 404
    finally:
        server.stop()
    assert not check(base + "/healthz")  # nothing listening


def test_settings_from_yaml_env_and_secret_files(tmp_path, monkeypatch):
    token = tmp_path / "influx_token"
    token.write_text("s3cret\n")
    token.chmod(0o600)
    config = tmp_path / "feeder.yml"
    config.write_text(
        "influx:\n"
        "  url: http://influx:8086\n"
        f"  token_file: {token}\n"
        "watchlist:\n"
        "  fallback_assets:\n"
        "    - {symbol: BTC/USDT, asset_type: crypto}\n"
    )
    monkeypatch.setenv("BBDASH_CONFIG", str(config))
    monkeypatch.setenv("BBDASH_INFLUX__ORG", "acme")
    settings = load_settings(DemoServiceSettings)
    assert settings.influx.url == "http://influx:8086"
    assert settings.influx.org == "acme"  # env over file
    assert settings.influx.bucket == "markets"  # service default kept
    assert settings.influx.token_value() == "s3cret"
    assert settings.metrics.port == 9999
    assert settings.spool.path is not None and settings.spool.path.name == "demo-service.sqlite"
    assert settings.watchlist.fallback_assets[0].symbol == "BTC/USDT"
    assert "s3cret" not in repr(settings)


def test_settings_errors_are_readable(tmp_path, monkeypatch):
    monkeypatch.setenv("BBDASH_CONFIG", str(tmp_path / "missing.yml"))
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(DemoServiceSettings)
    monkeypatch.delenv("BBDASH_CONFIG")
    with pytest.raises(ConfigError, match=r"influx\.batch_size"):
        load_settings(DemoServiceSettings, influx={"batch_size": 0})
    with pytest.raises(ConfigError, match="token_file"):
        load_settings(DemoServiceSettings).influx.token_value()
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(
            DemoServiceSettings, influx={"token_file": tmp_path / "nope"}
        ).influx.token_value()


def test_feeder_runtime_wires_sink_and_http(tmp_path, influx_double):
    from bbdash.common.lineprotocol import Point
    from bbdash.common.runtime import FeederRuntime
    from feeder_testkit import wait_for

    settings = load_settings(
        DemoServiceSettings,
        influx={
            "url": influx_double.url,
            "token": "test-token",
            "flush_interval_s": 0.05,
        },
        spool={"path": tmp_path / "rt.sqlite"},
        metrics={"host": "127.0.0.1", "port": 0},
    )
    settings.metrics.port = 0  # let the OS pick (the default-filler only fills 0 once)
    runtime = FeederRuntime(settings)
    runtime.start()
    try:
        runtime.sink.submit(Point("market_data", {"symbol": "X"}, {"price": 1.0}, 1))
        assert wait_for(lambda: influx_double.point_count("markets") == 1)
        assert runtime.health_server is not None
        assert check(f"http://127.0.0.1:{runtime.health_server.port}/healthz")
    finally:
        runtime.stop()
