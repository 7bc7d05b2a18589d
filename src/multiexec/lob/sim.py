"""A simulated market day: builds the compiled kernel state from a :class:`MarketConfig`, runs it, and exposes
market data, the logs and a message interface for external (Python) agents.

>>> sim = Simulation(get_config("rmsc04"), seed=1)
>>> sim.run()                       # the whole day, with a progress bar
>>> sim.trades(), sim.orders(), sim.l2(), sim.bars()

Branching (INTAGS' calibration): ``sim.fork(seed)`` continues the same market state with new random streams;
``sim.world_decision()`` runs to the world agent's next decision and returns the state it will condition on;
``sim.world_sample(n, seed)`` draws raw actions from its generator for that state and
``sim.force_world_action(y)`` makes its next decision take ``y`` instead of a fresh draw.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from multiexec.errors import MultiexecError
from multiexec.lob import engine as E
from multiexec.lob import kernel as K
from multiexec.lob import rng as R
from multiexec.lob import world as W
from multiexec.lob.config import MarketConfig

# ABIDES' order-size mixture: (cumulative weight, value; 0 = log-normal component)
_SIZE_W = np.cumsum([0.2, 0.7, 0.06, 0.004, 0.0329, 0.001, 0.0006, 0.0004, 0.0005, 0.0003, 0.0003])
_SIZE_V = np.array([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000], dtype=np.float64)

# stream keys: agents use their id; fundamentals use FUND_KEY + symbol index
FUND_KEY = 1 << 40
FORK_KEY = 3 << 41  # forks reseed every stream with keys offset by this
MINUTE_NS = 60_000_000_000


def _noise_wakes(u: np.ndarray, open_ns: int, close_ns: int, before_open_s: float, intraday) -> np.ndarray:
    """Noise agents' wake-up times from uniforms ``u``: density proportional to the intraday multiplier on
    ``[open - before_open_s, close)`` (flat before the open, as ABIDES' uniform draw); earlier times wake at the
    open."""
    lo = open_ns - before_open_s * 1e9
    grid = np.linspace(lo, close_ns, 4001)
    tt = np.maximum(grid, open_ns)
    amp, tau = intraday.amplitude, intraday.tau_s * 1e9
    dens = 1.0 + amp * (np.exp(-(tt - open_ns) / tau) + np.exp(-(close_ns - tt) / tau)) if amp > 0 else np.ones_like(tt)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    t = np.interp(u * cdf[-1], cdf, grid)
    return np.maximum(open_ns, t.astype(np.int64))


class Simulation:
    """One market day for ``config`` and ``seed``; ``external`` names extra agents driven from Python.

    Agent ids: per symbol in config order, noise, value, momentum, market makers, world agent; then the external
    agents.
    """

    def __init__(self, config: MarketConfig, seed: int, external: list[tuple[str, int]] | None = None):
        self.config = config
        self.seed = int(seed)
        external = list(external or [])
        S = len(config.symbols)
        self.symbols = [s.name for s in config.symbols]
        types, syms = [], []
        for si, s in enumerate(config.symbols):
            for typ, n in ((K.NOISE, s.noise.n), (K.VALUE, s.value.n), (K.MOMENTUM, s.momentum.n),
                           (K.MM, s.market_makers.n), (K.WORLD, s.world.n if s.world else 0)):
                types += [typ] * n
                syms += [si] * n
        self.external = {}
        for name, sym in external:
            if not 0 <= sym < S:
                raise MultiexecError(f"external agent {name!r}: symbol index {sym} out of range (0..{S - 1})")
            self.external[name] = len(types)
            types.append(K.EXTERNAL)
            syms.append(sym)
        A = len(types)
        ag_type = np.array(types, np.int64)
        ag_sym = np.array(syms, np.int64)
        self.agent_type_names = np.array(K.TYPE_NAMES)[ag_type] if A else np.array([], str)
        for name, aid in self.external.items():
            self.agent_type_names[aid] = name

        rng = R.seed_streams(self.seed, np.arange(A, dtype=np.int64))
        frng = R.seed_streams(self.seed, FUND_KEY + np.arange(S, dtype=np.int64))
        open_ns, close_ns = config.open_ns, config.close_ns
        lat = config.latency

        fp = np.zeros((A, K.NFP))
        fs = np.zeros((A, K.NFS))
        mom_i = 0
        ag_aux = np.full(A, -1, np.int64)
        n_mom = int((ag_type == K.MOMENTUM).sum())
        long_w = max([s.momentum.long_window for s in config.symbols] + [1])
        hist = np.zeros((max(n_mom, 1), long_w))
        max_mm = max([s.market_makers.n for s in config.symbols] + [0])
        mm_list = np.full((S, max(max_mm, 1)), -1, np.int64)
        # a private stream for set-up draws (latencies, first wake-ups), so agents' own streams start fresh
        setup = R.seed_streams(self.seed, np.array([FUND_KEY * 2], np.int64))
        U = R.uniforms(setup, 0, 2 * A).reshape(A, 2) if A else np.zeros((0, 2))
        hi = np.where(ag_type == K.MM, lat.mm_max_us, lat.max_us)
        lo = np.minimum(lat.min_us, hi)
        ag_lat = ((lo + (hi - lo) * U[:, 0]) * 1000).astype(np.int64)
        first_wake = np.full(A, -1, np.int64)
        start = 0
        worlds = []  # (agent id, symbol index, WorldConfig, WorldWeights)
        for si, s in enumerate(config.symbols):
            for typ, n in ((K.NOISE, s.noise.n), (K.VALUE, s.value.n), (K.MOMENTUM, s.momentum.n),
                           (K.MM, s.market_makers.n), (K.WORLD, s.world.n if s.world else 0)):
                a = np.arange(start, start + n)
                start += n
                u = U[a, 1]
                if typ == K.NOISE:
                    first_wake[a] = _noise_wakes(u, open_ns, close_ns, s.noise.start_before_open_s, config.intraday)
                    fp[a, K.N_SIZE] = s.noise.size
                    fp[a, K.N_MKT] = s.noise.market_order_share
                elif typ == K.VALUE:
                    v = s.value
                    fp[np.ix_(a, [K.V_RBAR, K.V_KAPPA, K.V_SIGN, K.V_SIGS, K.V_LAMBDA, K.V_AGGR, K.V_DEPTH, K.V_SIZE,
                                  K.V_MKT])] = [
                        s.fundamental.r_bar, v.kappa_per_s / 1e9, v.sigma_n, v.sigma_s, v.arrival_per_s / 1e9,
                        v.percent_aggr, v.depth_spread, v.size, v.market_order_share]
                    fs[a, K.V_RT] = s.fundamental.r_bar
                    fs[a, K.V_PREV] = -1
                    first_wake[a] = open_ns + (1e9 * u).astype(np.int64)
                elif typ == K.MOMENTUM:
                    m = s.momentum
                    fp[np.ix_(a, [K.M_WAKE, K.M_SIZE, K.M_SHORT, K.M_LONG])] = [m.wake_s * 1e9, m.size, m.short_window,
                                                                               m.long_window]
                    ag_aux[a] = np.arange(mom_i, mom_i + n)
                    mom_i += n
                    first_wake[a] = open_ns + (m.wake_s * 1e9 * u).astype(np.int64)
                elif typ == K.MM:
                    m = s.market_makers
                    fp[np.ix_(a, [K.K_POV, K.K_MIN, K.K_NT, K.K_SPACING, K.K_ALPHA, K.K_WAKE, K.K_SKEW, K.K_BACKSTOP,
                                  K.K_IMB, K.K_WINDOW, K.K_COOL, K.K_REPLACE])] = [
                        m.pov, m.min_order_size, m.num_ticks, m.level_spacing, m.spread_alpha, m.wake_s * 1e9,
                        m.price_skew, m.backstop_quantity, m.min_imbalance, m.window_ticks, m.requote_cooldown_s * 1e9,
                        float(m.replace)]
                    fs[a, K.K_MID] = -1
                    fs[a, K.K_SPREAD] = m.initial_spread
                    fs[np.ix_(a, [K.K_BUY, K.K_SELL])] = m.min_order_size
                    fs[a, K.K_LASTQ] = -1e30
                    mm_list[si, :n] = a
                    first_wake[a] = open_ns + (1e9 * u).astype(np.int64)
                elif typ == K.WORLD:
                    for aid in a:
                        ag_aux[aid] = len(worlds)
                        ag_lat[aid] = int(s.world.latency_us * 1000)
                        first_wake[aid] = open_ns
                        worlds.append((int(aid), si, s.world, s.world.load()))
        sp = np.zeros((S, K.NSP))
        fstate = np.zeros((S, K.NFSTATE))
        for si, s in enumerate(config.symbols):
            f = s.fundamental
            sp[si] = [f.r_bar, f.kappa_per_s / 1e9, f.vol_per_sqrt_s / math.sqrt(1e9), f.jumps_per_day / (6.5 * 3600e9),
                      f.jump_mean, f.jump_std, config.intraday.amplitude, config.intraday.tau_s * 1e9, open_ns, close_ns,
                      f.vol_of_vol, f.vol_tau_s * 1e9, f.activity_exponent]
            # the log-volatility starts from its stationary law (fundamental stream, drawn only when it is on)
            fstate[si] = [open_ns, f.r_bar, 0.0, f.vol_of_vol * R.normal(frng, si) if f.vol_of_vol > 0 else 0.0]
            rate = sp[si, K.F_JRATE]
            fstate[si, K.F_NEXTJ] = open_ns + R.exponential(frng, si, 1.0 / rate) if rate > 0 else 1e30

        dt = int(round(config.snapshot_interval_s * 1e9))
        n_snap = (close_ns - open_ns) // dt + 1
        depth = config.l2_depth
        max_push = 4 * max([s.market_makers.num_ticks for s in config.symbols] + [1]) + 4 + max_mm
        meta = np.zeros(K.KMETA, np.int64)
        meta[[K.K_NOW, K.K_OPEN, K.K_CLOSE, K.K_SNAPNEXT, K.K_SNAPDT, K.K_MAXPUSH, K.K_CDELAY]] = [
            open_ns, open_ns, close_ns, open_ns, dt, max_push, lat.computation_delay_ns]
        self.ks = K.KState(
            heap=np.zeros((2 * A + 4 * max_push + 1024, K.HCOLS), np.int64),
            ag_type=ag_type, ag_sym=ag_sym, ag_lat=ag_lat, ag_aux=ag_aux, rng=rng, fp=fp, fs=fs, hist=hist,
            sp=sp, fstate=fstate, frng=frng, mm_list=mm_list, imb_on=np.zeros(S, np.int64),
            lat=np.array([lat.jitter, lat.jitter_clip, lat.jitter_unit]),
            size_w=_SIZE_W, size_v=_SIZE_V,
            snap_t=np.zeros(n_snap, np.int64), snap_px=np.full((n_snap, S, 2, depth), -1, np.int64),
            snap_sz=np.zeros((n_snap, S, 2, depth), np.int64), meta=meta, **self._world_arrays(worlds),
        )
        self.ks.meta[K.K_STOP] = -1
        base = [max(0, s.fundamental.r_bar - config.n_ticks // 2) for s in config.symbols]
        self.ex = E.Exchange(state=E.new_state(S, A, base, config.n_ticks, pool=1 << 14,
                                               trade_log=1 << 17, msg_log=1 << 18))
        self.world_agents = {si: aid for aid, si, _, _ in worlds}
        self._weights = {si: w for _, si, _, w in worlds}
        for aid, si, wc, _ in worlds:
            self._warm_start(aid, si, wc)
        K.push_wakes(self.ks, first_wake)
        self._subs: list[list] = []
        self.fork_seeds: list[int] = []

    @staticmethod
    def _world_arrays(worlds) -> dict:
        """The kernel's world-agent arrays (one row per world agent; one row of zeros when there is none)."""
        flats = [w.flat() for _, _, _, w in worlds] or [(np.zeros(1), np.zeros(W.L_DIMS, np.int64))]
        nw = len(flats)
        P = max(len(f[0]) for f in flats)
        L = max(len(f[1]) for f in flats)
        par = np.zeros((nw, P))
        lay = np.zeros((nw, L), np.int64)
        for i, (p, lo) in enumerate(flats):
            par[i, :len(p)] = p
            lay[i, :len(lo)] = lo
        hist = max([w.history for *_, w in worlds] + [1])
        width = max([max(w.n_in, *w.hidden, W.N_OUT) for *_, w in worlds] + [1])
        cfg = np.zeros((nw, W.NWC))
        st = np.zeros((nw, W.W_HIST + hist * W.N_FEATURES))
        for i, (_, _, wc, w) in enumerate(worlds):
            cfg[i, [W.C_LAT, W.C_MINDT, W.C_MAXDT, W.C_MAXSIZE, W.C_MAXDEPTH, W.C_REDRAW, W.C_DTMODE, W.C_CANCEL]] = [
                round(wc.latency_us * 1000), round(wc.min_dt_us * 1000), round(wc.max_dt_s * 1e9), wc.max_size,
                wc.max_depth_ticks, wc.redraws, W.DT_EMPIRICAL if wc.empirical_dt(w) else W.DT_GENERATOR,
                W.CANCEL_VOLUME if wc.cancel_target == "volume" else W.CANCEL_DEPTH]
        return {"wpar": par, "wlay": lay, "wcfg": cfg, "wst": st,
                "wbuf": np.zeros((nw, W.N_FEATURES + max([w.noise_dim for *_, w in worlds] + [1]) + W.N_OUT
                                  + 2 * width)),
                "wint": np.zeros((nw, 4 * W.BOOK_LEVELS), np.int64)}

    def _warm_start(self, aid: int, si: int, wc) -> None:
        """Seed the book around the opening price with the world agent's resting orders (logged at the open)."""
        r_bar = self.config.symbols[si].fundamental.r_bar
        w = self.ks.wst[self.ks.ag_aux[aid]]
        half = wc.warm_spread_ticks // 2
        bid0, ask0 = r_bar - half, r_bar - half + wc.warm_spread_ticks
        for j in range(wc.warm_levels):
            for side, px in ((1, bid0 - j * wc.warm_spacing_ticks), (-1, ask0 + j * wc.warm_spacing_ticks)):
                if px >= 1:
                    self.ex.limit(self.open_ns, si, aid, side, int(px), int(wc.warm_size))
        w[W.W_MID] = 0.5 * (bid0 + ask0)
        w[W.W_SPREAD] = float(wc.warm_spread_ticks)
        w[W.W_BID], w[W.W_ASK] = bid0, ask0

    # ------------------------------------------------------------ running

    @property
    def now(self) -> int:
        return int(self.ks.meta[K.K_NOW])

    @property
    def open_ns(self) -> int:
        return int(self.ks.meta[K.K_OPEN])

    @property
    def close_ns(self) -> int:
        return int(self.ks.meta[K.K_CLOSE])

    @property
    def n_events(self) -> int:
        return int(self.ks.meta[K.K_NEVENTS])

    def subscribe(self, callback, freq_s: float, depth: int = 10, sym: int = 0) -> None:
        """Market-data subscription (ABIDES' L2 subscription): ``callback(time_ns, l2)`` with the book's first
        ``depth`` levels of symbol ``sym`` every ``freq_s`` seconds of simulated time, delivered as
        :meth:`run_until` passes each time (``l2`` as :meth:`Exchange.l2`, price ticks, -1 where empty)."""
        if freq_s <= 0 or depth < 1 or not 0 <= sym < len(self.symbols):
            raise MultiexecError(f"subscribe: need freq_s > 0, depth >= 1 and a symbol index < {len(self.symbols)}")
        step = int(round(freq_s * 1e9))
        self._subs.append([self.now + step, step, depth, sym, callback])

    def run_until(self, t_ns: int) -> None:
        """Advance the market to ``t_ns`` (ns after midnight), delivering subscribed market data on the way."""
        t_ns = min(int(t_ns), self.close_ns)
        while self._subs:
            sub = min(self._subs, key=lambda x: x[0])
            if sub[0] > t_ns:
                break
            self._advance(sub[0])
            sub[4](sub[0], self.ex.l2(sub[3], sub[2]))
            sub[0] += sub[1]
        self._advance(t_ns)

    def _advance(self, t_ns: int) -> int:
        """Run the kernel to ``t_ns``, growing arrays when it asks; returns OK or STOPPED."""
        while True:
            code = K.run_until(self.ks, self.ex.st, int(t_ns))
            if code in (K.OK, K.STOPPED):
                return code
            if code == K.NEED_EXCHANGE_ROOM:
                self.ex.ensure()
            else:
                h = self.ks.heap
                extra = max(h.shape[0], int(self.ex.st.meta[E.M_NREST]) + int(self.ks.meta[K.K_MAXPUSH]))
                self.ks = self.ks._replace(heap=np.concatenate([h, np.zeros((extra, h.shape[1]), h.dtype)]))

    def run(self, progress: bool = True, step_s: float = 60.0) -> None:
        """Run to the close, with a tqdm progress bar over simulated minutes."""
        from tqdm import tqdm

        step = int(step_s * 1e9)
        t = self.now
        total = max(0, math.ceil((self.close_ns - t) / step))
        with tqdm(total=total, desc=f"{self.config.name} seed {self.seed}", unit="sim-min", disable=not progress) as bar:
            while t < self.close_ns:
                t = min(t + step, self.close_ns)
                self.run_until(t)
                bar.update(1)
                bar.set_postfix(events=self.n_events, refresh=False)

    # ------------------------------------------------------------ branching and the world agent

    def fork(self, seed: int) -> Simulation:
        """A copy of this market, in the same state, that continues with new random streams drawn from ``seed``
        (every agent's and every fundamental's; events already scheduled keep their times). The same seed gives
        the same continuation; this simulation is not touched. Market-data subscriptions are not carried over
        (their callbacks belong to the caller): subscribe again on the fork."""
        new = object.__new__(Simulation)
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k not in ("ks", "ex", "_subs", "fork_seeds")})
        new.external = dict(self.external)
        ks = self.ks._asdict()
        nsnap = int(self.ks.meta[K.K_NSNAP])
        for name in ("snap_t", "snap_px", "snap_sz"):  # the day's snapshot buffers: copy the part taken so far
            a = ks[name]
            b = np.zeros(a.shape, a.dtype)
            b[:nsnap] = a[:nsnap]
            ks[name] = b
        new.ks = K.KState(**{k: v if k.startswith("snap_") else v.copy() for k, v in ks.items()})
        st = self.ex.st
        logs = {}
        for name, count in (("trl", E.M_NTR), ("oll", E.M_NOL)):
            a = getattr(st, name)
            b = np.zeros(a.shape, a.dtype)  # calloc: untouched pages cost nothing (zeros_like writes them all)
            n = int(st.meta[count])
            b[:n] = a[:n]
            logs[name] = b
        new.ex = E.Exchange(state=E.ExState(**{f: logs[f] if f in logs else getattr(st, f).copy()
                                               for f in E.ExState._fields}))
        new._subs = []
        new.fork_seeds = [*self.fork_seeds, int(seed)]
        A, S = new.ks.rng.shape[0], new.ks.frng.shape[0]
        new.ks.rng[:] = R.seed_streams(int(seed), FORK_KEY + np.arange(A, dtype=np.int64))
        new.ks.frng[:] = R.seed_streams(int(seed), FORK_KEY + FUND_KEY + np.arange(S, dtype=np.int64))
        new.ks.meta[K.K_STOP] = -1
        return new

    def world_agent(self, sym: int = 0) -> int:
        """Agent id of the world agent of symbol ``sym``."""
        if sym not in self.world_agents:
            raise MultiexecError(f"symbol {sym} has no world agent (configs with one: world:<weights>)")
        return self.world_agents[sym]

    def world_weights(self, sym: int = 0) -> W.WorldWeights:
        self.world_agent(sym)
        return self._weights[sym]

    def world_decision(self, sym: int = 0, until_ns: int | None = None) -> tuple[int, np.ndarray] | None:
        """Run the market up to the world agent's next decision (not taken yet) and return ``(time_ns, state)``:
        the state (history x features, raw) it will condition on. None when it has no decision before
        ``until_ns`` (default: the close); the market is then at ``until_ns``."""
        a = self.world_agent(sym)
        end = self.close_ns if until_ns is None else min(int(until_ns), self.close_ns)
        while True:
            nxt = min(x[0] for x in self._subs) if self._subs else None
            target = end if nxt is None else min(end, nxt)
            self.ks.meta[K.K_STOP] = a
            try:
                code = self._advance(target)
            finally:
                self.ks.meta[K.K_STOP] = -1
            if code == K.STOPPED:
                t = int(self.ks.heap[0, K.H_TIME])
                break
            if nxt is None or nxt > end:
                return None
            self.run_until(nxt)  # deliver the subscriptions due now
        return t, self.world_state(sym, t)

    def world_next_time(self, sym: int = 0) -> int | None:
        """Time of the world agent's next scheduled decision (None when it has none)."""
        a = self.world_agent(sym)
        h = self.ks.heap[: int(self.ks.meta[K.K_NHEAP])]
        t = h[(h[:, K.H_KIND] == K.WAKE) & (h[:, K.H_AGENT] == a), K.H_TIME]
        return int(t.min()) if len(t) else None

    def world_state(self, sym: int = 0, t_ns: int | None = None) -> np.ndarray:
        """The state (history x features, raw) the world agent would condition on if it decided at ``t_ns``
        (default: its next scheduled decision, else now) with the book as it is now; nothing changes."""
        a = self.world_agent(sym)
        w = self._weights[sym]
        out = np.empty(w.history * W.N_FEATURES)
        if t_ns is None:
            t_ns = self.world_next_time(sym)
        K.world_observation(self.ks, self.ex.st, a, self.now if t_ns is None else int(t_ns), out)
        return out.reshape(w.history, W.N_FEATURES)

    def world_sample(self, n: int, seed: int, sym: int = 0, state: np.ndarray | None = None) -> np.ndarray:
        """``n`` raw actions ``G(z | state)`` (z standard normal from ``seed``) of the world agent for ``state``
        (default: :meth:`world_state`, the state at its next decision), with the compiled forward the market
        runs: shape (n, N_OUT)."""
        w = self.world_weights(sym)
        x = (self.world_state(sym) if state is None else np.asarray(state, np.float64)).reshape(-1)
        zs = np.random.default_rng(seed).standard_normal((int(n), w.noise_dim))
        out = np.empty((int(n), W.N_OUT))
        par, lay = self.ks.wpar[self.ks.ag_aux[self.world_agent(sym)]], self.ks.wlay[self.ks.ag_aux[self.world_agent(sym)]]
        W.sample_actions(par, lay, x, zs, out)
        return out

    def world_decode(self, ys: np.ndarray, sym: int = 0) -> pd.DataFrame:
        """Orders of raw actions (type, side, size, depth in ticks, dt_ns), with this market's caps."""
        r = self.ks.ag_aux[self.world_agent(sym)]
        o = W.decode_many(self.ks.wpar[r], self.ks.wlay[r], np.atleast_2d(np.asarray(ys, np.float64)), self.ks.wcfg[r])
        df = pd.DataFrame(o, columns=["type", "side", "size", "depth", "dt_ns"])
        df["type"] = np.array(W.ACTION_NAMES, dtype=object)[df["type"].to_numpy()]
        return df

    def force_world_action(self, y, sym: int = 0) -> None:
        """Make the world agent's next decision take raw action ``y`` (N_OUT numbers) instead of drawing."""
        y = np.asarray(y, np.float64).reshape(-1)
        if y.shape != (W.N_OUT,) or not np.isfinite(y).all():
            raise MultiexecError(f"a world action is {W.N_OUT} finite numbers ({', '.join(W.OUT_NAMES)}), got "
                                 f"{y.shape[0]} values")
        st = self.ks.wst[self.ks.ag_aux[self.world_agent(sym)]]
        st[W.W_FY:W.W_FY + W.N_OUT] = y
        st[W.W_FORCED] = 1.0

    def world_last_action(self, sym: int = 0) -> np.ndarray:
        """The raw action of the world agent's latest decision."""
        st = self.ks.wst[self.ks.ag_aux[self.world_agent(sym)]]
        return st[W.W_LY:W.W_LY + W.N_OUT].copy()

    def world_counts(self, sym: int = 0) -> dict[str, int]:
        """Decisions taken, actions drawn again (they could not act) and cancels that found none of its shares
        at their level."""
        st = self.ks.wst[self.ks.ag_aux[self.world_agent(sym)]]
        return {"decisions": int(st[W.W_NDEC]), "redraws": int(st[W.W_NREDRAW]), "cancels_missed": int(st[W.W_NMISS])}

    # ------------------------------------------------------------ external agents

    def agent(self, name: str) -> int:
        if name not in self.external:
            raise MultiexecError(f"unknown external agent {name!r}; known: {sorted(self.external)}")
        return self.external[name]

    def _send(self, agent: int, kind: int, sym: int, side: int, px: int, qty: int, oid: int) -> None:
        ks = self.ks
        if ks.meta[K.K_NHEAP] + 1 > ks.heap.shape[0]:
            self.ks = ks._replace(heap=np.concatenate([ks.heap, np.zeros_like(ks.heap)]))
        K.push_message(self.ks, agent, self.now, kind, sym, side, px, qty, oid)

    def send_limit(self, agent: int, side: int, px: int, qty: int) -> None:
        """Send a limit order now; it reaches the exchange after the agent's latency."""
        self._send(agent, K.LIMIT, int(self.ks.ag_sym[agent]), side, int(px), int(qty), -1)

    def send_market(self, agent: int, side: int, qty: int) -> None:
        self._send(agent, K.MARKET, int(self.ks.ag_sym[agent]), side, 0, int(qty), -1)

    def send_cancel_all(self, agent: int) -> None:
        self._send(agent, K.CANCEL_ALL, int(self.ks.ag_sym[agent]), 0, 0, 0, -1)

    def send_cancel(self, agent: int, oid: int, qty: int = 0) -> None:
        self._send(agent, K.CANCEL, int(self.ks.ag_sym[agent]), 0, 0, int(qty), int(oid))

    def position(self, agent: int) -> tuple[int, int]:
        """(shares held in the agent's symbol, cash in ticks)."""
        st = self.ex.st
        return int(st.pos[agent, self.ks.ag_sym[agent]]), int(st.agv[agent, E.AG_CASH])

    # ------------------------------------------------------------ market data

    def l1(self, sym: int = 0) -> tuple[int, int, int, int]:
        return self.ex.l1(sym)

    def fundamental(self, sym: int = 0) -> float:
        """The fundamental value now (advances the oracle; for diagnostics)."""
        return float(K.observe_fundamental(self.ks, sym, self.now))

    def _dollars(self, ticks: np.ndarray) -> np.ndarray:
        out = ticks.astype(np.float64) * self.config.tick_dollars
        out[ticks < 0] = np.nan
        return out

    def trades(self) -> pd.DataFrame:
        """Trade log: time_ns, symbol, price (dollars), size, side (+1 buyer-initiated), the agents, and the id
        of the incoming (taker) order."""
        t = self.ex.trades()
        return pd.DataFrame({
            "time_ns": t["time"].to_numpy(np.int64),
            "symbol": np.array(self.symbols, dtype=object)[t["sym"].to_numpy()] if len(t) else np.array([], object),
            "price": t["px"].to_numpy(np.int64) * self.config.tick_dollars,
            "size": t["qty"].to_numpy(np.int64),
            "side": t["side"].to_numpy(np.int64),
            "buyer_agent": np.where(t["side"] > 0, t["taker_agent"], t["maker_agent"]).astype(np.int64),
            "seller_agent": np.where(t["side"] > 0, t["maker_agent"], t["taker_agent"]).astype(np.int64),
            "taker_order_id": t["taker"].to_numpy(np.int64),
        })

    def orders(self) -> pd.DataFrame:
        """Message log: time_ns, symbol, agent_id, agent_type, msg, side, price (NaN for market), size, order_id
        (the order the message created or refers to; -2 for a rejected order)."""
        m = self.ex.messages()
        sym = m["sym"].to_numpy()
        known = sym >= 0
        px = m["px"].to_numpy()
        names = np.array(self.symbols + [""], dtype=object)
        return pd.DataFrame({
            "time_ns": m["time"].to_numpy(np.int64),
            "symbol": names[np.where(known, sym, len(self.symbols))],
            "agent_id": m["agent"].to_numpy(np.int64),
            "agent_type": self.agent_type_names[m["agent"].to_numpy()].astype(object) if len(m) else np.array([], object),
            "msg": E.MSG_NAMES[m["msg"].to_numpy()].astype(object),
            "side": m["side"].to_numpy(np.int64),
            "price": self._dollars(np.where(m["msg"].to_numpy() == E.MSG_MARKET, -1, px)),
            "size": m["qty"].to_numpy(np.int64),
            "order_id": m["oid"].to_numpy(np.int64),
        })

    def l2(self) -> pd.DataFrame:
        """L2 snapshots taken every ``snapshot_interval_s``: time_ns, symbol, bid_px_1..N, bid_sz_1..N,
        ask_px_1..N, ask_sz_1..N (dollars, NaN where empty; sizes 0 where empty)."""
        ks = self.ks
        n = int(ks.meta[K.K_NSNAP])
        S, depth = len(self.symbols), ks.snap_px.shape[3]
        cols = {"time_ns": np.repeat(ks.snap_t[:n], S), "symbol": np.tile(np.array(self.symbols, object), n)}
        px = ks.snap_px[:n].reshape(n * S, 2, depth)
        sz = ks.snap_sz[:n].reshape(n * S, 2, depth)
        for k, side in ((0, "bid"), (1, "ask")):
            for j in range(depth):
                cols[f"{side}_px_{j + 1}"] = self._dollars(px[:, k, j])
            for j in range(depth):
                cols[f"{side}_sz_{j + 1}"] = sz[:, k, j].astype(np.int64)
        order = (["time_ns", "symbol"]
                 + [f"bid_px_{j + 1}" for j in range(depth)] + [f"bid_sz_{j + 1}" for j in range(depth)]
                 + [f"ask_px_{j + 1}" for j in range(depth)] + [f"ask_sz_{j + 1}" for j in range(depth)])
        return pd.DataFrame(cols)[order]

    def bars(self) -> pd.DataFrame:
        """Minute bars (long table: symbol, timestamp, open, high, low, close, volume) from the trades, for
        every minute from the open to the close. A minute without trades repeats the previous close (volume 0);
        minutes before the first trade take the first trade's price."""
        tr = self.trades()
        date = np.datetime64(self.config.date, "ns")
        o, c = self.open_ns, self.close_ns
        n_min = (c - o) // MINUTE_NS
        frames = []
        for s in self.symbols:
            t = tr[tr["symbol"] == s]
            minute = (t["time_ns"].to_numpy() - o) // MINUTE_NS
            keep = (minute >= 0) & (minute < n_min)
            if not keep.any():
                raise MultiexecError(f"no trades in {s} between the open and the close: minute bars need a price")
            g = pd.DataFrame({"m": minute[keep], "p": t["price"].to_numpy()[keep], "v": t["size"].to_numpy()[keep]})
            agg = g.groupby("m").agg(open=("p", "first"), high=("p", "max"), low=("p", "min"), close=("p", "last"),
                                     volume=("v", "sum")).reindex(np.arange(n_min))
            close = agg["close"].ffill().bfill()
            for f in ("open", "high", "low"):
                agg[f] = agg[f].fillna(close)
            agg["close"] = close
            agg["volume"] = agg["volume"].fillna(0.0).astype(np.float64)
            ts = date + (o + np.arange(n_min) * MINUTE_NS).astype("timedelta64[ns]")
            frames.append(pd.DataFrame({"symbol": s, "timestamp": ts, **{f: agg[f].to_numpy(np.float64) for f in
                                                                          ("open", "high", "low", "close", "volume")}}))
        return pd.concat(frames, ignore_index=True)
