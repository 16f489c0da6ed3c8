"""Pieces shared by every feeder service.

- `logs`: JSON-lines logging (`setup_logging`).
- `config`: typed settings (`ServiceSettings`, `load_settings`, secrets from `*_file`).
- `lineprotocol`: `Point` and its exact InfluxDB line-protocol encoding.
- `influx`: one-request write client classifying InfluxDB's answers.
- `spool`: bounded durable on-disk queue of batches (SQLite WAL).
- `sink`: `InfluxSink`, the buffered writer (batches, spool, ordered replay, bad-line isolation).
- `resilience`: `Backoff`, `TokenBucket`, `SlidingWindowLimiter`, `CircuitBreaker`, `retry_async`.
- `metrics`: `Metrics`, every shared Prometheus collector on one registry.
- `health`: `Heartbeat` and `HealthServer` (`/metrics` + `/healthz`).
- `watchlist`: `WatchlistSync` (collected_assets / active_alert_rules, LISTEN/NOTIFY).
- `runtime`: `FeederRuntime`, wiring the above for one service.
- `service`: `run_until_signal` (SIGTERM-aware main), `cancel_and_wait` (task shutdown).
- `healthcheck`: the container HEALTHCHECK command.
"""
