"""Pieces shared by every feeder service.

- `logs`: JSON-lines logging (`setup_logging`).
- `config`: typed settings (`ServiceSettings`, `load_settings`, secrets from `*_file`).
- `lineprotocol`: `Point` and its exact InfluxDB line-protocol encoding.
- `influx`: one-request write client classifying InfluxDB's answers.
- `spool`: bounded durable on-disk queue of batches (SQLite WAL).
- `sink`: `InfluxSink`, the buffered writer (batches, spool, ordered replay, bad-line isolation).
- `resilience`: `Backoff`, `TokenBucket`, `SlidingWindowLimiter`, `CircuitBreaker`, `retry_async`.
- `upstream`: `Upstream`, the one client of every REST upstream; `UpstreamLimits` builds it.
- `upstream_errors`: the one upstream error hierarchy and its policy (429/418 hold, 401/403 auth).
- `upstream_log`: upstream errors logged with their text, no secret, once a minute per kind.
- `polling`: `PollLoop`, the one poll loop of both feeders.
- `budgets`: the quota rule (stdlib only) the settings and the roles' preflight share.
- `metrics`: `Metrics`, every shared Prometheus collector on one registry.
- `health`: `Heartbeat` and `HealthServer` (`/metrics` + `/healthz`).
- `watchlist`: `WatchlistSync` (collected_assets / active_alert_rules, LISTEN/NOTIFY).
- `runtime`: `FeederRuntime`, wiring the above for one service.
- `service`: `run_until_signal` (SIGTERM-aware main), `cancel_and_wait` (task shutdown).
- `healthcheck`: the container HEALTHCHECK command.
"""
