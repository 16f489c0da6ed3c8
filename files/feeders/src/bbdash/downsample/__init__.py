"""Downsampling of the raw market data into candle buckets, and its late-data path.

`flux` renders the Flux of a downsampling (the InfluxDB task the influxdb role
creates, and the same query over an explicit range); `windows` says which
windows a late point or a replay leaves to recompute; `journal` keeps those
ranges on disk until recomputed; `redownsampler` recomputes them. The split is
described in docs/data-layer.md ("Late data").
"""
