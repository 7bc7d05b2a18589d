"""Declared, validated market configurations (pydantic; a wrong key or value is a clear error).

Units: prices in ticks of ``tick_dollars`` (1 cent by default, as ABIDES' integer cents), times in seconds
(converted to integer nanoseconds inside), rates per second. ABIDES' per-nanosecond parameters convert as
``rate_per_s = rate_per_ns * 1e9`` and ``vol_per_sqrt_s = vol_per_sqrt_ns * sqrt(1e9)``.

Registry: :func:`get_config` with ``"rmsc04"`` (ABIDES' RMSC-4 population: 2 adaptive market makers, 102 value,
12 momentum, 1,000 noise agents; tuned, see below), ``"rmsc04-abides"`` (the same population with ABIDES'
parameters verbatim, except the fixed oracle step), ``"rmsc03"`` (2 market makers, 100 value, 25 momentum,
5,000 noise agents), ``"multi"`` (three symbols, each an rmsc04-like population of its own), ``"desk"`` (15
symbols for the multi-order execution environment's LOB market) and ``"desk-mini"`` (6 symbols, one hour).
Beside the registry: ``"world:<weights>"`` (a market of one neural world agent, :func:`world_config`, weights
from a ``.npz`` file or a training folder) and the path of a JSON file holding a :class:`MarketConfig`.

Tuning of the default ``rmsc04`` (the population is ABIDES'; only parameters changed). With ABIDES' parameters
(``rmsc04-abides``) the value agents trade slowly towards their projection of the fundamental and the market
makers re-centre once a minute, so the price follows news over several minutes: lag-1 autocorrelation of
1-minute returns about +0.40 (ABIDES reports +0.32; real markets ~0). The default makes price discovery fast:
value agents observe the fundamental with less noise (variance 400 instead of 1,000), wake up every 50 s
instead of 175 s and cross the spread 95% of the time instead of 10%; activity follows a U-shaped intraday
profile (amplitude 2.5, time constant 30 min) as real markets do. The fundamental has stochastic volatility
(ABIDES has none): a log-volatility OU process (std 0.35, time constant 30 min) scales its diffusion (8 ticks per
sqrt(s) on average) and its 20 jumps a day (~0.1%), and the value agents' arrival rate follows the volatility
(``activity_exponent`` 1), which gives volatility clustering and the volume/|r| link.
The book: noise agents and the aggressive value agents send market orders (for at most the shares quoted at the
opposite best) instead of limit orders at the opposite best, so aggressive orders never rest inside the spread;
the market makers quote a fixed 26-tick (2.6 bp) window with ladder levels 3 ticks apart, re-centre every 10 s
(and on a book-imbalance alert at most every 5 s), size each level at 5% of the volume since their last
wake-up, move a changed level by cancel + new order (``replace``, as exchange feeds show quote updates), and sit
up to 4 ms from the exchange (not co-located), so a ladder update reaches it over a few hundred microseconds.
Measured with ``multiexec lob realism-seeds`` over seeds 1-8 (median): quoted spread 2.8 bp (LOBSTER AAPL 3.1),
order inter-arrival median 0.2 ms (0.5), lag-1 autocorrelation of 1-minute returns -0.02 against +0.40 for
``rmsc04-abides`` (real -0.04), minute facts inside the real p10-p90 range 17.5 of 22. See docs/lob.md.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from multiexec.errors import MultiexecError, validation_message


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FundamentalConfig(_Model):
    """Mean-reverting (Ornstein-Uhlenbeck) fundamental with Poisson jumps of random sign."""

    r_bar: int = Field(100_000, gt=0, description="long-run mean and opening value, ticks")
    kappa_per_s: float = Field(1.67e-7, ge=0, description="mean-reversion speed per second")
    vol_per_sqrt_s: float = Field(1.58e-3, ge=0, description="diffusion std, ticks per sqrt(second)")
    jumps_per_day: float = Field(0.0, ge=0, description="expected jumps per 6.5-hour day")
    jump_mean: float = Field(1000.0, ge=0, description="jump size mean, ticks (sign drawn +-1)")
    jump_std: float = Field(223.6, ge=0, description="jump size std, ticks")
    vol_of_vol: float = Field(0.0, ge=0, le=2, description="stationary std of the log-volatility (0 = constant "
                              "volatility, as ABIDES)")
    vol_tau_s: float = Field(1800.0, gt=0, description="time constant of the log-volatility OU process, seconds")
    activity_exponent: float = Field(0.0, ge=0, description="value agents' arrival rate scales as volatility^p")


class NoiseConfig(_Model):
    n: int = Field(1000, ge=0)
    size: int = Field(0, ge=0, description="fixed order size; 0 = ABIDES' order-size model")
    market_order_share: float = Field(0.0, ge=0, le=1, description="probability that the order is a market order "
                                      "(for at most the shares quoted at the opposite best) instead of a limit "
                                      "order at the opposite best (ABIDES: 0)")
    start_before_open_s: float = Field(1800.0, ge=0, description="wake times are uniform from open - this")


class ValueConfig(_Model):
    n: int = Field(102, ge=0)
    kappa_per_s: float = Field(1.67e-6, ge=0, description="agents' belief of mean reversion per second")
    sigma_n: float = Field(1000.0, gt=0, description="observation noise VARIANCE, ticks^2 (ABIDES: r_bar/100)")
    sigma_s: float = Field(100_000.0, ge=0, description="prior shock variance per step (ABIDES default)")
    arrival_per_s: float = Field(5.7e-3, gt=0, description="Poisson wake-up rate per agent (ABIDES 5.7e-12/ns)")
    percent_aggr: float = Field(0.1, ge=0, le=1, description="probability of an order at the opposite best")
    depth_spread: float = Field(2.0, ge=0, description="passive orders up to depth_spread x spread away")
    market_order_share: float = Field(0.0, ge=0, le=1, description="probability that an aggressive order is a "
                                      "market order (for at most the shares quoted at the opposite best) instead "
                                      "of a limit order at the opposite best (ABIDES: 0)")
    size: int = Field(0, ge=0, description="fixed order size; 0 = order-size model")


class MomentumConfig(_Model):
    n: int = Field(12, ge=0)
    wake_s: float = Field(37.0, gt=0, description="mean time between Poisson wake-ups")
    short_window: int = Field(20, ge=1)
    long_window: int = Field(50, ge=1)
    size: int = Field(0, ge=0, description="fixed order size; 0 = order-size model")

    @model_validator(mode="after")
    def _windows(self):
        if self.short_window > self.long_window:
            raise ValueError(f"short_window {self.short_window} > long_window {self.long_window}")
        return self


class MarketMakerConfig(_Model):
    n: int = Field(2, ge=0)
    pov: float = Field(0.025, ge=0, description="size per level as a fraction of volume since last wake-up")
    min_order_size: int = Field(1, ge=1)
    num_ticks: int = Field(10, ge=1, le=100, description="ladder levels per side")
    level_spacing: float = Field(5.0, gt=0, description="ladder step as a multiple of the spread estimate (in ticks "
                                 "when window_ticks is set)")
    spread_alpha: float = Field(0.75, ge=0, le=1, description="EWMA weight of the newest spread")
    window_ticks: int = Field(0, ge=0, description="fixed quoted spread in ticks; 0 = adaptive")
    wake_s: float = Field(60.0, gt=0)
    price_skew: float = Field(4.0, ge=0, description="mid shift in ticks at full trade imbalance")
    backstop_quantity: int = Field(0, ge=0, description="size of the outermost level (0 = like the others)")
    min_imbalance: float = Field(0.9, gt=0, le=1, description="top-of-book imbalance that triggers a re-quote")
    initial_spread: float = Field(50.0, gt=0, description="spread estimate before the first observation")
    requote_cooldown_s: float = Field(1.0, ge=0, description="minimum time between imbalance re-quotes")
    replace: bool = Field(False, description="move a changed ladder level by cancel + new order (each message "
                          "with its own latency) instead of one modify message")


class WorldConfig(_Model):
    """INTAGS' neural world agent (:mod:`multiexec.lob.world`) trading this symbol: its weights (a ``.npz`` file or
    a training folder holding ``world.npz``, or in-memory :class:`multiexec.lob.world.WorldWeights` in
    ``arrays``), caps on its orders, and the warm start of the book: ``warm_levels`` levels per side of
    ``warm_size`` shares, ``warm_spacing_ticks`` apart, around the opening price (``fundamental.r_bar``) with a
    ``warm_spread_ticks`` spread, placed by the world agent at the open (so it can cancel them later)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    n: int = Field(1, ge=0, le=1, description="world agents for this symbol (0 or 1)")
    weights: str | None = Field(None, description="weights file (.npz) or training folder")
    arrays: Any = Field(None, exclude=True, description="in-memory WorldWeights (instead of a file)")
    digest: str | None = Field(None, description="fingerprint of the weights (filled in)")
    latency_us: float = Field(0.0, ge=0, description="fixed one-way latency of its orders")
    min_dt_us: float = Field(1.0, gt=0, description="shortest time between two of its orders")
    max_dt_s: float = Field(60.0, gt=0, description="longest time between two of its orders")
    max_size: int = Field(10_000, ge=1, description="largest order size, shares")
    max_depth_ticks: int = Field(1000, ge=1, description="largest distance from the best price, ticks")
    dt_source: Literal["auto", "generator", "empirical"] = Field(
        "auto", description="time to the next order: the generator's output, or a draw from the training orders' "
        "distribution (the weights' dt_quantiles; DeepMarket draws it from a fitted gamma law); auto: empirical "
        "when the weights carry dt_quantiles")
    redraws: int = Field(10, ge=0, le=1000, description="draws again (new noise) for an order that cannot act: a "
                         "market order into an empty side, a cancel on an empty side")
    cancel_target: Literal["depth", "volume"] = Field(
        "depth", description="the level a cancel acts on: the occupied level nearest the generator's depth (cancel "
        "by price level), or a level drawn in proportion to the agent's resting volume (each resting share equally "
        "likely; cancellations proportional to queue size)")
    warm_levels: int = Field(10, ge=0, le=100)
    warm_size: int = Field(100, ge=1, description="shares per warm-start level")
    warm_spacing_ticks: int = Field(3, ge=1)
    warm_spread_ticks: int = Field(26, ge=1)

    @model_validator(mode="after")
    def _weights(self):
        if self.n == 0:
            return self
        from multiexec.lob.world import WorldWeights

        if self.arrays is None and self.weights is None:
            raise ValueError("a world agent needs weights (a .npz file or training folder) or arrays")
        if self.arrays is not None and not isinstance(self.arrays, WorldWeights):
            raise ValueError(f"arrays must be a WorldWeights, got {type(self.arrays).__name__}")
        if self.dt_source == "empirical" and self.arrays is not None and self.arrays.dt_quantiles is None:
            raise ValueError("dt_source 'empirical' needs weights with dt_quantiles (or dt_source 'generator')")
        if self.min_dt_us * 1e-6 > self.max_dt_s:
            raise ValueError(f"min_dt_us {self.min_dt_us} is above max_dt_s {self.max_dt_s}")
        return self

    def load(self):
        """The :class:`multiexec.lob.world.WorldWeights` of this agent (checked)."""
        from multiexec.lob.world import WorldWeights

        w = self.arrays.check() if self.arrays is not None else WorldWeights.load(self.weights)
        if self.dt_source == "empirical" and w.dt_quantiles is None:
            raise MultiexecError("world agent: dt_source 'empirical' needs weights with dt_quantiles (trained by "
                                 "`multiexec intags cwgan-train`), or dt_source 'generator'")
        return w

    def empirical_dt(self, weights) -> bool:
        return self.dt_source == "empirical" or (self.dt_source == "auto" and weights.dt_quantiles is not None)


class SymbolConfig(_Model):
    name: str = "ABM"
    fundamental: FundamentalConfig = FundamentalConfig()
    noise: NoiseConfig = NoiseConfig()
    value: ValueConfig = ValueConfig()
    momentum: MomentumConfig = MomentumConfig()
    market_makers: MarketMakerConfig = MarketMakerConfig()
    world: WorldConfig | None = None


class LatencyConfig(_Model):
    """Per-agent minimum one-way latency uniform in [min_us, max_us]; cubic jitter as ABIDES."""

    min_us: float = Field(21.0, ge=0)
    max_us: float = Field(13_000.0, ge=0)
    mm_max_us: float = Field(100.0, ge=0, description="market makers are co-located: max latency")
    jitter: float = Field(0.3, ge=0)
    jitter_clip: float = Field(0.05, gt=0, le=1)
    jitter_unit: float = Field(10.0, gt=0)
    computation_delay_ns: int = Field(50, ge=0)

    @model_validator(mode="after")
    def _range(self):
        if self.max_us < self.min_us:
            raise ValueError(f"latency max_us {self.max_us} < min_us {self.min_us}")
        return self


class IntradayConfig(_Model):
    """U-shaped intraday activity: multiplier ``1 + amplitude (exp(-(t - open)/tau) + exp(-(close - t)/tau))``
    on value agents' arrival rate, noise agents' wake-up density and the fundamental's variance."""

    amplitude: float = Field(0.0, ge=0)
    tau_s: float = Field(1800.0, gt=0)


class MarketConfig(_Model):
    name: str = "custom"
    date: str = "2021-02-05"
    open: str = "09:30:00"
    close: str = "16:00:00"
    tick_dollars: float = Field(0.01, gt=0)
    n_ticks: int = Field(1 << 16, description="price band per symbol: n_ticks ticks centred on r_bar (from 0 for a "
                         "low r_bar); orders outside are rejected (power of two)")
    symbols: list[SymbolConfig] = Field(default_factory=lambda: [SymbolConfig()])
    latency: LatencyConfig = LatencyConfig()
    intraday: IntradayConfig = IntradayConfig()
    snapshot_interval_s: float = Field(1.0, gt=0)
    l2_depth: int = Field(10, ge=1, le=100)

    @model_validator(mode="after")
    def _check(self):
        names = [s.name for s in self.symbols]
        if not names:
            raise ValueError("at least one symbol is needed")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate symbol names {names}")
        if self.n_ticks & (self.n_ticks - 1) or not (1 << 10) <= self.n_ticks <= (1 << 18):
            raise ValueError(f"n_ticks must be a power of two in [1024, 262144], got {self.n_ticks}")
        if self.open_ns >= self.close_ns:
            raise ValueError(f"open {self.open} is not before close {self.close}")
        return self

    @property
    def open_ns(self) -> int:
        return hms_ns(self.open)

    @property
    def close_ns(self) -> int:
        return hms_ns(self.close)

    @property
    def n_agents(self) -> int:
        return sum(s.noise.n + s.value.n + s.momentum.n + s.market_makers.n + (s.world.n if s.world else 0)
                   for s in self.symbols)


def hms_ns(s: str) -> int:
    try:
        h, m, sec = (float(x) for x in s.split(":"))
    except ValueError:
        raise ValueError(f"time {s!r} is not HH:MM:SS") from None
    return int(round((h * 3600 + m * 60 + sec) * 1e9))


_NS = 1e9
_DAY_S = 6.5 * 3600


def rmsc04_abides() -> MarketConfig:
    """ABIDES' rmsc04 verbatim (units converted), with the oracle's step std fixed."""
    return MarketConfig(
        name="rmsc04-abides",
        symbols=[SymbolConfig(
            name="ABM",
            fundamental=FundamentalConfig(r_bar=100_000, kappa_per_s=1.67e-16 * _NS, vol_per_sqrt_s=5e-5 * math.sqrt(_NS),
                                          jumps_per_day=2.77778e-18 * _NS * _DAY_S, jump_mean=1000,
                                          jump_std=math.sqrt(50_000)),
            noise=NoiseConfig(n=1000),
            value=ValueConfig(n=102, kappa_per_s=1.67e-15 * _NS, sigma_n=100_000 / 100,
                              arrival_per_s=5.7e-12 * _NS),
            momentum=MomentumConfig(n=12, wake_s=37.0),
            market_makers=MarketMakerConfig(n=2, pov=0.025, num_ticks=10, level_spacing=5, spread_alpha=0.75, wake_s=60.0,
                                            price_skew=4, backstop_quantity=0),
        )],
    )


def rmsc04() -> MarketConfig:
    """The default: ABIDES' rmsc04 population with parameters tuned for realistic stylized facts."""
    cfg = rmsc04_abides()
    sym = cfg.symbols[0]
    return cfg.model_copy(update={
        "name": "rmsc04",
        "intraday": IntradayConfig(amplitude=2.5, tau_s=1800.0),
        "latency": cfg.latency.model_copy(update={"mm_max_us": 4000.0}),
        "symbols": [sym.model_copy(update={
            "fundamental": FundamentalConfig(r_bar=100_000, kappa_per_s=1.67e-7, vol_per_sqrt_s=8.0,
                                             jumps_per_day=20.0, jump_mean=100.0, jump_std=30.0,
                                             vol_of_vol=0.35, vol_tau_s=1800.0, activity_exponent=1.0),
            "noise": sym.noise.model_copy(update={"market_order_share": 1.0}),
            "value": sym.value.model_copy(update={"sigma_n": 400.0, "arrival_per_s": 0.02, "percent_aggr": 0.95,
                                                  "market_order_share": 1.0}),
            "market_makers": sym.market_makers.model_copy(update={"wake_s": 10.0, "pov": 0.05, "replace": True,
                                                                   "requote_cooldown_s": 5.0, "window_ticks": 26,
                                                                   "level_spacing": 3.0}),
        })],
    })


def rmsc03() -> MarketConfig:
    """ABIDES' rmsc03 population (2 MMs, 100 value, 25 momentum, 5,000 noise), oracle step fixed."""
    return MarketConfig(
        name="rmsc03",
        symbols=[SymbolConfig(
            name="ABM",
            fundamental=FundamentalConfig(r_bar=100_000, kappa_per_s=1.67e-16 * _NS, vol_per_sqrt_s=1e-8 * math.sqrt(_NS),
                                          jumps_per_day=2.77778e-18 * _NS * _DAY_S, jump_mean=1000,
                                          jump_std=math.sqrt(50_000)),
            noise=NoiseConfig(n=5000, size=35),
            value=ValueConfig(n=100, kappa_per_s=1.67e-15 * _NS, sigma_n=100_000 / 10, arrival_per_s=7e-11 * _NS,
                              size=35),
            momentum=MomentumConfig(n=25, wake_s=20.0, size=5),
            market_makers=MarketMakerConfig(n=2, pov=0.025, num_ticks=10, level_spacing=5, spread_alpha=0.75, wake_s=10.0,
                                            backstop_quantity=50_000),
        )],
    )


def multi() -> MarketConfig:
    """Three symbols at different price levels, each with its own rmsc04-like population and fundamental (price
    scales: volatility, jumps, observation noise and the market makers' window and ladder step follow r_bar)."""
    base = rmsc04().symbols[0]
    syms = []
    for name, r_bar in (("AAA", 100_000), ("BBB", 25_000), ("CCC", 5_000)):
        f = base.fundamental.model_copy(update={"r_bar": r_bar,
                                                "vol_per_sqrt_s": base.fundamental.vol_per_sqrt_s * r_bar / 100_000,
                                                "jump_mean": base.fundamental.jump_mean * r_bar / 100_000,
                                                "jump_std": base.fundamental.jump_std * r_bar / 100_000})
        v = base.value.model_copy(update={"sigma_n": base.value.sigma_n * (r_bar / 100_000) ** 2})
        mm = base.market_makers
        mm = mm.model_copy(update={"window_ticks": max(2, round(mm.window_ticks * r_bar / 100_000)),
                                   "level_spacing": max(1.0, round(mm.level_spacing * r_bar / 100_000))})
        syms.append(base.model_copy(update={"name": name, "fundamental": f, "value": v, "market_makers": mm}))
    return MarketConfig(name="multi", symbols=syms)


def _scaled_symbol(base: SymbolConfig, name: str, r_bar: int, noise_n: int | None = None) -> SymbolConfig:
    """``base`` moved to the price level ``r_bar``: volatility, jumps, observation noise and the market makers'
    window and ladder step follow the price."""
    k = r_bar / base.fundamental.r_bar
    f = base.fundamental.model_copy(update={"r_bar": r_bar, "vol_per_sqrt_s": base.fundamental.vol_per_sqrt_s * k,
                                            "jump_mean": base.fundamental.jump_mean * k,
                                            "jump_std": base.fundamental.jump_std * k})
    v = base.value.model_copy(update={"sigma_n": base.value.sigma_n * k ** 2})
    mm = base.market_makers
    mm = mm.model_copy(update={"window_ticks": max(2, round(mm.window_ticks * k)),
                               "level_spacing": max(1.0, round(mm.level_spacing * k))})
    upd = {"name": name, "fundamental": f, "value": v, "market_makers": mm}
    if noise_n is not None:
        upd["noise"] = base.noise.model_copy(update={"n": noise_n})
    return base.model_copy(update=upd)


def desk() -> MarketConfig:
    """A desk's universe for the multi-order execution environment: 15 symbols priced from $20 to $500, each with
    its own rmsc04-like population (500 noise agents, so that a 15-symbol day runs in about 1.5 s), enough symbols
    for a day to hold as many orders as a day of the real data does."""
    base = rmsc04().symbols[0]
    levels = (50_000, 2_000, 12_000, 30_000, 4_000, 20_000, 8_000, 45_000, 3_000, 15_000, 6_000, 25_000, 10_000,
              35_000, 5_000)
    syms = [_scaled_symbol(base, f"S{i:02d}", r, noise_n=500) for i, r in enumerate(levels)]
    cfg = rmsc04()
    return cfg.model_copy(update={"name": "desk", "symbols": syms})


def desk_mini() -> MarketConfig:
    """A small ``desk`` for tests and quick looks: 6 symbols with 100 noise agents each and a one-hour day."""
    base = rmsc04().symbols[0]
    syms = [_scaled_symbol(base, f"M{i}", r, noise_n=100) for i, r in enumerate((10_000, 4_000, 20_000, 6_000, 8_000,
                                                                                  3_000))]
    return rmsc04().model_copy(update={"name": "desk-mini", "close": "10:30:00", "symbols": syms})


def world_config(weights=None, arrays=None, r_bar: int | None = None, name: str = "world", **world) -> MarketConfig:
    r"""A market of one neural world agent (no agent-based population): weights from a file / training folder
    (``weights``) or in memory (``arrays``, a :class:`multiexec.lob.world.WorldWeights`); ``r_bar``: opening
    price in ticks (default: the one the weights were trained at, else 100,000); ``world``: further
    :class:`WorldConfig` fields (caps, warm start). Bad values are one-line :class:`MultiexecError`\ s."""
    try:
        wc = WorldConfig(weights=None if weights is None else str(weights), arrays=arrays, **world)
        w = wc.load()
        wc = wc.model_copy(update={"digest": w.digest()})
        r = int(r_bar if r_bar is not None else w.meta.get("r_bar", 100_000))
        off = {"n": 0}
        sym = SymbolConfig(name=str(w.meta.get("symbol", "ABM")), fundamental=FundamentalConfig(r_bar=r),
                           noise=NoiseConfig(**off), value=ValueConfig(**off), momentum=MomentumConfig(**off),
                           market_makers=MarketMakerConfig(**off), world=wc)
        return MarketConfig(name=name, symbols=[sym])
    except ValidationError as exc:
        raise MultiexecError(validation_message(exc, f"world config {name!r}")) from None


def load_config(data: dict | str | Path, where: str = "config") -> MarketConfig:
    """Validate a configuration from a dict or a JSON file; any problem is one line."""
    if isinstance(data, (str, Path)):
        p = Path(data)
        if not p.is_file():
            raise MultiexecError(f"config file {p} not found")
        where = str(p)
        try:
            import json

            data = json.loads(p.read_text())
        except ValueError as exc:
            raise MultiexecError(f"config file {p} is not valid JSON ({exc})") from None
    try:
        return MarketConfig.model_validate(data)
    except ValidationError as exc:
        raise MultiexecError(validation_message(exc, where)) from None


CONFIGS = {"rmsc04": rmsc04, "rmsc04-abides": rmsc04_abides, "rmsc03": rmsc03, "multi": multi, "desk": desk,
           "desk-mini": desk_mini}


def get_config(name: str, **overrides) -> MarketConfig:
    """A registered configuration by name, ``world:<weights>`` (:func:`world_config`) or the path of a JSON
    config file, with optional top-level field overrides (validated; errors are one line)."""
    if name.startswith("world:"):
        cfg = world_config(name[len("world:"):])
    elif name.endswith(".json"):
        cfg = load_config(name)
    elif name not in CONFIGS:
        raise MultiexecError(f"unknown market config {name!r}; known: {sorted(CONFIGS)}, world:<weights> or a "
                             f".json file")
    else:
        cfg = CONFIGS[name]()
    if overrides:
        arrays = [s.world.arrays if s.world else None for s in cfg.symbols]
        data = cfg.model_dump()
        for s, a in zip(data["symbols"], arrays):
            if a is not None:
                s["world"]["arrays"] = a
        cfg = load_config({**data, **overrides}, where=f"config {name!r}")
    return cfg
