"""`bbdash-healthcheck`: the container HEALTHCHECK command (no curl in slim images).

Exits 0 when `/healthz` answers 200 within the timeout, 1 otherwise. The URL
comes from `BBDASH_HEALTHCHECK_URL` (default: the market feeder's port), so one
image serves every service and each role sets the URL of its own port.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:9108/healthz"


def check(url: str, timeout_s: float = 3.0) -> bool:
    """True when `url` answers HTTP 200."""
    if not url.startswith(("http://", "https://")):
        return False
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - scheme checked
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main() -> None:
    """Entry point."""
    url = (
        sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BBDASH_HEALTHCHECK_URL", DEFAULT_URL)
    )
    sys.exit(0 if check(url) else 1)


if __name__ == "__main__":
    main()
