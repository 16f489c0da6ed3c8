"""One module per upstream: each turns its payloads into `MarketRecord`s."""
