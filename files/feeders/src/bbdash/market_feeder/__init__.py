"""Market feeder: Binance, Yahoo Finance, CoinGecko (+ fallbacks) into the `markets` bucket."""
