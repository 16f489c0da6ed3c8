"""Helpers for the Grafana static tests: contracts, rendering, query parsers.

Nothing here needs Grafana. Templates are rendered by Ansible itself (the
venv's ansible-playbook, connection local, into a temporary folder) with the
role's defaults and vars, so the checks read exactly what a converge writes.

What the queries may read comes from the contracts:
- buckets: the seed's retention table (markets, markets_5min, markets_1h,
  news; the seed's infra bucket is not created), and the logged-in person's
  own bucket custom_${__user.login}, whose measurements, tags and fields are
  theirs: a query of it is checked for its shape (balance, a _measurement
  filter), not against the contracts;
- measurements, tags, fields: docs/contracts.md (parsed, see `influx_contract`);
- PostgreSQL views and columns: docs/contracts.md;
- PromQL metrics: node-exporter and cAdvisor names listed below, the bbdash_*
  names declared in files/feeders/src/bbdash (parsed), and the backup metrics
  the backup role's script writes for node-exporter's textfile collector (parsed).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from role_runner import REPO, render_templates

ROLE = REPO / "roles" / "grafana"
DASHBOARD_DIR = ROLE / "files" / "dashboards"
CONTRACTS = REPO / "docs" / "contracts.md"
FEEDERS_SRC = REPO / "files" / "feeders" / "src" / "bbdash"

# The seed's buckets (retention table + downsampling tasks).
BUCKETS = {"markets", "markets_5min", "markets_1h", "news"}
# The person's custom bucket (roles/influxdb, influxdb_custom_users), as Grafana names it.
CUSTOM_BUCKET = "custom_${__user.login}"
# Which buckets hold which measurement (downsampling keeps measurement and tags).
MEASUREMENT_BUCKETS = {
    "market_data": {"markets", "markets_5min", "markets_1h"},
    "news_articles": {"news"},
}
FLUX_BUILTIN_COLUMNS = {"_time", "_value", "_field", "_measurement", "_start", "_stop"}

# Core Grafana 12 panel types (no plugin needed).
CORE_PANELS = {
    "alertlist", "annolist", "barchart", "bargauge", "candlestick", "canvas", "dashlist",
    "flamegraph", "gauge", "geomap", "heatmap", "histogram", "logs", "news", "nodeGraph",
    "piechart", "row", "stat", "state-timeline", "status-history", "table", "text",
    "timeseries", "traces", "trend", "xychart",
}  # fmt: skip

# Metric names the Infrastructure dashboard may use.
NODE_EXPORTER_METRICS = {
    "node_boot_time_seconds", "node_cpu_seconds_total", "node_disk_io_time_seconds_total",
    "node_disk_read_bytes_total", "node_disk_read_time_seconds_total",
    "node_disk_reads_completed_total", "node_disk_write_time_seconds_total",
    "node_disk_writes_completed_total", "node_disk_written_bytes_total",
    "node_filesystem_avail_bytes", "node_filesystem_size_bytes", "node_hwmon_temp_celsius",
    "node_load1", "node_load5", "node_load15", "node_memory_MemAvailable_bytes",
    "node_memory_MemTotal_bytes", "node_memory_SwapFree_bytes", "node_memory_SwapTotal_bytes",
    "node_time_seconds", "node_uname_info",
}  # fmt: skip
# No node_network_*: the node_exporter role turns netdev off (node-exporter runs
# in its own network namespace); host traffic comes from cAdvisor's root container.
CADVISOR_METRICS = {
    "container_cpu_usage_seconds_total", "container_last_seen",
    "container_memory_working_set_bytes", "container_network_receive_bytes_total",
    "container_network_receive_errors_total", "container_network_transmit_bytes_total",
    "container_network_transmit_errors_total", "container_spec_memory_limit_bytes",
    "container_start_time_seconds",
}  # fmt: skip
PROMETHEUS_METRICS = {"up"}
# The backup role's script: it writes bbdash_backup_* for node-exporter.
BACKUP_SCRIPT = REPO / "roles" / "backup" / "files" / "bbdash-backup"


# Values the shared inventory gives (docker role, group_vars) and dummy vault values.
SHARED_VARS: dict[str, Any] = {
    "docker_network_name": "bloomberg-net",
    "bloomberg_base_dir": "/opt/bloomberg",
    "bloomberg_domain": "dashboard.example.org",
    "vault_grafana_admin_password": "test-admin-password-0123",
    "vault_grafana_secret_key": "test-secret-key-0123456789",
    "vault_grafana_influxdb_token": "test-influx-token",
    "vault_grafana_postgres_password": "test-pg-password",
    "vault_grafana_metrics_password": "",
}

# Rendering scenarios: name -> extra vars over the defaults.
SCENARIOS: dict[str, dict[str, Any]] = {
    "default": {},
    "offline": {"grafana_plugins_install": False},
    "sync_plugins": {"grafana_plugins_install_sync": True},
    "alerting_off": {
        "grafana_alerting_enabled": False,
        "grafana_alerting_direct_receivers": [
            {"uid": "direct-mail", "type": "email", "settings": {"addresses": "ops@example.org"}}
        ],
    },
    "direct": {
        "grafana_alerting_direct_enabled": True,
        "grafana_alerting_direct_receivers": [
            {"uid": "direct-mail", "type": "email", "settings": {"addresses": "ops@example.org"}}
        ],
        "vault_grafana_metrics_password": "metrics-secret",
    },
}

TEMPLATES = {
    "grafana.ini": "grafana.ini.j2",
    "datasources.yml": "provisioning/datasources.yml.j2",
    "dashboards.yml": "provisioning/dashboards.yml.j2",
    "alert-rules.yml": "provisioning/alert-rules.yml.j2",
    "contact-points.yml": "provisioning/contact-points.yml.j2",
    "policies.yml": "provisioning/policies.yml.j2",
}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def role_defaults() -> dict[str, Any]:
    return load_yaml(ROLE / "defaults" / "main.yml")


def role_vars() -> dict[str, Any]:
    return load_yaml(ROLE / "vars" / "main.yml")


@functools.lru_cache(maxsize=1)
def render_all() -> dict[str, dict[str, str]]:
    """Render every template in every scenario with ansible-playbook; {scenario: {name: text}}."""
    return render_templates(ROLE, TEMPLATES, SCENARIOS, SHARED_VARS)


def rendered_yaml(scenario: str, name: str) -> Any:
    return yaml.safe_load(render_all()[scenario][name])


# --------------------------------------------------------------------------- dashboards


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARD_DIR.glob("*.json"))


@functools.lru_cache(maxsize=1)
def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in dashboard_files()}


def iter_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


def iter_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from iter_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from iter_strings(value)


def _queries(
    board: dict[str, Any], ds_type: str, field: str, *, nested_var_query: bool = False
) -> list[tuple[str, str]]:
    """(where, query) for every query of one datasource type: panel targets, then variables.

    `field` is where a target keeps its query text; a variable keeps it in "query"
    (Prometheus variables possibly as {"query": text}: `nested_var_query`).
    """
    found = []
    for panel in iter_panels(board["panels"]):
        for target in panel.get("targets", []):
            ds = target.get("datasource") or panel.get("datasource") or {}
            if ds.get("type") == ds_type:
                found.append((f"panel {panel['id']} {panel.get('title', '')!r}", target[field]))
    for var in board["templating"]["list"]:
        if (var.get("datasource") or {}).get("type") == ds_type:
            query = var["query"]
            if nested_var_query and isinstance(query, dict):
                query = query["query"]
            found.append((f"variable {var['name']}", query))
    return found


def flux_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, flux) for every Flux text in a dashboard: panel targets and variables."""
    return _queries(board, "influxdb", "query")


def promql_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    return _queries(board, "prometheus", "expr", nested_var_query=True)


def sql_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    return _queries(board, "grafana-postgresql-datasource", "rawSql")


# Template variable references: $var, ${var}, ${var:format}, ${var.path}, [[var]].
VAR_REF = re.compile(
    r"\$\{([A-Za-z0-9_]+)(?:[.:][^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z0-9_]+)(?::[^\]]*)?\]\]"
)


def variable_refs(text: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in VAR_REF.finditer(text)}


# --------------------------------------------------------------------------- contracts


@functools.lru_cache(maxsize=1)
def influx_contract() -> dict[str, dict[str, set[str]]]:
    """{measurement: {"buckets", "tags", "fields"}} from docs/contracts.md."""
    text = CONTRACTS.read_text(encoding="utf-8")
    contract: dict[str, dict[str, set[str]]] = {}
    pattern = re.compile(
        r"Bucket `(?P<bucket>\w+)`, measurement `(?P<m>\w+)`:\s*tags (?P<tags>.*?); fields (?P<fields>.*?)(?:;|\n\n)",
        re.DOTALL,
    )
    for match in pattern.finditer(text):
        names = re.compile(r"`(\w+)`")
        # A measurement described per bucket (raw quotes, then candles) has the union.
        spec = contract.setdefault(
            match["m"],
            {
                "buckets": set(MEASUREMENT_BUCKETS.get(match["m"], {match["bucket"]})),
                "tags": set(),
                "fields": set(),
            },
        )
        spec["tags"] |= set(names.findall(match["tags"]))
        spec["fields"] |= set(names.findall(match["fields"]))
    if "tag `demo=true`" in text or "`demo=true`" in text:
        for spec in contract.values():
            spec["tags"].add("demo")
    return contract


@functools.lru_cache(maxsize=1)
def pg_contract() -> dict[str, set[str]]:
    """{view: columns} from the CREATE VIEW blocks of docs/contracts.md."""
    text = CONTRACTS.read_text(encoding="utf-8")
    views: dict[str, set[str]] = {}
    for match in re.finditer(r"CREATE VIEW (\w+) AS\s+SELECT(.*?)FROM", text, re.DOTALL):
        body = re.sub(r"--[^\n]*", "", match[2]).replace("DISTINCT", "")
        views[match[1]] = {c.strip() for c in body.split(",") if c.strip()}
    return views


@functools.lru_cache(maxsize=1)
def bbdash_metrics() -> dict[str, str]:
    """{exposed name: source file} for every bbdash_* collector declared in the feeders' code."""
    found: dict[str, str] = {}
    decl = re.compile(r"\b(Counter|Gauge|Histogram|Summary|Info|Enum)\(\s*\"(bbdash_\w+)\"")
    if not FEEDERS_SRC.exists():
        return found
    for path in sorted(FEEDERS_SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for kind, name in decl.findall(text):
            rel = str(path.relative_to(REPO))
            if kind == "Counter":
                found[name if name.endswith("_total") else name + "_total"] = rel
            elif kind in ("Histogram", "Summary"):
                for suffix in ("_count", "_sum") + (("_bucket",) if kind == "Histogram" else ()):
                    found[name + suffix] = rel
                if kind == "Summary":
                    found[name] = rel
            elif kind == "Info":
                found[name + "_info"] = rel
            else:
                found[name] = rel
    return found


def backup_metrics() -> set[str]:
    """The bbdash_backup_* names the backup script writes (each in a metric() call)."""
    text = BACKUP_SCRIPT.read_text(encoding="utf-8")
    return set(re.findall(r'^\s*(?:metric\()?\s*"(bbdash_backup_\w+)"', text, re.MULTILINE))


def known_metrics() -> set[str]:
    return (
        NODE_EXPORTER_METRICS
        | CADVISOR_METRICS
        | PROMETHEUS_METRICS
        | set(bbdash_metrics())
        | backup_metrics()
    )


# --------------------------------------------------------------------------- Flux


def strip_flux_noise(flux: str) -> str:
    """Flux without comments and string/regex literal contents (for structure checks)."""
    out = []
    i = 0
    while i < len(flux):
        c = flux[i]
        if flux.startswith("//", i):
            while i < len(flux) and flux[i] != "\n":
                i += 1
            continue
        if c == '"':
            j = i + 1
            while j < len(flux) and flux[j] != '"':
                j += 2 if flux[j] == "\\" else 1
            out.append('""')
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def flux_balance_errors(flux: str) -> list[str]:
    errors = []
    stack: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    text = strip_flux_noise(flux)
    for c in text:
        if c in "([{":
            stack.append(c)
        elif c in ")]}" and (not stack or stack.pop() != pairs[c]):
            errors.append(f"unbalanced {c!r}")
            break
    if stack:
        errors.append(f"unclosed {''.join(stack)!r}")
    if flux.count('"') % 2:
        errors.append("odd number of double quotes")
    if "{{" in text or "{%" in text:
        errors.append("Jinja left in the query")
    return errors


FROM_BUCKET = re.compile(r"from\(\s*bucket:\s*(\"[^\"]*\"|[A-Za-z_]\w*)\s*\)")
TAGVALUES_BUCKET = re.compile(r"schema\.\w+\(\s*bucket:\s*\"([^\"]+)\"")
MEASUREMENT_EQ = re.compile(r"_measurement\s*==\s*\"([^\"]+)\"")
FIELD_EQ = re.compile(r"_field\s*==\s*\"([^\"]+)\"")
FIELD_SET = re.compile(r"contains\(\s*value:\s*r\._field,\s*set:\s*\[([^\]]*)\]\s*\)")
COLUMN_REF = re.compile(r"\br\.([A-Za-z_]\w*)")
COLUMN_LISTS = re.compile(r"\b(columns|rowKey|columnKey):\s*\[([^\]]*)\]")
RECORD_KEYS = re.compile(r"[{,]\s*(?:r\s+with\s+)?([A-Za-z_]\w*)\s*:")
JOIN_TABLES = re.compile(r"join\(\s*tables:\s*\{([^}]*)\}")


def flux_buckets(flux: str) -> tuple[set[str], list[str]]:
    """Buckets read by a query, and problems (a bucket expression we cannot resolve)."""
    buckets: set[str] = set()
    problems = []
    for expr in FROM_BUCKET.findall(flux):
        if expr.startswith('"'):
            buckets.add(expr.strip('"'))
            continue
        assign = re.search(rf"^\s*{re.escape(expr)}\s*=\s*(.+)$", flux, re.MULTILINE)
        literals = re.findall(r"\"([^\"]*)\"", assign[1]) if assign else []
        if not literals:
            problems.append(f"cannot resolve bucket expression {expr!r}")
        buckets.update(literals)
    buckets.update(TAGVALUES_BUCKET.findall(flux))
    return buckets, problems


def flux_contract_errors(flux: str) -> list[str]:
    """Everything a query reads that the contracts do not define."""
    contract = influx_contract()
    errors = flux_balance_errors(flux)
    if not re.search(r"(?<![.\w])from\(", flux) and "array.from(" in flux:
        return errors  # computes a value (e.g. which bucket a range uses), reads no data
    buckets, problems = flux_buckets(flux)
    errors += problems
    if not buckets:
        errors.append("reads no bucket")
    if buckets == {CUSTOM_BUCKET}:
        if "r._measurement" not in flux:
            errors.append("no _measurement filter")
        return errors  # the person's own series: no contract to hold them to
    errors += [f"unknown bucket {b!r}" for b in sorted(buckets - BUCKETS)]
    measurements = set(MEASUREMENT_EQ.findall(flux))
    if not measurements:
        errors.append("no _measurement filter")
    errors += [f"unknown measurement {m!r}" for m in sorted(measurements - set(contract))]
    measurements &= set(contract)
    for m in sorted(measurements):
        if not (contract[m]["buckets"] & buckets):
            errors.append(f"measurement {m!r} is not in the buckets read ({sorted(buckets)})")
    tags = set().union(*(contract[m]["tags"] for m in measurements)) if measurements else set()
    fields = set().union(*(contract[m]["fields"] for m in measurements)) if measurements else set()
    used_fields = set(FIELD_EQ.findall(flux))
    for group in FIELD_SET.findall(flux):
        used_fields.update(re.findall(r"\"([^\"]+)\"", group))
    errors += [f"unknown field {f!r}" for f in sorted(used_fields - fields)]
    defined = set(RECORD_KEYS.findall(strip_flux_noise(flux)))
    known = tags | fields | FLUX_BUILTIN_COLUMNS | defined
    # Columns a pivot makes from _field values the query sets itself
    # (set(key: "_field", value: name) called with name: "open", ...).
    for value in re.findall(r'set\(\s*key:\s*"_field",\s*value:\s*("[^"]+"|\w+)\s*\)', flux):
        if value.startswith('"'):
            known.add(value.strip('"'))
        else:
            known |= set(re.findall(rf'\b{value}:\s*"([^"]+)"', flux))
    for tables in JOIN_TABLES.findall(flux):
        for side in re.findall(r"([A-Za-z_]\w*)\s*:", tables):
            known |= {f"{name}_{side}" for name in known}
    for column in sorted(set(COLUMN_REF.findall(flux)) - known):
        errors.append(f"unknown column r.{column} (not a tag, field or column made by the query)")
    for _, names in COLUMN_LISTS.findall(flux):
        for name in re.findall(r"\"([^\"]+)\"", names):
            if name not in known:
                errors.append(f"unknown column {name!r} in a columns list")
    return errors


# --------------------------------------------------------------------------- PromQL

PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and",
    "or", "unless", "inf", "nan", "atan2",
}  # fmt: skip


def promql_metric_names(expr: str) -> set[str]:
    label_values = re.match(r"\s*label_values\(\s*([A-Za-z_:][\w:]*)\s*,", expr)
    if label_values:
        return {label_values[1]}
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?[A-Za-z_]\w*\}?", " ", text)  # variables
    names = set()
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)", text):
        name = m[1]
        rest = text[m.end() :].lstrip()
        if rest.startswith("("):  # function call
            continue
        if name.lower() in PROMQL_KEYWORDS or re.fullmatch(r"\d+\w*", name):
            continue
        names.add(name)
    return names
