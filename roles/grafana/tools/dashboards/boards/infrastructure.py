"""Infrastructure: the host and its containers, from Prometheus.

The host through node-exporter (CPU, memory, disks, network, temperature), the
containers through cAdvisor (CPU, memory against limits, network, restarts),
and whether every scrape target is up: the first place to look when the
market dashboards go quiet.
"""

from __future__ import annotations

from typing import Any

from ..chrome import header, section
from ..fields import field_defaults, override, palette_defaults, thresholds
from ..frame import dashboard
from ..layout import Board
from ..panels import bargauge, stat, table, timeseries
from ..style import AMBER, DOWN, UP
from ..targets import prom_target
from ..variables import var_prom
from ..widgets import status_stat

INST = 'instance=~"$instance"'
CTR = 'name=~"$container"'
# The host's interfaces, from cAdvisor's root container (id="/"): node-exporter
# runs in its own network namespace, so its netdev collector is off (see the
# node_exporter role) rather than reporting that namespace's eth0.
NIC = 'job="cadvisor", id="/", interface!~"lo|veth.*|docker.*|br-.*"'
# Green, amber from 70 %, red from 90 %: for anything used against a capacity.
PCT_TH = thresholds((None, UP), (70, AMBER), (90, DOWN))


def build() -> dict[str, Any]:
    """The infrastructure dashboard."""
    b = Board()
    b.add(header("infra", "host (node-exporter) and containers (cAdvisor)"), 24, 3)
    b.add(section("Host"), 24, 1)
    add_host_stats(b)
    add_host_charts(b)
    add_disks_and_network(b)
    b.add(temperature_chart(), 24, 6)
    b.add(section("Containers"), 24, 1)
    add_containers(b)
    b.add(uptime_and_restarts(), 8, 9)
    b.add(section("Scrape targets"), 24, 1)
    b.add(
        status_stat(
            "Targets up", [prom_target("up", "{{job}} {{instance}}", instant=True)], "DOWN", "UP"
        ),
        24,
        5,
    )
    variables = [
        var_prom("instance", "Host", "label_values(node_uname_info, instance)"),
        var_prom(
            "container",
            "Container",
            "label_values(container_last_seen, name)",
            regex="/^bloomberg-.+/",
        ),
    ]
    return dashboard(
        "infra",
        ["infrastructure"],
        b,
        variables,
        time_from="now-6h",
        description="Host (node-exporter) and containers (cAdvisor), from Prometheus.",
    )


def add_host_stats(b: Board) -> None:
    """The row of host figures: CPU, memory, root disk, load, swap, uptime."""
    cpu = f'100 * (1 - avg(rate(node_cpu_seconds_total{{mode="idle", {INST}}}[$__rate_interval])))'
    memory = f"100 * (1 - sum(node_memory_MemAvailable_bytes{{{INST}}}) / sum(node_memory_MemTotal_bytes{{{INST}}}))"
    root = f'{INST}, mountpoint="/"'
    disk = f"100 * (1 - sum(node_filesystem_avail_bytes{{{root}}}) / sum(node_filesystem_size_bytes{{{root}}}))"
    swap = f"sum(node_memory_SwapTotal_bytes{{{INST}}} - node_memory_SwapFree_bytes{{{INST}}})"
    uptime = f"min(node_time_seconds{{{INST}}} - node_boot_time_seconds{{{INST}}})"
    used = field_defaults(unit="percent", decimals=1, th=PCT_TH)
    for title, expr, defaults, graph in (
        ("CPU", cpu, used, "area"),
        ("MEMORY", memory, used, "area"),
        ("DISK /", disk, used, "none"),
        ("LOAD 1M", f"max(node_load1{{{INST}}})", field_defaults(decimals=2), "none"),
        ("SWAP USED", swap, field_defaults(unit="bytes", decimals=1), "none"),
        ("UPTIME", uptime, field_defaults(unit="s", decimals=0), "none"),
    ):
        b.add(stat(title, [prom_target(expr)], defaults, graph=graph), 4, 4)


def add_host_charts(b: Board) -> None:
    """CPU by mode, load average, memory, filesystems used."""
    b.add(
        timeseries(
            "CPU by mode",
            [
                prom_target(
                    f'sum by (mode) (rate(node_cpu_seconds_total{{mode!="idle", {INST}}}[$__rate_interval])) / scalar(count(count by (cpu) (node_cpu_seconds_total{{{INST}}})))',
                    "{{mode}}",
                )
            ],
            palette_defaults("percentunit"),
            stack=True,
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Load average",
            [
                prom_target(f"node_load1{{{INST}}}", "1m", "A"),
                prom_target(f"node_load5{{{INST}}}", "5m", "B"),
                prom_target(f"node_load15{{{INST}}}", "15m", "C"),
            ],
            palette_defaults(decimals=2),
        ),
        12,
        8,
    )
    b.add(memory_chart(), 12, 8)
    fs = f'{INST}, fstype!~"tmpfs|overlay|squashfs|nsfs"'
    b.add(
        bargauge(
            "Filesystems used",
            [
                prom_target(
                    f"100 * (1 - node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}})",
                    "{{mountpoint}}",
                    instant=True,
                )
            ],
            field_defaults(unit="percent", decimals=1, min=0, max=100, th=PCT_TH),
        ),
        12,
        8,
    )


def memory_chart() -> dict[str, Any]:
    """Memory used and available, and swap used."""
    return timeseries(
        "Memory",
        [
            prom_target(
                f"node_memory_MemTotal_bytes{{{INST}}} - node_memory_MemAvailable_bytes{{{INST}}}",
                "used",
                "A",
            ),
            prom_target(f"node_memory_MemAvailable_bytes{{{INST}}}", "available", "B"),
            prom_target(
                f"node_memory_SwapTotal_bytes{{{INST}}} - node_memory_SwapFree_bytes{{{INST}}}",
                "swap used",
                "C",
            ),
        ],
        palette_defaults("bytes"),
    )


def add_disks_and_network(b: Board) -> None:
    """Disk throughput, disk latency and busy time, host network: three charts in a row."""
    b.add(
        timeseries(
            "Disk I/O",
            [
                prom_target(
                    f"sum by (device) (rate(node_disk_read_bytes_total{{{INST}}}[$__rate_interval]))",
                    "{{device}} read",
                    "A",
                ),
                prom_target(
                    f"-sum by (device) (rate(node_disk_written_bytes_total{{{INST}}}[$__rate_interval]))",
                    "{{device}} write",
                    "B",
                ),
            ],
            palette_defaults("Bps"),
            description="Reads up, writes down.",
        ),
        8,
        8,
    )
    b.add(disk_latency_chart(), 8, 8)
    b.add(network_chart(), 8, 8)


def disk_latency_chart() -> dict[str, Any]:
    """Mean read and write time per operation, and the share of time the disk was busy."""
    return timeseries(
        "Disk latency",
        [
            prom_target(
                f"rate(node_disk_read_time_seconds_total{{{INST}}}[$__rate_interval]) / rate(node_disk_reads_completed_total{{{INST}}}[$__rate_interval])",
                "{{device}} read",
                "A",
            ),
            prom_target(
                f"rate(node_disk_write_time_seconds_total{{{INST}}}[$__rate_interval]) / rate(node_disk_writes_completed_total{{{INST}}}[$__rate_interval])",
                "{{device}} write",
                "B",
            ),
            prom_target(
                f"rate(node_disk_io_time_seconds_total{{{INST}}}[$__rate_interval])",
                "{{device}} busy",
                "C",
            ),
        ],
        palette_defaults("s"),
        overrides=[override("byRegexp", "/busy/", {"unit": "percentunit"})],
    )


def network_chart() -> dict[str, Any]:
    """Host traffic per interface, in up and out down, with errors."""
    return timeseries(
        "Network",
        [
            prom_target(
                f"sum by (interface) (rate(container_network_receive_bytes_total{{{NIC}}}[$__rate_interval]))",
                "{{interface}} in",
                "A",
            ),
            prom_target(
                f"-sum by (interface) (rate(container_network_transmit_bytes_total{{{NIC}}}[$__rate_interval]))",
                "{{interface}} out",
                "B",
            ),
            prom_target(
                f"sum by (interface) (rate(container_network_receive_errors_total{{{NIC}}}[$__rate_interval]) + rate(container_network_transmit_errors_total{{{NIC}}}[$__rate_interval]))",
                "{{interface}} errors/s",
                "C",
            ),
        ],
        palette_defaults("Bps"),
        overrides=[override("byRegexp", "/errors/", {"unit": "short"})],
        description="In up, out down; errors on the same axis in packets/s.",
    )


def temperature_chart() -> dict[str, Any]:
    """Hardware sensors, where the host has any."""
    return timeseries(
        "Temperature",
        [
            prom_target(
                f"max by (chip, sensor) (node_hwmon_temp_celsius{{{INST}}})",
                "{{chip}} {{sensor}}",
            )
        ],
        palette_defaults("celsius"),
        description="Empty on most VPSs, which expose no hardware sensor.",
    )


def add_containers(b: Board) -> None:
    """CPU, memory, memory against the limit, and network per container."""
    b.add(
        timeseries(
            "CPU per container",
            [
                prom_target(
                    f"sum by (name) (rate(container_cpu_usage_seconds_total{{{CTR}}}[$__rate_interval]))",
                    "{{name}}",
                )
            ],
            palette_defaults("percentunit"),
            legend="table",
        ),
        12,
        9,
    )
    b.add(
        timeseries(
            "Memory per container",
            [
                prom_target(
                    f"sum by (name) (container_memory_working_set_bytes{{{CTR}}})", "{{name}}"
                )
            ],
            palette_defaults("bytes"),
            legend="table",
        ),
        12,
        9,
    )
    b.add(
        bargauge(
            "Memory vs limit",
            [
                prom_target(
                    f"100 * sum by (name) (container_memory_working_set_bytes{{{CTR}}}) / sum by (name) (container_spec_memory_limit_bytes{{{CTR}}} > 0)",
                    "{{name}}",
                    instant=True,
                )
            ],
            field_defaults(unit="percent", decimals=0, min=0, max=100, th=PCT_TH),
            description="Working set against the container's memory limit (the seed's per-container table).",
        ),
        8,
        9,
    )
    b.add(container_network_chart(), 8, 9)


def container_network_chart() -> dict[str, Any]:
    """Traffic per container, in up and out down."""
    return timeseries(
        "Network per container",
        [
            prom_target(
                f"sum by (name) (rate(container_network_receive_bytes_total{{{CTR}}}[$__rate_interval]))",
                "{{name}} in",
                "A",
            ),
            prom_target(
                f"-sum by (name) (rate(container_network_transmit_bytes_total{{{CTR}}}[$__rate_interval]))",
                "{{name}} out",
                "B",
            ),
        ],
        palette_defaults("Bps"),
    )


def uptime_and_restarts() -> dict[str, Any]:
    """Per container: time since start (A) and starts in the last hour (B), merged into rows."""
    targets = [
        prom_target(
            f"time() - max by (name) (container_start_time_seconds{{{CTR}}})",
            "",
            "A",
            instant=True,
            table=True,
        ),
        prom_target(
            f"sum by (name) (changes(container_start_time_seconds{{{CTR}}}[1h]))",
            "",
            "B",
            instant=True,
            table=True,
        ),
    ]
    columns = [
        override(
            "byName",
            "name",
            {
                "displayName": "CONTAINER",
                "color": {"mode": "fixed", "fixedColor": AMBER},
                "custom.cellOptions": {"type": "color-text"},
            },
        ),
        override("byName", "Value #A", {"displayName": "UPTIME", "unit": "s", "decimals": 0}),
        override(
            "byName",
            "Value #B",
            {
                "displayName": "RESTARTS 1H",
                "thresholds": thresholds((None, UP), (1, DOWN)),
                "color": {"mode": "thresholds"},
                "custom.cellOptions": {"type": "color-text"},
            },
        ),
    ]
    merge_by_container = [
        {"id": "merge", "options": {}},
        {
            "id": "organize",
            "options": {"excludeByName": {"Time": True}, "indexByName": {}, "renameByName": {}},
        },
    ]
    return table(
        "Uptime and restarts",
        targets,
        columns,
        transformations=merge_by_container,
        description="Restarts counted as changes of the container's start time over the last hour.",
    )
