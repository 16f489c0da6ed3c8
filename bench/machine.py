"""What every benchmark says about the machine it ran on, and the percentile
they all use (nearest rank). Imported by bench/*/run.py (they put bench/ on
sys.path: each runs as a script)."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def memory_gib() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return 0


def describe() -> str:
    """CPU model, cores, memory, Python and OS, on one line."""
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, {memory_gib()} GiB, "
        f"Python {platform.python_version()}, {platform.system()}"
    )


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of `values` (any order); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]
