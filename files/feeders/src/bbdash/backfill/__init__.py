"""History backfill: a watched symbol's past candles, fetched in budgeted, journaled chunks.

`plan` says what to fetch, the parsers (`binance_klines`, `yahoo_chart`,
`coingecko_chart`) turn upstream payloads into `Candle`s, `lines` into line
protocol on the live series, `journal` remembers what is done, `budget` keeps
backfill within its share of each upstream, `runner` ties them together, and
`service` runs it inside the market feeder (docs/data-layer.md, "History").
"""
