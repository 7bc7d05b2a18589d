"""The world agent's torch twin and its training data.

* :class:`WorldGenerator`: ``y = G(z | S)``, the same MLP as the compiled agent of :mod:`multiexec.lob.world`
  (same standardisation, same layers, same raw action ``y``); :meth:`WorldGenerator.from_weights` /
  :meth:`WorldGenerator.to_weights` move weights between the two, :func:`decode` turns raw actions into orders
  exactly as the compiled agent does (a test holds both to the same orders for the same noise).
* (state, order) pairs for the cWGAN: :func:`pairs_from_orders` replays a simulated day's message log through the
  matching engine with the compiled extractor (the state is what the world agent itself would have computed
  before each order), :func:`pairs_from_lobster` does the same for a LOBSTER sample (messages and book rebuilt
  from the message file; orders resting before the file starts are unknown, so the first minutes warm the book
  up and are not recorded).
* :func:`encode_actions`: orders -> the critic's view (type one-hot, side +-1, standardised log size, depth,
  log1p dt); :func:`soft_actions`: a generator's raw ``y`` -> the same view (softmax, tanh), differentiable.

For INTAGS' calibration (Algorithm 1): ``Simulation.world_decision`` gives the state ``s`` at a branch point,
``WorldGenerator.sample(s, n, generator)`` (or ``Simulation.world_sample``) the candidate actions and
``Simulation.force_world_action(y)`` makes a fork take one of them; a KDE over ``G(z_i | s)`` in the raw action
space gives ``log p_theta(y | s)`` with gradients through :class:`WorldGenerator`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from multiexec.errors import MultiexecError
from multiexec.lob import engine as E
from multiexec.lob import world as W
from multiexec.lob.world import N_FEATURES, N_OUT, WorldWeights

ACT = {"relu": nn.ReLU, "tanh": nn.Tanh}


class WorldGenerator(nn.Module):
    """``y = G(z | state)``: standardise the raw state (history x features), append ``z``, MLP to ``N_OUT``."""

    def __init__(self, history: int = 5, noise_dim: int = 8, hidden=(64, 64), activation: str = "relu",
                 x_mean=None, x_std=None, out_norm=None, meta: dict | None = None, x_lo=None, x_hi=None):
        super().__init__()
        if activation not in ACT:
            raise MultiexecError(f"activation {activation!r} not in {sorted(ACT)}")
        self.history, self.noise_dim, self.hidden, self.activation = int(history), int(noise_dim), tuple(hidden), activation
        d = self.history * N_FEATURES
        self.register_buffer("x_mean", torch.as_tensor(np.zeros(d) if x_mean is None else x_mean, dtype=torch.float64))
        self.register_buffer("x_std", torch.as_tensor(np.ones(d) if x_std is None else x_std, dtype=torch.float64))
        self.register_buffer("out_norm", torch.as_tensor(np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]) if out_norm is None
                                                         else out_norm, dtype=torch.float64))
        # the training states' range (None: no clip); states are clipped into it, as the compiled agent does
        self.register_buffer("x_lo", None if x_lo is None else torch.as_tensor(x_lo, dtype=torch.float64))
        self.register_buffer("x_hi", None if x_hi is None else torch.as_tensor(x_hi, dtype=torch.float64))
        dims = [d + self.noise_dim, *self.hidden, N_OUT]
        layers: list[nn.Module] = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                layers.append(ACT[activation]())
        self.net = nn.Sequential(*layers)
        self.meta = dict(meta or {})
        self.dt_quantiles: np.ndarray | None = None  # carried into the compiled agent's weights

    @property
    def arch(self) -> dict:
        return {"history": self.history, "features": N_FEATURES, "noise_dim": self.noise_dim,
                "hidden": list(self.hidden), "activation": self.activation, "out": N_OUT}

    def forward(self, z: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """``z`` (B, noise_dim), ``state`` (B, history, features) or (B, history * features), raw -> ``y`` (B, N_OUT)."""
        x = self.clip(state.reshape(state.shape[0], -1).to(self.x_mean.dtype))
        x = ((x - self.x_mean) / self.x_std).to(self.net[0].weight.dtype)
        return self.net(torch.cat([x, z.to(x.dtype)], dim=1))

    def clip(self, x: torch.Tensor) -> torch.Tensor:
        """Raw states (B, history * features) clipped into the training range (unchanged without one)."""
        return x if self.x_lo is None else torch.minimum(torch.maximum(x, self.x_lo), self.x_hi)

    def sample(self, state, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` raw actions for one state (history, features): (n, N_OUT), differentiable in the weights."""
        s = torch.as_tensor(np.asarray(state), dtype=torch.float64).reshape(1, -1).expand(n, -1)
        z = torch.randn(n, self.noise_dim, generator=generator, dtype=self.net[0].weight.dtype)
        return self(z, s)

    # -- the compiled agent's arrays
    def to_weights(self, meta: dict | None = None, dt_quantiles=None) -> WorldWeights:
        lin = [m for m in self.net if isinstance(m, nn.Linear)]
        return WorldWeights(
            history=self.history, noise_dim=self.noise_dim, hidden=self.hidden, activation=self.activation,
            x_mean=self.x_mean.detach().double().numpy().copy(), x_std=self.x_std.detach().double().numpy().copy(),
            out_norm=self.out_norm.detach().double().numpy().copy(),
            layers=[(m.weight.detach().double().numpy().copy(), m.bias.detach().double().numpy().copy()) for m in lin],
            meta={**self.meta, **(meta or {})},
            dt_quantiles=self.dt_quantiles if dt_quantiles is None else dt_quantiles,
            x_lo=None if self.x_lo is None else self.x_lo.detach().double().numpy().copy(),
            x_hi=None if self.x_hi is None else self.x_hi.detach().double().numpy().copy()).check()

    @classmethod
    def from_weights(cls, w: WorldWeights, dtype=torch.float64) -> WorldGenerator:
        """The twin of ``w`` (float64 by default, the compiled agent's precision; float32 for training)."""
        g = cls(w.history, w.noise_dim, w.hidden, w.activation, w.x_mean, w.x_std, w.out_norm, meta=w.meta,
                x_lo=w.x_lo, x_hi=w.x_hi)
        g.net.to(dtype)
        g.dt_quantiles = w.dt_quantiles
        lin = [m for m in g.net if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for m, (wt, b) in zip(lin, w.layers):
                m.weight.copy_(torch.as_tensor(wt))
                m.bias.copy_(torch.as_tensor(b))
        return g


def decode(y: torch.Tensor, out_norm, max_size: int = 10_000, max_depth: int = 1000, min_dt_ns: int = 1000,
           max_dt_ns: int = 60_000_000_000) -> np.ndarray:
    """Orders of raw actions, as the compiled agent decodes them (:func:`multiexec.lob.world.decode`):
    (n, 5) int64 columns type, side, size, depth (ticks), dt_ns."""
    y = torch.as_tensor(y, dtype=torch.float64).detach()
    on = torch.as_tensor(out_norm, dtype=torch.float64)
    typ = torch.zeros(len(y), dtype=torch.int64)
    typ = torch.where(y[:, 1] > y[:, 0], 1, typ)
    best = torch.where(typ == 1, y[:, 1], y[:, 0])
    typ = torch.where(y[:, 2] > best, 2, typ)
    side = torch.where(y[:, 3] >= 0, 1, -1)
    ls = torch.clamp(y[:, 4] * on[1] + on[0], -20.0, 30.0)
    size = torch.clamp(torch.floor(torch.exp(ls) + 0.5), 1, max_size)
    depth = torch.floor(torch.clamp(y[:, 5] * on[3] + on[2], -max_depth, max_depth) + 0.5)
    lt = torch.clamp(y[:, 6] * on[5] + on[4], 0.0, 30.0)
    dt = torch.clamp(torch.floor(torch.expm1(lt) * 1000.0 + 0.5), min_dt_ns, max_dt_ns)
    return torch.stack([typ, side, size.long(), depth.long(), dt.long()], 1).numpy()


# ---------------------------------------------------------------- training pairs


@dataclass
class Pairs:
    """(state, order) pairs: ``states`` (n, history, features) raw; ``orders`` (n, 5): type, side, size, depth
    (ticks), dt_ns (time to the next order); ``source`` describes where they came from."""

    states: np.ndarray
    orders: np.ndarray
    source: list[str] = field(default_factory=list)
    r_bar: int = 100_000

    def __len__(self) -> int:
        return len(self.states)

    @staticmethod
    def concat(parts: list[Pairs]) -> Pairs:
        if not parts:
            raise MultiexecError("no (state, order) pairs to join")
        return Pairs(np.concatenate([p.states for p in parts]), np.concatenate([p.orders for p in parts]),
                     [s for p in parts for s in p.source], parts[0].r_bar)

    def mirrored(self) -> Pairs:
        """These pairs and their buy/sell mirror images (every state's signed features negated, every order's
        side flipped): a generator trained on both treats the two sides alike, so a small side bias learned from
        one market's days cannot pile one side of its own book up over a day."""
        s = self.states.copy()
        s[:, :, list(W.SIGNED_FEATURES)] *= -1.0
        o = self.orders.copy()
        o[:, W.PA_SIDE] *= -1
        return Pairs(np.concatenate([self.states, s]), np.concatenate([self.orders, o]),
                     [*self.source, "mirrored"], self.r_bar)

    def summary(self) -> dict:
        t = self.orders[:, W.PA_TYPE]
        return {"pairs": len(self), **{f"share_{n}": float((t == i).mean()) for i, n in enumerate(W.ACTION_NAMES)},
                "median_size": float(np.median(self.orders[:, W.PA_SIZE])),
                "median_dt_us": float(np.median(self.orders[:, 4]) / 1000)}


def _extract(stream: np.ndarray, history: int, skip_before_ns: int, r_bar: int, source: str) -> Pairs:
    """Run the compiled extractor over a message stream (rows of :data:`multiexec.lob.world` ``ST_*``)."""
    n = len(stream)
    if n < 2:
        raise MultiexecError(f"{source}: fewer than two orders, no pairs")
    px = stream[:, W.ST_PX]
    lo, hi = int(px[px > 0].min()), int(px.max())
    span = hi - lo + 1
    n_ticks = 1 << max(10, int(np.ceil(np.log2(span + 64))))
    if n_ticks > 1 << 18:
        raise MultiexecError(f"{source}: prices span {span} ticks, too wide for one book")
    base = max(0, lo - (n_ticks - span) // 2)
    limits = int((stream[:, W.ST_KIND] == W.S_LIMIT).sum())
    st = E.new_state(1, 1, [base], n_ticks, pool=limits + 64, trade_log=2 * n + 64, msg_log=3 * n + 64)
    states = np.empty((n, history * N_FEATURES))
    actions = np.empty((n, 5), np.int64)
    got = W.extract_pairs(stream, st, history, states, actions, int(skip_before_ns))
    if got < 0:
        raise MultiexecError(f"{source}: the replay book ran out of room at row {-got}")
    states, actions = states[:got], actions[:got]
    dt = np.diff(actions[:, W.PA_TIME])
    orders = actions[:-1].copy()
    orders[:, 4] = np.maximum(dt, 0)
    return Pairs(states[:-1].reshape(-1, history, N_FEATURES), orders, [source], r_bar)


def pairs_from_orders(orders: pd.DataFrame, tick_dollars: float = 0.01, history: int = 5, skip_s: float = 0.0,
                      symbol: str | None = None, source: str = "orders", r_bar: int = 100_000) -> Pairs:
    """Pairs from a simulated day's message log (``Simulation.orders()`` or ``orders.parquet``): every limit,
    market and cancel message of the background traders, with the book replayed from the log."""
    o = orders if symbol is None else orders[orders["symbol"] == symbol]
    keep = o["msg"].isin(["limit", "market", "cancel"]).to_numpy() & (o["order_id"].to_numpy() != E.REJECTED)
    o = o[keep]
    kind = o["msg"].map({"limit": W.S_LIMIT, "market": W.S_MARKET, "cancel": W.S_CANCEL}).to_numpy(np.int64)
    px = o["price"].to_numpy(np.float64)
    ticks = np.where(np.isfinite(px), np.round(px / tick_dollars), -1).astype(np.int64)
    stream = np.stack([o["time_ns"].to_numpy(np.int64), kind, o["side"].to_numpy(np.int64), ticks,
                       o["size"].to_numpy(np.int64), o["order_id"].to_numpy(np.int64)], 1)
    skip = int(o["time_ns"].min() + skip_s * 1e9) if len(o) else 0
    return _extract(np.ascontiguousarray(stream), history, skip, r_bar, source)


def pairs_from_simulation(config_name: str, seeds, history: int = 5, progress: bool = False) -> Pairs:
    """Simulate ``config_name`` for each seed (whole days) and take the pairs of each day's message log."""
    from multiexec.lob.config import get_config
    from multiexec.lob.sim import Simulation

    parts = []
    for seed in seeds:
        cfg = get_config(config_name)
        if len(cfg.symbols) != 1:
            raise MultiexecError(f"config {config_name!r} has {len(cfg.symbols)} symbols; the world agent trains on one")
        sim = Simulation(cfg, seed=int(seed))
        sim.run(progress=progress)
        parts.append(pairs_from_orders(sim.orders(), cfg.tick_dollars, history, source=f"{config_name} seed {seed}",
                                       r_bar=cfg.symbols[0].fundamental.r_bar))
    return Pairs.concat(parts)


def pairs_from_lobster(data, history: int = 5, skip_s: float = 300.0) -> Pairs:
    """Pairs from a LOBSTER sample (:class:`multiexec.lob.lobster.LobsterData`): new limit orders (type 1),
    cancels and deletions (2, 3), executions of visible orders (4; those of one incoming order at one time make
    one market order of the opposite side). Hidden executions, crosses and halts are skipped. Prices in cents.
    The book is rebuilt from the messages alone, so the first ``skip_s`` seconds only warm it up."""
    m = data.messages
    typ = m["type"].to_numpy()
    keep = np.isin(typ, [1, 2, 3, 4])
    m = m[keep]
    typ = typ[keep]
    kind = np.select([typ == 1, typ <= 3, typ == 4], [W.S_LIMIT, W.S_CANCEL, W.S_EXEC]).astype(np.int64)
    t = np.round(m["time"].to_numpy() * 1e9).astype(np.int64)
    px = (m["price"].to_numpy() // 100).astype(np.int64)  # dollars x 10000 -> cents
    stream = np.stack([t, kind, m["direction"].to_numpy(np.int64), px, m["size"].to_numpy(np.int64),
                       m["order_id"].to_numpy(np.int64)], 1)
    r_bar = int(np.median(px))
    return _extract(np.ascontiguousarray(stream), history, int(t[0] + skip_s * 1e9), r_bar,
                    f"LOBSTER {data.message_csv.name}")


# ---------------------------------------------------------------- the critic's view of an order


def out_norm_of(pairs: Pairs) -> np.ndarray:
    """Standardisation of (log size, depth, log1p dt_us): mean and std of each over the pairs (depth over the
    limit and cancel orders only)."""
    o = pairs.orders
    ls = np.log(np.maximum(o[:, W.PA_SIZE], 1))
    dep = o[o[:, W.PA_TYPE] != W.A_MARKET, W.PA_DEPTH].astype(np.float64)
    if not len(dep):
        dep = np.zeros(1)
    lt = np.log1p(o[:, 4] / 1000.0)
    return np.array([ls.mean(), max(ls.std(), 1e-3), dep.mean(), max(dep.std(), 1e-3), lt.mean(), max(lt.std(), 1e-3)])


def encode_actions(orders: np.ndarray, out_norm) -> np.ndarray:
    """Orders (n, 5) -> the critic's view (n, N_OUT): type one-hot, side +-1, standardised log size, depth
    (0 for market orders), log1p dt_us."""
    o = np.asarray(orders)
    on = np.asarray(out_norm, np.float64)
    out = np.zeros((len(o), N_OUT))
    out[np.arange(len(o)), o[:, W.PA_TYPE]] = 1.0
    out[:, 3] = np.sign(o[:, W.PA_SIDE])
    out[:, 4] = (np.log(np.maximum(o[:, W.PA_SIZE], 1)) - on[0]) / on[1]
    dep = np.where(o[:, W.PA_TYPE] == W.A_MARKET, on[2], o[:, W.PA_DEPTH])
    out[:, 5] = (dep - on[2]) / on[3]
    out[:, 6] = (np.log1p(o[:, 4] / 1000.0) - on[4]) / on[5]
    return out


def soft_actions(y: torch.Tensor) -> torch.Tensor:
    """A generator's raw actions in the critic's view: softmax of the type scores, tanh of the side score, the
    standardised numbers as they are."""
    return torch.cat([torch.softmax(y[:, :3], dim=1), torch.tanh(y[:, 3:4]), y[:, 4:]], dim=1)


def dt_quantiles_of(pairs: Pairs, n: int = 101) -> np.ndarray:
    """log1p(dt_us) of the pairs' orders at ``n`` evenly spaced probabilities (for ``dt_source="empirical"``)."""
    return np.quantile(np.log1p(pairs.orders[:, 4] / 1000.0), np.linspace(0.0, 1.0, n))


def input_range_of(pairs: Pairs, tail: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """The range of the training states the generator may rely on: per feature the ``tail`` and ``1 - tail``
    quantiles over the pairs (every decision of the history alike), repeated over the history."""
    s = pairs.states.reshape(-1, N_FEATURES)
    lo, hi = np.quantile(s, tail, axis=0), np.quantile(s, 1.0 - tail, axis=0)
    h = pairs.states.shape[1]
    return np.tile(lo, h), np.tile(hi, h)


def input_norm_of(pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
    """Standardisation of the state: per-feature mean and std over the pairs, repeated over the history."""
    s = pairs.states.reshape(-1, N_FEATURES)
    mean, std = s.mean(0), s.std(0)
    std = np.where(std > 1e-6, std, 1.0)
    h = pairs.states.shape[1]
    return np.tile(mean, h), np.tile(std, h)
