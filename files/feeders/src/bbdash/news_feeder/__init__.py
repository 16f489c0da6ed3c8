"""News feeder: RSS/Atom, CryptoPanic and NewsAPI headlines into bucket `news`."""
