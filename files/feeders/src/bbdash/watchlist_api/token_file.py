"""A credential the deployment writes into a file, re-read when the file changes.

The grafana and influxdb roles write the API's Grafana and InfluxDB tokens into
its secrets folder, possibly after the API started (the grafana role runs after
it on a first deploy) and again whenever a token is replaced; the API picks the
new one up on its next call, without a restart.
"""

from __future__ import annotations

from pathlib import Path


class TokenFile:
    """The token in `path`, read again when the file's mtime changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cached: tuple[float, str] | None = None  # (file mtime, token)

    def read(self) -> str | None:
        """The token, or None while there is no file."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        if self._cached is None or self._cached[0] != mtime:
            self._cached = (mtime, self.path.read_text(encoding="utf-8").strip())
        return self._cached[1]
