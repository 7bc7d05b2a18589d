"""Market data: containers, loaders, the built-in synthetic market, order sets and splits."""
