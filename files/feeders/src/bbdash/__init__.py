"""Bloomberg Dashboard collection layer (feeders and watchlist API)."""
