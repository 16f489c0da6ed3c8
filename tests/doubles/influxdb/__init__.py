"""InfluxDB 2 test double (not InfluxDB): see server.py and README.md."""

from .server import InfluxDBDouble, LineProtocolError, parse_line

__all__ = ["InfluxDBDouble", "LineProtocolError", "parse_line"]
