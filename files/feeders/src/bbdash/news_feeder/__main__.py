"""`bbdash-news-feeder`: load settings, log as JSON, run until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import sys

from bbdash.common.config import ConfigError, load_settings
from bbdash.common.logs import setup_logging
from bbdash.common.service import run_until_signal
from bbdash.news_feeder.config import NewsSettings
from bbdash.news_feeder.service import run

log = logging.getLogger("bbdash.news_feeder")


def main() -> None:
    """Entry point."""
    setup_logging(NewsSettings.SERVICE)
    try:
        settings = load_settings(NewsSettings)
    except ConfigError as exc:
        # One clear line and a non-zero exit: Docker shows it, the role's check fails.
        log.error("configuration refused", extra={"error": str(exc)})
        sys.exit(2)
    setup_logging(settings.SERVICE, settings.log_level)
    asyncio.run(run_until_signal(lambda: run(settings)))


if __name__ == "__main__":
    main()
