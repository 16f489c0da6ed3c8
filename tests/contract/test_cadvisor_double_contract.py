"""Contract of the cAdvisor TEST DOUBLE (tests/doubles/cadvisor/server.py, not
cAdvisor) against cAdvisor v0.60.5, the tag roles/cadvisor pins.

- The double runs as the cadvisor role runs cAdvisor: the role's own command
  line (roles/cadvisor/vars/main.yml ``_cadvisor_command`` with the role's
  defaults), in front of a fake Docker engine on a unix socket (this module;
  the build machines run no engine for unit tests) and a fake root file system
  for the root cgroup's network counters.
- Its /metrics is read with prometheus_client's own parser, the way a
  Prometheus client reads cAdvisor; /healthz, the 307 of other paths.
- Flags are accepted or refused as Go's flag package does for cAdvisor's flag
  set (exit status 2 and the same message).
- Upstream test cases rewritten here: cmd/cadvisor_test.go
  (TestEnableAndIgnoreMetrics, Test*DisabledByDefault, TestToIncludedMetrics)
  and lib/metrics/prometheus_test.go (TestPrometheusCollector for the series
  the double implements, TestPrometheusCollector_scrapeFailure), with the
  fixture of lib/metrics/prometheus_fake_test.go and the expected lines of
  lib/metrics/testdata/prometheus_metrics{,_failure}.
"""

from __future__ import annotations

import ast
import http.client
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from doubles.cadvisor import server as cadvisor
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
DOUBLE = Path(os.environ.get("BBDASH_CADVISOR_DOUBLE", REPO / "tests/doubles/cadvisor/server.py"))
ROLE = REPO / "roles" / "cadvisor"

CONTAINER_ID = "c0ffee" * 10 + "abcd"
OTHER_ID = "beef" * 16


# --------------------------------------------------------------------------- the role's command


def role_command() -> list[str]:
    """_cadvisor_command as the role renders it, with the role's defaults."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    variables = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    text = jinja2.Environment(autoescape=False).from_string(variables["_cadvisor_command"])
    rendered = text.render(
        **defaults, **{k: v for k, v in variables.items() if k != "_cadvisor_command"}
    )
    command = ast.literal_eval(rendered.strip())
    assert isinstance(command, list)
    return [str(arg) for arg in command]


# --------------------------------------------------------------------------- a fake Docker engine


def _inspect(cid: str, name: str, health: str | None, oom: bool) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Running": True,
        "StartedAt": "2026-01-02T03:04:05.123456789Z",
        "OOMKilled": oom,
    }
    if health is not None:
        state["Health"] = {"Status": health}
    return {
        "Id": cid,
        "Name": "/" + name,
        "Created": "2026-01-02T03:04:00.5Z",
        "RestartCount": 2,
        "State": state,
        "Config": {
            "Image": "bbdash-offline/" + name + ":test",
            "Labels": {"com.example.team": "markets", "org.opencontainers.image.title": name},
        },
        "HostConfig": {"Memory": 268435456 if name == "bloomberg-cadvisor" else 0},
    }


ENGINE: dict[str, Any] = {
    "/info": {"CgroupDriver": "systemd", "ServerVersion": "20.10.24+dfsg1"},
    "/containers/json": [{"Id": CONTAINER_ID}, {"Id": OTHER_ID}],
    f"/containers/{CONTAINER_ID}/json": _inspect(
        CONTAINER_ID, "bloomberg-cadvisor", "healthy", False
    ),
    f"/containers/{OTHER_ID}/json": _inspect(OTHER_ID, "bloomberg-grafana", None, True),
}
for _cid in (CONTAINER_ID, OTHER_ID):
    ENGINE[f"/containers/{_cid}/stats"] = {
        "read": "2026-01-02T03:05:00Z",
        "cpu_stats": {"cpu_usage": {"total_usage": 2_500_000_000}},
        "memory_stats": {"usage": 50_000_000, "stats": {"total_inactive_file": 10_000_000}},
        "networks": {
            "eth0": {
                "rx_bytes": 1000,
                "rx_packets": 10,
                "rx_errors": 1,
                "rx_dropped": 2,
                "tx_bytes": 2000,
                "tx_packets": 20,
                "tx_errors": 3,
                "tx_dropped": 4,
            }
        },
    }


class _EngineHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        doc = ENGINE.get(self.path.split("?", 1)[0])
        body = json.dumps(doc if doc is not None else {"message": "no such container"}).encode()
        self.send_response(200 if doc is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def address_string(self) -> str:
        return "docker-socket"


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 5000      50    0    0    0     0          0         0     5000      50    0    0    0     0       0          0
  eth0: 123456   789    5    6    0     0          0         0   654321    987    7    8    0     0       0          0
docker0: 1        1    0    0    0     0          0         0        1      1    0    0    0     0       0          0
vethab12: 1       1    0    0    0     0          0         0        1      1    0    0    0     0       0          0
br-4f2a: 42      2    0    0    0     0          0         0       42      2    0    0    0     0       0          0
"""


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The fake engine's socket and the fake /rootfs."""
    base = Path(tmp_path_factory.mktemp("cadvisor-host"))
    rootfs = base / "rootfs"
    (rootfs / "proc" / "1" / "net").mkdir(parents=True)
    (rootfs / "proc" / "1" / "net" / "dev").write_text(NET_DEV)
    (rootfs / "proc" / "stat").write_text("cpu  1 2 3 4\nbtime 1767000000\n")
    sock = base / "docker.sock"
    engine = _UnixServer(str(sock), _EngineHandler)
    threading.Thread(target=engine.serve_forever, daemon=True).start()
    try:
        yield {"socket": sock, "rootfs": rootfs}
    finally:
        engine.shutdown()
        engine.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Running:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


def start(args: list[str], host: dict[str, Path]) -> Running:
    port = free_port()
    args = [a for a in args if not a.startswith("--port=")] + [
        f"--port={port}",
        "--listen_ip=127.0.0.1",
    ]
    process = subprocess.Popen(
        [sys.executable, str(DOUBLE), *args],
        env={
            **os.environ,
            "CADVISOR_DOUBLE_DOCKER_SOCKET": str(host["socket"]),
            "CADVISOR_DOUBLE_ROOTFS": str(host["rootfs"]),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return Running(process, port)
        except OSError:
            if process.poll() is not None:
                raise AssertionError(
                    f"the double exited: {process.stderr.read() if process.stderr else ''}"
                ) from None
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the double did not listen")


@pytest.fixture(scope="module")
def role_double(host: dict[str, Path]) -> Iterator[Running]:
    running = start(role_command(), host)
    try:
        yield running
    finally:
        running.process.terminate()
        running.process.wait(timeout=10)


def series(text: str) -> dict[str, list[Any]]:
    """Samples by series name (the parser names counter families without _total)."""
    found: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def types(text: str) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(text)}


# --------------------------------------------------------------------------- the role's command line


def test_the_role_passes_the_flags_cadvisor_knows() -> None:
    command = role_command()
    assert "--port=8081" in command and "--docker_only=true" in command
    values = cadvisor.parse_flags(command)
    assert values["port"] == 8081
    assert values["store_container_labels"] is False
    assert cadvisor.included_metrics(values) == {"cpu", "memory", "network", "oom_event", "diskIO"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--no_such_flag=1"], "flag provided but not defined: -no_such_flag"),
        (
            ["--enable_metrics=cpu,memory,gpu"],
            'invalid value "cpu,memory,gpu" for flag -enable_metrics: unsupported metric "gpu" specified',
        ),
        (
            ["--housekeeping_interval=30"],
            'invalid value "30" for flag -housekeeping_interval: parse error',
        ),
        (["--docker_only=yes"], 'invalid boolean value "yes" for -docker_only: parse error'),
        (["--port=eighty"], 'invalid value "eighty" for flag -port: parse error'),
        (["--port"], "flag needs an argument: -port"),
        (["---port=1"], "bad flag syntax: ---port=1"),
    ],
)
def test_a_flag_cadvisor_refuses_ends_the_process_with_status_2(
    args: list[str], message: str, host: dict[str, Path]
) -> None:
    result = subprocess.run(
        [sys.executable, str(DOUBLE), *role_command(), *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[0] == message


def test_help_and_version_end_with_status_0() -> None:
    for flag, stream in (("-h", "stderr"), ("--version", "stdout")):
        result = subprocess.run(
            [sys.executable, str(DOUBLE), flag],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert result.returncode == 0
        assert getattr(result, stream)


def test_go_flag_syntax() -> None:
    # -flag value, --flag=value, a bool without a value, the end of the flags.
    values = cadvisor.parse_flags(["-port", "9000", "--profiling", "--", "--no_such_flag"])
    assert values["port"] == 9000 and values["profiling"] is True
    values = cadvisor.parse_flags(["--docker_only", "false", "--no_such_flag"])
    assert values["docker_only"] is True  # a bool flag takes no separate value: parsing stops
    assert cadvisor.parse_flags(["-port=0x1F90"])["port"] == 8080
    assert cadvisor.parse_flags(["--housekeeping_interval=1m30s"])["housekeeping_interval"] == 90
    assert cadvisor.parse_flags(["-v=4", "--stderrthreshold=ERROR"])["v"] == 4


# cmd/cadvisor_test.go


@pytest.mark.parametrize(
    "group", ["tcp", "advtcp", "udp", "referenced_memory", "cpu_topology", "memory_numa"]
)
def test_metric_groups_disabled_by_default(group: str) -> None:
    """Test{Tcp,AdvancedTcp,Udp,ReferencedMemory,CPUTopology,MemoryNuma}...DisabledByDefault."""
    values = cadvisor.parse_flags([])
    assert group in values["disable_metrics"]
    assert group not in cadvisor.included_metrics(values)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", set()), ("disk", {"disk"}), ("disk,tcp,network", {"disk", "tcp", "network"})],
)
def test_enable_and_ignore_metrics(value: str, expected: set[str]) -> None:
    """TestEnableAndIgnoreMetrics."""
    assert cadvisor.parse_metric_set(value) == expected
    for flag in ("enable_metrics", "disable_metrics"):
        assert cadvisor.parse_flags([f"--{flag}={value}"])[flag] == expected


def test_to_included_metrics() -> None:
    """TestToIncludedMetrics: All minus what is ignored; enable_metrics wins when set."""
    assert cadvisor.included_metrics(
        {"enable_metrics": frozenset(), "disable_metrics": {"cpu"}}
    ) == (cadvisor.ALL_METRICS - {"cpu"})
    assert (
        cadvisor.included_metrics({"enable_metrics": frozenset(), "disable_metrics": frozenset()})
        == cadvisor.ALL_METRICS
    )
    assert (
        cadvisor.included_metrics(
            {"enable_metrics": frozenset(), "disable_metrics": cadvisor.ALL_METRICS}
        )
        == frozenset()
    )
    assert cadvisor.included_metrics(
        {"enable_metrics": frozenset({"cpu"}), "disable_metrics": cadvisor.ALL_METRICS}
    ) == {"cpu"}


# --------------------------------------------------------------------------- HTTP


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_healthz(role_double: Running, method: str) -> None:
    status, headers, body = role_double.request(method, "/healthz")
    assert status == 200
    assert body == (b"" if method == "HEAD" else b"ok")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"


def test_other_paths_redirect_to_the_containers_page(role_double: Running) -> None:
    status, headers, body = role_double.request("GET", "/nope")
    assert (status, headers["Location"]) == (307, "/containers/")
    assert body == b'<a href="/containers/">Temporary Redirect</a>.\n\n'


def test_bad_request_options_on_metrics(role_double: Running) -> None:
    status, _, body = role_double.request("GET", "/metrics?type=bogus")
    assert status == 500
    assert body == b"No metrics gathered, last error:\n\nunknown 'type' \"bogus\"\n"


def test_metrics_in_the_prometheus_text_format(role_double: Running) -> None:
    status, headers, body = role_double.request(
        "GET", "/metrics", {"Accept": "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"}
    )
    assert status == 200
    assert (
        headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"
    )
    found = series(body.decode())
    # The groups the role enables, none of those it leaves out.
    for name in (
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "container_network_receive_bytes_total",
        "container_network_transmit_errors_total",
        "container_oom_events_total",
        "container_last_seen",
        "container_start_time_seconds",
        "container_spec_memory_limit_bytes",
        "container_health_state",
        "container_scrape_error",
        "cadvisor_version_info",
    ):
        assert name in found, name
    kinds = types(body.decode())
    assert kinds["container_cpu_usage_seconds"] == "counter"
    assert kinds["container_memory_working_set_bytes"] == "gauge"
    assert "container_tasks_state" not in found  # cpuLoad: not enabled
    assert "container_cpu_user_seconds_total" not in found  # not exported by the double
    assert [s.value for s in found["container_scrape_error"]] == [0]


def test_series_carry_cadvisor_labels_and_timestamps(role_double: Running) -> None:
    found = series(role_double.request("GET", "/metrics")[2].decode())
    by_name = {
        s.labels["name"]: s
        for s in found["container_memory_working_set_bytes"]
        if "name" in s.labels
    }
    cadv = by_name["bloomberg-cadvisor"]
    # store_container_labels=false: id, image, name and nothing else.
    assert set(cadv.labels) == {"id", "image", "name"}
    assert cadv.labels["id"] == f"/system.slice/docker-{CONTAINER_ID}.scope"
    assert cadv.labels["image"] == "bbdash-offline/bloomberg-cadvisor:test"
    assert cadv.value == 40_000_000  # usage - total_inactive_file
    assert cadv.timestamp is not None
    cpu = [
        s
        for s in found["container_cpu_usage_seconds_total"]
        if s.labels.get("name") == "bloomberg-cadvisor"
    ]
    assert [(s.labels["cpu"], s.value) for s in cpu] == [("total", 2.5)]
    limits = {s.labels.get("name", ""): s.value for s in found["container_spec_memory_limit_bytes"]}
    assert limits == {"bloomberg-cadvisor": 268435456, "bloomberg-grafana": 0}
    health = {s.labels.get("name", ""): s.value for s in found["container_health_state"]}
    assert health == {"": -1, "bloomberg-cadvisor": 1, "bloomberg-grafana": -1}
    oom = {s.labels.get("name", ""): s.value for s in found["container_oom_events_total"]}
    assert oom["bloomberg-grafana"] == 1 and oom["bloomberg-cadvisor"] == 0
    start = {s.labels.get("name", ""): s.value for s in found["container_start_time_seconds"]}
    assert start["bloomberg-cadvisor"] == 1767323045  # 2026-01-02T03:04:05Z, whole seconds


def test_root_cgroup_network_for_the_host_panel(role_double: Running) -> None:
    """The Infrastructure dashboard reads the host's traffic from id="/"."""
    found = series(role_double.request("GET", "/metrics")[2].decode())
    root = {
        s.labels["interface"]: s.value
        for s in found["container_network_receive_bytes_total"]
        if s.labels["id"] == "/"
    }
    # lo, veth*, docker* are left out by cAdvisor; br-* is left to the dashboard's filter.
    assert root == {"eth0": 123456, "br-4f2a": 42}
    last_seen = [s for s in found["container_last_seen"] if s.labels["id"] == "/"]
    # Written as name="" (client_golang); Prometheus drops empty labels when it ingests.
    assert len(last_seen) == 1 and last_seen[0].labels["name"] == ""


def test_store_container_labels_exports_docker_labels(host: dict[str, Path]) -> None:
    running = start(
        [a for a in role_command() if not a.startswith("--store_container_labels")], host
    )
    try:
        found = series(running.request("GET", "/metrics")[2].decode())
    finally:
        running.process.terminate()
        running.process.wait(timeout=10)
    sample = next(
        s for s in found["container_last_seen"] if s.labels.get("name") == "bloomberg-grafana"
    )
    assert sample.labels["container_label_com_example_team"] == "markets"
    assert sample.labels["container_label_restartcount"] == "2"


def test_engine_down_is_a_scrape_error(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(DOUBLE), f"--port={port}", "--listen_ip=127.0.0.1"],
        env={**os.environ, "CADVISOR_DOUBLE_DOCKER_SOCKET": str(tmp_path / "absent.sock")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        running = None
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                running = Running(process, port)  # type: ignore[arg-type]
                break
            except OSError:
                time.sleep(0.1)
        assert running is not None
        status, _, body = running.request("GET", "/metrics")
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert status == 200
    assert body.decode() == (
        "# HELP container_scrape_error 1 if there was an error while getting container metrics, "
        "0 otherwise\n# TYPE container_scrape_error gauge\ncontainer_scrape_error 1\n"
    )


# --------------------------------------------------------------------------- lib/metrics/prometheus_test.go


def _upstream_fixture() -> tuple[list[cadvisor.Container], cadvisor.VersionInfo]:
    """testSubcontainersInfoProvider (lib/metrics/prometheus_fake_test.go), the fields
    the double exports. No per-CPU usage: the double knows only the "total" series."""
    container = cadvisor.Container(
        id="testcontainer",
        aliases=["testcontaineralias"],
        image="test",
        labels={"foo.label": "bar"},
        envs={"foo+env": "prod"},
        creation_time=1257894000,
        start_time=1257895000,
        timestamp=1395066363,
        memory_usage=8,
        working_set=9,
        interfaces=[cadvisor.Interface("eth0", 14, 15, 16, 17, 18, 19, 20, 21)],
        oom_events=0,
        health="healthy",
    )
    version = cadvisor.VersionInfo(
        kernel="4.1.6-200.fc22.x86_64",
        os="Fedora 22 (Twenty Two)",
        docker="1.8.1",
        cadvisor="0.16.0",
        revision="abcdef",
    )
    return [container], version


def _zone_labels(container: cadvisor.Container) -> dict[str, str]:
    labels = cadvisor.default_container_labels(container)
    labels["zone.name"] = "hello"
    return labels


BASE = (
    'container_env_foo_env="prod",container_label_foo_label="bar",id="testcontainer",image="test"'
)
UPSTREAM_LINES = [
    'cadvisor_version_info{cadvisorRevision="abcdef",cadvisorVersion="0.16.0",dockerVersion="1.8.1",'
    'kernelVersion="4.1.6-200.fc22.x86_64",osVersion="Fedora 22 (Twenty Two)"} 1',
    f'container_creation_time_seconds{{{BASE},name="testcontaineralias",zone_name="hello"}} 1.257894e+09',
    f'container_health_state{{{BASE},name="testcontaineralias",zone_name="hello"}} 1 1395066363000',
    f'container_last_seen{{{BASE},name="testcontaineralias",zone_name="hello"}} 1.395066363e+09 1395066363000',
    f'container_memory_usage_bytes{{{BASE},name="testcontaineralias",zone_name="hello"}} 8 1395066363000',
    f'container_memory_working_set_bytes{{{BASE},name="testcontaineralias",zone_name="hello"}} 9 1395066363000',
    f'container_network_receive_bytes_total{{{BASE},interface="eth0",name="testcontaineralias",zone_name="hello"}} 14 1395066363000',
    f'container_network_receive_errors_total{{{BASE},interface="eth0",name="testcontaineralias",zone_name="hello"}} 16 1395066363000',
    f'container_network_receive_packets_dropped_total{{{BASE},interface="eth0",name="testcontaineralias",zone_name="hello"}} 17 1395066363000',
    f'container_network_receive_packets_total{{{BASE},interface="eth0",name="testcontaineralias",zone_name="hello"}} 15 1395066363000',
    f'container_network_transmit_bytes_total{{{BASE},interface="eth0",name="testcontaineralias",zone_name="hello"}} 18 1395066363000',
    f'container_network_transmit_errors_total{{{BASE},interface="eth0",name="testcontaineralias",zone_name="hello"}} 20 1395066363000',
    f'container_network_transmit_packets_dropped_total{{{BASE},interface="eth0",name="testcontaineralias",zone_name="hello"}} 21 1395066363000',
    f'container_network_transmit_packets_total{{{BASE},interface="eth0",name="testcontaineralias",zone_name="hello"}} 19 1395066363000',
    f'container_oom_events_total{{{BASE},name="testcontaineralias",zone_name="hello"}} 0 1395066363000',
    "container_scrape_error 0",
    f'container_start_time_seconds{{{BASE},name="testcontaineralias",zone_name="hello"}} 1.257895e+09',
    "# HELP container_last_seen Last time a container was seen by the exporter",
    "# TYPE container_last_seen gauge",
    "# HELP container_oom_events_total Count of out of memory events observed for the container",
    "# TYPE container_oom_events_total counter",
]


def test_prometheus_collector_upstream_lines() -> None:
    """TestPrometheusCollector: the lines of testdata/prometheus_metrics for every
    series the double exports (all metric groups, the fixture's container)."""
    containers, version = _upstream_fixture()
    text = cadvisor.exposition(
        cadvisor.collect(containers, version, cadvisor.ALL_METRICS, _zone_labels, 1395066363)
    )
    lines = text.splitlines()
    for expected in UPSTREAM_LINES:
        assert expected in lines, expected
    # Families sorted by name, HELP and TYPE before the samples.
    names = [line.split()[2] for line in lines if line.startswith("# HELP ")]
    assert names == sorted(names)


def test_prometheus_collector_scrape_failure() -> None:
    """TestPrometheusCollector_scrapeFailure: testdata/prometheus_metrics_failure."""
    text = cadvisor.exposition(
        cadvisor.collect(None, None, cadvisor.ALL_METRICS, _zone_labels, 1395066363)
    )
    assert text == (
        "# HELP container_scrape_error 1 if there was an error while getting container metrics, "
        "0 otherwise\n# TYPE container_scrape_error gauge\ncontainer_scrape_error 1\n"
    )


def test_base_container_labels_keep_only_the_whitelist() -> None:
    """TestPrometheusCollectorWithWhiteList: BaseContainerLabels(["no_one_match"])."""
    containers, _ = _upstream_fixture()
    labels = cadvisor.base_container_labels(["no_one_match"])(containers[0])
    assert labels == {
        "id": "testcontainer",
        "name": "testcontaineralias",
        "image": "test",
        "container_env_foo+env": "prod",
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1257895000.0, "1.257895e+09"),
        (1395066363.0, "1.395066363e+09"),
        (9.0, "9"),
        (2e-9, "2e-09"),
        (0.5, "0.5"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (float("inf"), "+Inf"),
    ],
)
def test_values_in_go_float_format(value: float, text: str) -> None:
    """strconv.FormatFloat(v, 'g', -1, 64), as the upstream testdata shows."""
    assert cadvisor.go_float(value) == text
