"""Market data: containers, loaders, the built-in synthetic market, order sets and splits.

Entry point for the rest of the project: :func:`multiexec.data.dataset.load_dataset` with a
:class:`multiexec.data.dataset.DataConfig`. Modules:

- :mod:`.bars` (``MinuteBars``), :mod:`.daily` (``DailyBars``), :mod:`.orders` (``DayOrders``): containers;
- :mod:`.loaders`: per-ticker minute CSVs, long tables (CSV/Parquet), daily bars; :mod:`.cache`: Parquet cache;
- :mod:`.synthetic`: the synthetic market, its fit to real data and the real-vs-synthetic statistics;
- :mod:`.ordergen`: "buy winners, sell losers" order sets and order CSVs; :mod:`.splits`: splits and windows;
- :mod:`.cli`: ``multiexec data load|info|fit|compare|orders``.
"""
