"""`bbdash-market-feeder`: load the settings once, then run until SIGTERM."""

from __future__ import annotations

import asyncio
import sys

from bbdash.common.config import ConfigError, load_settings
from bbdash.common.logs import setup_logging
from bbdash.common.service import run_until_signal
from bbdash.market_feeder.config import MarketFeederSettings


def main() -> None:
    """Entry point; exit code 2 on a configuration that cannot run."""
    try:
        settings = load_settings(MarketFeederSettings)
        settings.influx.token_value()
        settings.watchlist.dsn_value()
        settings.coingecko.api_key_value()
        settings.alphavantage.api_key_value()
    except ConfigError as exc:
        print(f"bbdash-market-feeder: {exc}", file=sys.stderr)
        sys.exit(2)
    setup_logging(MarketFeederSettings.SERVICE, settings.log_level)
    from bbdash.market_feeder.app import MarketFeeder

    feeder = MarketFeeder(settings)
    asyncio.run(run_until_signal(feeder.run))


if __name__ == "__main__":
    main()
