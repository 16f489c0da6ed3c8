"""TEST DOUBLE for cAdvisor -- not cAdvisor.

cAdvisor cannot be obtained on the build machines, so the tests run this
stdlib server in its place. Every behaviour below mirrors cAdvisor v0.60.5
(the tag pinned in roles/cadvisor/defaults/main.yml); README.md in this folder
names the upstream file (and test) each one follows.

- Command line: cAdvisor's Go ``flag`` set (its own flags and klog's), parsed
  the way Go's ``flag`` package parses them: an unknown flag, a bad value or a
  metric group cAdvisor does not know ends the process with status 2 and the
  same message, so the role's arguments are accepted or refused as cAdvisor
  would accept or refuse them.
- ``/healthz``: ``ok``. The Prometheus endpoint (``--prometheus_endpoint``,
  default ``/metrics``): cAdvisor's series for every running Docker container
  and the root cgroup ``/``, in the Prometheus text format cAdvisor's
  client_golang writes (HELP/TYPE lines, sorted families, Go float format,
  millisecond timestamps), limited to the metric groups
  ``--enable_metrics``/``--disable_metrics`` select. Any other path answers
  cAdvisor's ``307`` to ``/containers/``.

Like cAdvisor's housekeeping, a background thread samples every container
(in parallel: a Docker engine can take about a second per stats call) and the
endpoint serves the latest sample, so a scrape never waits on the engine.
Never shipped, never described as cAdvisor.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

VERSION = "v0.60.5-testdouble"
REVISION = "testdouble"
DOCKER_SOCKET = os.environ.get("CADVISOR_DOUBLE_DOCKER_SOCKET", "/var/run/docker.sock")
# cAdvisor reads the host through these mounts when it runs in a container.
ROOTFS = Path(os.environ.get("CADVISOR_DOUBLE_ROOTFS", "/rootfs"))


# --------------------------------------------------------------------------- command line

# lib/container/factory.go: MetricKind constants and AllMetrics.
ALL_METRICS = frozenset(
    {
        "cpu",
        "sched",
        "percpu",
        "memory",
        "memory_numa",
        "cpuLoad",
        "diskIO",
        "disk",
        "network",
        "tcp",
        "advtcp",
        "udp",
        "app",
        "process",
        "hugetlb",
        "perf_event",
        "referenced_memory",
        "cpu_topology",
        "resctrl",
        "cpuset",
        "oom_event",
        "pressure",
    }
)
# cmd/cadvisor.go: ignoreMetrics, the groups left out unless asked for.
DEFAULT_IGNORED = frozenset(
    {
        "memory_numa",
        "tcp",
        "udp",
        "advtcp",
        "sched",
        "process",
        "hugetlb",
        "referenced_memory",
        "cpu_topology",
        "resctrl",
        "cpuset",
    }
)

# Every flag of the cAdvisor v0.60.5 binary: `git grep 'flag\.'` over cmd/,
# lib/ and container/ (integration/ is not part of the binary), plus the flags
# klog v2.130.1's InitFlags registers (klog.go). name -> Go flag type.
FLAG_TYPES: dict[str, str] = {
    # cmd/cadvisor.go
    "listen_ip": "string",
    "port": "int",
    "max_procs": "int",
    "version": "bool",
    "http_auth_file": "string",
    "http_auth_realm": "string",
    "http_digest_file": "string",
    "http_digest_realm": "string",
    "prometheus_endpoint": "string",
    "profiling": "bool",
    "collector_cert": "string",
    "collector_key": "string",
    "store_container_labels": "bool",
    "whitelisted_container_labels": "string",
    "env_metadata_whitelist": "string",
    "url_base_prefix": "string",
    "raw_cgroup_prefix_whitelist": "string",
    "perf_events_config": "string",
    "resctrl_interval": "duration",
    "disable_metrics": "metrics",
    "enable_metrics": "metrics",
    # cmd/storagedriver.go, lib/storage/common_flags.go, cmd/internal/storage/*
    "storage_driver": "string",
    "storage_duration": "duration",
    "storage_driver_buffer_duration": "duration",
    "storage_driver_db": "string",
    "storage_driver_host": "string",
    "storage_driver_password": "string",
    "storage_driver_secure": "bool",
    "storage_driver_table": "string",
    "storage_driver_user": "string",
    "storage_driver_es_enable_sniffer": "bool",
    "storage_driver_es_host": "string",
    "storage_driver_es_index": "string",
    "storage_driver_es_type": "string",
    "storage_driver_influxdb_retention_policy": "string",
    "storage_driver_kafka_broker_list": "string",
    "storage_driver_kafka_ssl_ca": "string",
    "storage_driver_kafka_ssl_cert": "string",
    "storage_driver_kafka_ssl_key": "string",
    "storage_driver_kafka_ssl_verify": "bool",
    "storage_driver_kafka_topic": "string",
    "bq_account": "string",
    "bq_credentials_file": "string",
    "bq_id": "string",
    "bq_project_id": "string",
    "bq_secret": "string",
    # lib/manager/manager.go, lib/manager/container.go
    "allow_dynamic_housekeeping": "bool",
    "application_metrics_count_limit": "int",
    "event_storage_age_limit": "string",
    "event_storage_event_limit": "string",
    "global_housekeeping_interval": "duration",
    "log_cadvisor_usage": "bool",
    "max_housekeeping_interval": "duration",
    "update_machine_info_interval": "duration",
    "enable_load_reader": "bool",
    "housekeeping_interval": "duration",
    "initial_splay_factor": "float",
    "jitter_factor": "float",
    # lib/machine/info.go, lib/container/*, container/*
    "boot_id_file": "string",
    "machine_id_file": "string",
    "container_hints": "string",
    "containerd": "string",
    "containerd-namespace": "string",
    "containerd_env_metadata_whitelist": "string",
    "crio_client_timeout": "duration",
    "disable_root_cgroup_stats": "bool",
    "docker_only": "bool",
    "referenced_reset_interval": "uint64",
    "docker": "string",
    "docker-tls": "bool",
    "docker-tls-ca": "string",
    "docker-tls-cert": "string",
    "docker-tls-key": "string",
    "docker_env_metadata_whitelist": "string",
    "docker_root": "string",
    "podman": "string",
    # k8s.io/klog/v2 v2.130.1 klog.go init()
    "log_dir": "string",
    "log_file": "string",
    "log_file_max_size": "uint64",
    "logtostderr": "bool",
    "alsologtostderr": "bool",
    "v": "klog_level",
    "add_dir_header": "bool",
    "skip_headers": "bool",
    "one_output": "bool",
    "skip_log_headers": "bool",
    "stderrthreshold": "klog_severity",
    "vmodule": "klog_vmodule",
    "log_backtrace_at": "klog_trace",
}

DEFAULTS: dict[str, Any] = {
    "listen_ip": "",
    "port": 8080,
    "prometheus_endpoint": "/metrics",
    "store_container_labels": True,
    "whitelisted_container_labels": "",
    "housekeeping_interval": 1.0,
    "enable_metrics": frozenset(),
    "disable_metrics": DEFAULT_IGNORED,
    "version": False,
    "url_base_prefix": "",
}


class FlagError(Exception):
    """A command line Go's flag package refuses (exit status 2)."""


class HelpRequested(Exception):  # noqa: N818 - Go's flag.ErrHelp
    """-h / -help (exit status 0, after the usage)."""


_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_go_duration(value: str) -> float:
    """time.ParseDuration (Go): seconds, or ValueError."""
    text = value
    sign = 1.0
    if text[:1] in "+-" and text:
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return 0.0
    if not text:
        raise ValueError(value)
    total = 0.0
    pattern = re.compile(r"(\d*\.?\d*)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
    pos = 0
    while pos < len(text):
        found = pattern.match(text, pos)
        if not found or found.group(1) in ("", "."):
            raise ValueError(value)
        total += float(found.group(1)) * _DURATION_UNITS[found.group(2)]
        pos = found.end()
    return sign * total


def _parse_go_int(value: str, bits: int, unsigned: bool) -> int:
    """strconv.ParseInt/ParseUint with base 0: 0x/0o/0b prefixes, a leading 0
    for octal, underscores between digits."""
    text = value
    negative = text.startswith("-")
    if text[:1] in "+-":
        if unsigned:
            raise ValueError(value)
        text = text[1:]
    if re.fullmatch(r"0[0-7_]+", text):
        text = "0o" + text[1:]
    number = int(text, 0)  # ValueError on anything else
    number = -number if negative else number
    low, high = (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if not low <= number <= high:
        raise OverflowError(value)
    return number


def _parse_go_float(value: str) -> float:
    """strconv.ParseFloat: decimal or hex, inf/nan, underscores only with a base prefix."""
    if value != value.strip() or ("_" in value and not re.match(r"[+-]?0[xX]", value)):
        raise ValueError(value)
    if re.match(r"[+-]?0[xX]", value):
        return float.fromhex(value.replace("_", ""))
    return float(value)


def _parse_go_bool(value: str) -> bool:
    """strconv.ParseBool."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(value)


def parse_metric_set(value: str) -> frozenset[str]:
    """container.MetricSet.Set (lib/container/factory.go)."""
    if value == "":
        return frozenset()
    chosen = set()
    for metric in value.split(","):
        if metric not in ALL_METRICS:
            raise FlagError(f"unsupported metric {_go_quote(metric)} specified")
        chosen.add(metric)
    return frozenset(chosen)


def _klog_severity(value: str) -> str:
    if value.upper() in ("INFO", "WARNING", "ERROR", "FATAL"):
        return value.upper()
    number = int(value)  # strconv.ParseInt(value, 10, 32)
    if not 0 <= number <= 3:
        raise FlagError("unknown severity")
    return str(number)


def _convert(name: str, kind: str, value: str) -> Any:
    """flag.Value.Set for each kind; the error text Go's flag package prints."""
    try:
        if kind == "string":
            return value
        if kind == "int":
            return _parse_go_int(value, 64, unsigned=False)
        if kind == "uint64":
            return _parse_go_int(value, 64, unsigned=True)
        if kind == "float":
            return _parse_go_float(value)
        if kind == "duration":
            return parse_go_duration(value)
        if kind == "metrics":
            return parse_metric_set(value)
        if kind == "klog_level":
            if not re.fullmatch(r"[+-]?\d+", value):
                raise FlagError(f"strconv.ParseInt: parsing {_go_quote(value)}: invalid syntax")
            return int(value, 10)
        if kind == "klog_severity":
            return _klog_severity(value)
        if kind == "klog_vmodule":
            for part in value.split(",") if value else []:
                pattern, _, level = part.partition("=")
                if not pattern or not level.isdigit():
                    raise FlagError("syntax error: expect comma-separated list of filename=N")
            return value
        if kind == "klog_trace":
            if value and not re.fullmatch(r"[^:]+:\d+", value):
                raise FlagError("syntax error: expect file.go:234")
            return value
    except FlagError as exc:
        raise FlagError(f"invalid value {_go_quote(value)} for flag -{name}: {exc}") from exc
    except OverflowError as exc:
        raise FlagError(
            f"invalid value {_go_quote(value)} for flag -{name}: value out of range"
        ) from exc
    except ValueError as exc:
        raise FlagError(f"invalid value {_go_quote(value)} for flag -{name}: parse error") from exc
    raise AssertionError(kind)


def _go_quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def parse_flags(argv: Sequence[str]) -> dict[str, Any]:
    """Go's flag.FlagSet.Parse over cAdvisor's flag set (flag/flag.go parseOne)."""
    values = dict(DEFAULTS)
    args = list(argv)
    while args:
        arg = args[0]
        if len(arg) < 2 or arg[0] != "-":
            break  # the first non-flag argument ends the flags; cAdvisor ignores the rest
        minuses = 1
        if arg[1] == "-":
            minuses = 2
            if len(arg) == 2:  # "--" terminates the flags
                break
        name = arg[minuses:]
        if not name or name[0] in "-=":
            raise FlagError(f"bad flag syntax: {arg}")
        args = args[1:]
        has_value, value = False, ""
        if "=" in name[1:]:
            index = name.index("=", 1)
            name, value, has_value = name[:index], name[index + 1 :], True
        kind = FLAG_TYPES.get(name)
        if kind is None:
            if name in ("help", "h"):
                raise HelpRequested
            raise FlagError(f"flag provided but not defined: -{name}")
        if kind == "bool":
            if has_value:
                try:
                    values[name] = _parse_go_bool(value)
                except ValueError as exc:
                    raise FlagError(
                        f"invalid boolean value {_go_quote(value)} for -{name}: parse error"
                    ) from exc
            else:
                values[name] = True
            continue
        if not has_value and args:
            has_value, value, args = True, args[0], args[1:]
        if not has_value:
            raise FlagError(f"flag needs an argument: -{name}")
        values[name] = _convert(name, kind, value)
    return values


def included_metrics(values: dict[str, Any]) -> frozenset[str]:
    """cmd/cadvisor.go main(): enable_metrics wins when set, else All - disable_metrics."""
    enabled: frozenset[str] = values["enable_metrics"]
    if enabled:
        return enabled
    return ALL_METRICS - values["disable_metrics"]


# --------------------------------------------------------------------------- samples


@dataclass
class Interface:
    name: str
    rx_bytes: int = 0
    rx_packets: int = 0
    rx_errors: int = 0
    rx_dropped: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0
    tx_errors: int = 0
    tx_dropped: int = 0


@dataclass
class Container:
    """What cAdvisor's ContainerInfo holds for one cgroup, reduced to what the
    double exports (lib/model/container.go)."""

    id: str
    aliases: list[str] = field(default_factory=list)
    image: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    envs: dict[str, str] = field(default_factory=dict)
    creation_time: float = 0.0
    start_time: float = 0.0
    has_memory: bool = False
    memory_limit: int = 0
    timestamp: float = 0.0
    cpu_total_ns: int | None = None
    memory_usage: int | None = None
    working_set: int | None = None
    interfaces: list[Interface] | None = None
    oom_events: int = 0
    health: str = ""


@dataclass
class VersionInfo:
    kernel: str = ""
    os: str = "TEST DOUBLE"
    docker: str = ""
    cadvisor: str = VERSION
    revision: str = REVISION


# --------------------------------------------------------------------------- exposition


def go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64), as client_golang's text format writes
    values: shortest digits, %e when the exponent is < -4 or >= 6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(str(d) for d in digit_tuple)
    point = len(digits) + exponent  # Go's digs.dp
    exp = point - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{prefix}{digits}{'0' * (point - len(digits))}"
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def sanitize_label_name(name: str) -> str:
    """lib/metrics/prometheus.go sanitizeLabelName."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


LabelFunc = Callable[[Container], dict[str, str]]


def default_container_labels(container: Container) -> dict[str, str]:
    """lib/metrics/prometheus.go DefaultContainerLabels."""
    labels = {"id": container.id}
    if container.aliases:
        labels["name"] = container.aliases[0]
    if container.image:
        labels["image"] = container.image
    for key, value in container.labels.items():
        labels["container_label_" + key] = value
    for key, value in container.envs.items():
        labels["container_env_" + key] = value
    return labels


def base_container_labels(whitelist: Iterable[str]) -> LabelFunc:
    """lib/metrics/prometheus.go BaseContainerLabels (store_container_labels=false)."""
    allowed = set(whitelist)

    def labels_of(container: Container) -> dict[str, str]:
        labels = {"id": container.id}
        if container.aliases:
            labels["name"] = container.aliases[0]
        if container.image:
            labels["image"] = container.image
        for key, value in container.labels.items():
            if key in allowed:
                labels["container_label_" + key] = value
        for key, value in container.envs.items():
            labels["container_env_" + key] = value
        return labels

    return labels_of


@dataclass
class Sample:
    labels: dict[str, str]
    value: float
    timestamp_ms: int | None = None


@dataclass
class Family:
    name: str
    help: str
    type: str
    samples: list[Sample] = field(default_factory=list)


@dataclass
class ContainerMetric:
    """lib/metrics/prometheus.go containerMetric: name, help, type, extra labels, values."""

    name: str
    help: str
    type: str
    extra_labels: tuple[str, ...]
    values: Callable[[Container], list[tuple[float, tuple[str, ...]]]]


def _interfaces(attr: str) -> Callable[[Container], list[tuple[float, tuple[str, ...]]]]:
    def values(c: Container) -> list[tuple[float, tuple[str, ...]]]:
        if c.interfaces is None:
            return []
        return [(float(getattr(i, attr)), (i.name,)) for i in c.interfaces]

    return values


def _cpu_total(c: Container) -> list[tuple[float, tuple[str, ...]]]:
    # No per-CPU usage without the percpu group: one "total" series when > 0.
    if c.cpu_total_ns is None or c.cpu_total_ns <= 0:
        return []
    return [(c.cpu_total_ns / 1e9, ("total",))]


def _health(c: Container) -> list[tuple[float, tuple[str, ...]]]:
    # getContainerHealthState: healthy 1, no health check -1, starting/unhealthy 0.
    return [({"healthy": 1.0, "": -1.0}.get(c.health, 0.0), ())]


def container_metrics(included: frozenset[str], now: float) -> list[ContainerMetric]:
    """The subset of NewPrometheusCollector's containerMetrics the double exports."""
    metrics = [
        ContainerMetric(
            "container_last_seen",
            "Last time a container was seen by the exporter",
            "gauge",
            (),
            lambda _c: [(float(int(now)), ())],
        ),
        ContainerMetric(
            "container_health_state",
            "The result of the container's health check",
            "gauge",
            (),
            _health,
        ),
    ]
    if "cpu" in included:
        metrics.append(
            ContainerMetric(
                "container_cpu_usage_seconds_total",
                "Cumulative cpu time consumed in seconds.",
                "counter",
                ("cpu",),
                _cpu_total,
            )
        )
    if "memory" in included:
        metrics += [
            ContainerMetric(
                "container_memory_usage_bytes",
                "Current memory usage in bytes, including all memory regardless of when it "
                "was accessed",
                "gauge",
                (),
                lambda c: [] if c.memory_usage is None else [(float(c.memory_usage), ())],
            ),
            ContainerMetric(
                "container_memory_working_set_bytes",
                "Current working set in bytes.",
                "gauge",
                (),
                lambda c: [] if c.working_set is None else [(float(c.working_set), ())],
            ),
        ]
    if "network" in included:
        for name, help_text, attr in (
            (
                "container_network_receive_bytes_total",
                "Cumulative count of bytes received",
                "rx_bytes",
            ),
            (
                "container_network_receive_packets_total",
                "Cumulative count of packets received",
                "rx_packets",
            ),
            (
                "container_network_receive_packets_dropped_total",
                "Cumulative count of packets dropped while receiving",
                "rx_dropped",
            ),
            (
                "container_network_receive_errors_total",
                "Cumulative count of errors encountered while receiving",
                "rx_errors",
            ),
            (
                "container_network_transmit_bytes_total",
                "Cumulative count of bytes transmitted",
                "tx_bytes",
            ),
            (
                "container_network_transmit_packets_total",
                "Cumulative count of packets transmitted",
                "tx_packets",
            ),
            (
                "container_network_transmit_packets_dropped_total",
                "Cumulative count of packets dropped while transmitting",
                "tx_dropped",
            ),
            (
                "container_network_transmit_errors_total",
                "Cumulative count of errors encountered while transmitting",
                "tx_errors",
            ),
        ):
            metrics.append(
                ContainerMetric(name, help_text, "counter", ("interface",), _interfaces(attr))
            )
    if "oom_event" in included:
        metrics.append(
            ContainerMetric(
                "container_oom_events_total",
                "Count of out of memory events observed for the container",
                "counter",
                (),
                lambda c: [(float(c.oom_events), ())],
            )
        )
    return metrics


MAX_MEMORY_SIZE = 1 << 62


def collect(
    containers: Sequence[Container] | None,
    version: VersionInfo | None,
    included: frozenset[str],
    label_func: LabelFunc,
    now: float,
) -> list[Family]:
    """PrometheusCollector.Collect: version info, every container, container_scrape_error.
    ``containers`` or ``version`` None: that part failed (scrape error 1)."""
    families: dict[str, Family] = {}
    error = 0

    def add(name: str, help_text: str, kind: str, sample: Sample) -> None:
        families.setdefault(name, Family(name, help_text, kind)).samples.append(sample)

    if version is None:
        error = 1
    else:
        add(
            "cadvisor_version_info",
            "A metric with a constant '1' value labeled by kernel version, OS version, "
            "docker version, cadvisor version & cadvisor revision.",
            "gauge",
            Sample(
                {
                    "kernelVersion": version.kernel,
                    "osVersion": version.os,
                    "dockerVersion": version.docker,
                    "cadvisorVersion": version.cadvisor,
                    "cadvisorRevision": version.revision,
                },
                1.0,
            ),
        )
    if containers is None:
        error = 1
        containers = []
    raw_labels: list[str] = sorted({key for c in containers for key in label_func(c)})
    metrics = container_metrics(included, now)
    for container in containers:
        own = label_func(container)
        base: dict[str, str] = {}
        for key in raw_labels:
            sanitized = sanitize_label_name(key)
            if sanitized not in base:
                base[sanitized] = own.get(key, "")
        add(
            "container_creation_time_seconds",
            "Container creation time since unix epoch in seconds.",
            "gauge",
            Sample(dict(base), float(int(container.creation_time))),
        )
        start = container.start_time or container.creation_time
        add(
            "container_start_time_seconds",
            "Start time of the container since unix epoch in seconds.",
            "gauge",
            Sample(dict(base), float(int(start))),
        )
        if container.has_memory:
            limit = container.memory_limit
            add(
                "container_spec_memory_limit_bytes",
                "Memory limit for the container.",
                "gauge",
                Sample(dict(base), 0.0 if limit > MAX_MEMORY_SIZE else float(limit)),
            )
        for metric in metrics:
            stamp = now if metric.name == "container_last_seen" else container.timestamp
            for value, extra in metric.values(container):
                labels = dict(base)
                labels.update(zip(metric.extra_labels, extra, strict=True))
                add(metric.name, metric.help, metric.type, Sample(labels, value, int(stamp * 1000)))
    add(
        "container_scrape_error",
        "1 if there was an error while getting container metrics, 0 otherwise",
        "gauge",
        Sample({}, float(error)),
    )
    return [families[name] for name in sorted(families)]


def exposition(families: Iterable[Family]) -> str:
    """expfmt.MetricFamilyToText: HELP, TYPE, then the samples sorted by label values."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")

        def order(sample: Sample) -> tuple[list[str], int]:
            return [sample.labels[k] for k in sorted(sample.labels)], sample.timestamp_ms or 0

        for sample in sorted(family.samples, key=order):
            pairs = ",".join(
                f'{k}="{_escape_label(sample.labels[k])}"' for k in sorted(sample.labels)
            )
            text = family.name + (f"{{{pairs}}}" if pairs else "") + " " + go_float(sample.value)
            if sample.timestamp_ms is not None:
                text += f" {sample.timestamp_ms}"
            lines.append(text)
    return "\n".join(lines) + "\n" if lines else ""


def negotiate(accept: str) -> str:
    """prometheus/common v0.64.0 expfmt.Negotiate for the text format: the
    escaping scheme the scraper asks for, underscores by default."""
    escaping = "underscores"
    entries = []
    for index, part in enumerate(accept.split(",")):
        pieces = [p.strip() for p in part.split(";")]
        params = {}
        quality = 1.0
        for piece in pieces[1:]:
            key, _, val = piece.partition("=")
            if key.strip() == "q":
                with contextlib.suppress(ValueError):
                    quality = float(val)
            else:
                params[key.strip()] = val.strip()
        entries.append((-quality, index, pieces[0].lower(), params))
    for _q, _i, _media, params in sorted(entries):
        if params.get("escaping") in ("allow-utf-8", "underscores", "dots", "values"):
            escaping = params["escaping"]
    return f"text/plain; version=0.0.4; charset=utf-8; escaping={escaping}"


# --------------------------------------------------------------------------- Docker


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self._path)


def docker_get(path: str) -> Any:
    conn = _UnixConnection(DOCKER_SOCKET)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return json.loads(response.read())
    finally:
        conn.close()


def _timestamp(value: str) -> float:
    # Docker reports nanoseconds; fromisoformat takes at most microseconds.
    trimmed = value.rstrip("Z").split(".")[0]
    return datetime.fromisoformat(trimmed + "+00:00").timestamp()


# lib/container/libcontainer/handler.go ignoredDevicePrefixes
IGNORED_DEVICE_PREFIXES = ("lo", "veth", "docker", "nerdctl")


def _ignored(name: str) -> bool:
    return name.lower().startswith(IGNORED_DEVICE_PREFIXES)


def read_net_dev(path: Path) -> list[Interface] | None:
    """scanInterfaceStats (lib/container/libcontainer/handler.go)."""
    try:
        lines = path.read_text().splitlines()[2:]
    except OSError:
        return None
    found = []
    for line in lines:
        fields = line.replace(":", " ").split()
        if len(fields) != 17:
            return None
        if _ignored(fields[0]):
            continue
        numbers = [int(x) for x in fields[1:5] + fields[9:13]]
        found.append(Interface(fields[0], *numbers))
    return found


def _boot_time() -> float:
    for stat in (ROOTFS / "proc" / "stat", Path("/proc/stat")):
        with contextlib.suppress(OSError, ValueError):
            for line in stat.read_text().splitlines():
                if line.startswith("btime "):
                    return float(line.split()[1])
    return 0.0


def root_container(now: float) -> Container:
    """The root cgroup "/" (raw handler, pid 1): network from <rootfs>/proc/1/net/dev."""
    interfaces = read_net_dev(ROOTFS / "proc" / "1" / "net" / "dev")
    if interfaces is None:
        interfaces = read_net_dev(Path("/proc/net/dev"))
    boot = _boot_time()
    return Container(id="/", creation_time=boot, timestamp=now, interfaces=interfaces)


def _cgroup_name(cid: str, driver: str) -> str:
    if driver == "systemd":
        return f"/system.slice/docker-{cid}.scope"
    return f"/docker/{cid}"


def docker_container(cid: str, driver: str) -> Container | None:
    """container/docker/handler.go: name, aliases, image, labels, times, health;
    libcontainer's stats read through the engine's stats API."""
    info = docker_get(f"/containers/{cid}/json")
    if "Name" not in info:  # removed since the list was read: no series, like cAdvisor
        return None
    stats = docker_get(f"/containers/{cid}/stats?stream=false&one-shot=true")
    name = info["Name"].lstrip("/")
    labels = dict(info["Config"].get("Labels") or {})
    if info.get("RestartCount", 0) > 0:
        labels["restartcount"] = str(info["RestartCount"])
    memory = stats.get("memory_stats", {})
    usage = memory.get("usage")
    inner = memory.get("stats", {})
    inactive = inner.get("total_inactive_file", inner.get("inactive_file"))
    working_set = None
    if usage is not None:
        working_set = usage if inactive is None else max(usage - inactive, 0)
    networks = stats.get("networks")
    interfaces = None
    if networks is not None:
        interfaces = [
            Interface(
                nic,
                n.get("rx_bytes", 0),
                n.get("rx_packets", 0),
                n.get("rx_errors", 0),
                n.get("rx_dropped", 0),
                n.get("tx_bytes", 0),
                n.get("tx_packets", 0),
                n.get("tx_errors", 0),
                n.get("tx_dropped", 0),
            )
            for nic, n in sorted(networks.items())
            if not _ignored(nic)
        ]
    state = info.get("State", {})
    started = state.get("StartedAt", "")
    start_time = _timestamp(started) if started and not started.startswith("0001") else 0.0
    return Container(
        id=_cgroup_name(cid, driver),
        aliases=[name, cid],
        image=info["Config"].get("Image", ""),
        labels=labels,
        creation_time=_timestamp(info["Created"]),
        start_time=max(start_time, 0.0),
        has_memory=True,
        memory_limit=int(info.get("HostConfig", {}).get("Memory") or 0),
        timestamp=time.time(),
        cpu_total_ns=stats.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage"),
        memory_usage=usage,
        working_set=working_set,
        interfaces=interfaces,
        oom_events=1 if state.get("OOMKilled") else 0,
        health=(state.get("Health") or {}).get("Status", ""),
    )


def sample_docker() -> tuple[list[Container], VersionInfo]:
    """One sample of the root cgroup and every running container, the engine asked in parallel."""
    engine = docker_get("/info")
    driver = engine.get("CgroupDriver", "cgroupfs")
    version = VersionInfo(kernel=os.uname().release, docker=engine.get("ServerVersion", ""))
    ids = [summary["Id"] for summary in docker_get("/containers/json")]
    with ThreadPoolExecutor(max_workers=16) as pool:
        found = list(pool.map(lambda cid: docker_container(cid, driver), ids))
    return [root_container(time.time()), *[c for c in found if c is not None]], version


class Housekeeping:
    """The latest sample, refreshed every ``interval`` seconds by a daemon thread."""

    def __init__(self, interval: float, sampler: Callable[[], Any] = sample_docker) -> None:
        self.interval = interval
        self.sampler = sampler
        self._lock = threading.Lock()
        self._sample: tuple[list[Container], VersionInfo] | None = None
        self._sampled = False

    def refresh(self) -> None:
        try:
            sample = self.sampler()
        except (OSError, KeyError, ValueError, TypeError, AttributeError) as exc:
            # The engine unreachable or an answer the double cannot read: a scrape error.
            print(json.dumps({"double": "cadvisor", "error": repr(exc)}), flush=True)
            sample = None
        with self._lock:
            self._sample, self._sampled = sample, True

    def loop(self) -> None:
        while True:
            self.refresh()
            time.sleep(self.interval)

    def latest(self) -> tuple[list[Container], VersionInfo] | None:
        with self._lock:
            sampled = self._sampled
        if not sampled:  # scraped before the first sample
            self.refresh()
        with self._lock:
            return self._sample


# --------------------------------------------------------------------------- HTTP

# The pages and API cAdvisor serves that the project never calls: the double
# does not implement them (README: "what remains different").
UNIMPLEMENTED_PREFIXES = ("/api/", "/containers/", "/docker/", "/podman/", "/static/", "/validate/")


def request_options_error(query: str) -> str | None:
    """cmd/internal/api/versions.go GetRequestOptions: the errors it returns."""
    params = parse_qs(query, keep_blank_values=True)
    id_type = params.get("type", [""])[0]
    if id_type and id_type not in ("name", "docker", "podman"):
        return f"unknown 'type' {_go_quote(id_type)}"
    count = params.get("count", [""])[0]
    if count:
        try:
            number = int(count)
        except ValueError:
            return f"failed to parse 'count' option: {count}"
        if number < -1:
            return f"invalid 'count' option: only -1 and larger values allowed, not {number}"
    max_age = params.get("max_age", [""])[0]
    if max_age:
        try:
            parse_go_duration(max_age)
        except ValueError:
            return f"failed to parse 'max_age' option: time: invalid duration {_go_quote(max_age)}"
    return None


class Handler(BaseHTTPRequestHandler):
    server_version = "cadvisor-test-double/1"
    housekeeping: Housekeeping
    included: frozenset[str] = ALL_METRICS - DEFAULT_IGNORED
    label_func: LabelFunc = staticmethod(default_container_labels)  # type: ignore[assignment]
    endpoint = "/metrics"

    def log_message(self, fmt: str, *args: Any) -> None:
        print(json.dumps({"double": "cadvisor", "request": fmt % args}), flush=True)

    def _send(
        self, code: int, body: bytes, ctype: str | None, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _http_error(self, code: int, text: str) -> None:
        """Go's http.Error."""
        self._send(
            code,
            (text + "\n").encode(),
            "text/plain; charset=utf-8",
            {"X-Content-Type-Options": "nosniff"},
        )

    def _dispatch(self) -> None:
        # Go's ServeMux: handlers registered without a method answer every method.
        parts = urlsplit(self.path)
        path = parts.path
        if path == "/healthz":
            self._send(200, b"ok", "text/plain; charset=utf-8")
        elif path == self.endpoint:
            self._metrics(parts.query)
        elif path.startswith(UNIMPLEMENTED_PREFIXES) or path in (
            "/containers",
            "/docker",
            "/podman",
        ):
            self._http_error(404, "TEST DOUBLE for cAdvisor: not implemented")
        else:
            # http.RedirectHandler("/containers/", 307): an HTML body for GET and HEAD.
            body = b""
            ctype = None
            if self.command in ("GET", "HEAD"):
                body, ctype = (
                    b'<a href="/containers/">Temporary Redirect</a>.\n\n',
                    "text/html; charset=utf-8",
                )
            self._send(307, body, ctype, {"Location": "/containers/"})

    def _metrics(self, query: str) -> None:
        problem = request_options_error(query)
        if problem:
            self._http_error(500, "No metrics gathered, last error:\n\n" + problem)
            return
        sample = self.housekeeping.latest()
        containers, version = sample if sample else (None, None)
        families = collect(containers, version, self.included, self.label_func, time.time())
        self._send(200, exposition(families).encode(), negotiate(self.headers.get("Accept", "")))

    # BaseHTTPRequestHandler calls do_<METHOD>; every method goes through the
    # one dispatcher, which answers each as the real server does.
    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch  # noqa: N815


def serve(values: dict[str, Any]) -> None:
    Handler.housekeeping = Housekeeping(interval=max(values["housekeeping_interval"], 0.1))
    Handler.included = included_metrics(values)
    Handler.endpoint = values["prometheus_endpoint"]
    if values["store_container_labels"]:
        Handler.label_func = staticmethod(default_container_labels)  # type: ignore[assignment]
    else:
        whitelist = [w.strip() for w in values["whitelisted_container_labels"].split(",")]
        Handler.label_func = staticmethod(base_container_labels(whitelist))  # type: ignore[assignment]
    threading.Thread(target=Handler.housekeeping.loop, name="housekeeping", daemon=True).start()
    print(
        json.dumps(
            {
                "double": "cadvisor",
                "msg": "TEST DOUBLE for cAdvisor listening",
                "port": values["port"],
                "enabled_metrics": sorted(Handler.included),
            }
        ),
        flush=True,
    )
    ThreadingHTTPServer((values["listen_ip"], values["port"]), Handler).serve_forever()


USAGE = "Usage of cadvisor (TEST DOUBLE):\n  see https://github.com/google/cadvisor/blob/v0.60.5/docs/runtime_options.md\n"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        values = parse_flags(sys.argv[1:] if argv is None else argv)
    except HelpRequested:
        sys.stderr.write(USAGE)
        return 0
    except FlagError as exc:
        sys.stderr.write(f"{exc}\n{USAGE}")
        return 2
    if values["version"]:
        print(f"cAdvisor version {VERSION} ({REVISION})")
        return 0
    serve(values)
    return 0


if __name__ == "__main__":
    sys.exit(main())
