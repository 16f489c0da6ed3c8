"""History backfill: a watched symbol's past candles, fetched in budgeted, journaled chunks.

Not wired into the market feeder yet: `plan` says what to fetch, the parsers
(`binance_klines`, `yahoo_chart`, `coingecko_chart`) turn upstream payloads into
`Candle`s, `lines` into line protocol, `journal` remembers what is done,
`budget` keeps backfill within its share of each upstream, and `runner` ties
them together.
"""
