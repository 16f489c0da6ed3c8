"""The dashboards' identities and the datasources they query.

Links between dashboards, the function-key bar of every header and each
dashboard's envelope all read this one table, so a uid or a slug is changed in
one place. The datasource uids are fixed by roles/grafana/vars/main.yml
(_grafana_datasource_uids); the tests check that each one is provisioned.
"""

from __future__ import annotations

INFLUX = {"type": "influxdb", "uid": "bbdash-influxdb"}
PROM = {"type": "prometheus", "uid": "bbdash-prometheus"}
PG = {"type": "grafana-postgresql-datasource", "uid": "bbdash-postgres"}
GRAFANA = {"type": "grafana", "uid": "-- Grafana --"}

SCHEMA_VERSION = 41

# key: (uid, slug used in links, function-key label, title). The order is the
# order of the function keys (F1, F2, ...) in every header.
DASHBOARDS = {
    "overview": ("bbdash-market-overview", "market-overview", "OVR", "Market overview"),
    "asset": ("bbdash-asset-detail", "asset-detail", "DES", "Asset detail"),
    "crypto": ("bbdash-crypto", "crypto", "CRY", "Crypto"),
    "stocks": ("bbdash-stocks-forex", "stocks-and-forex", "EQ/FX", "Stocks & forex"),
    "news": ("bbdash-news", "news-and-sentiment", "NEWS", "News & sentiment"),
    "infra": ("bbdash-infrastructure", "infrastructure", "INFRA", "Infrastructure"),
    "pipeline": ("bbdash-pipeline-health", "pipeline-health", "PIPE", "Pipeline health"),
    "custom": ("bbdash-custom", "custom-series", "CUST", "Custom series"),
}


def url(key: str) -> str:
    """Path of a dashboard, as Grafana serves it (for links between dashboards)."""
    uid, slug, _, _ = DASHBOARDS[key]
    return f"/d/{uid}/{slug}"
