"""Pieces shared by every service: logging, metrics, sinks, resilience."""
