"""The built-in synthetic market: many assets, minute bars on the 390-minute grid, business days.

Model (all parameters in :class:`SyntheticParams`, estimated from real minute bars by :func:`fit_params`;
the embedded defaults ``synthetic_default.json`` come from ``us_minute_2018``):

- Daily scale: each asset has a long-run daily volatility (log-normal across assets) and a GARCH(1,1)
  daily variance ``s2_d = v(1-a-b) + a R_{d-1}^2 + b s2_{d-1}`` driven by its realised close-to-close
  return ``R_d``; a constant daily drift (the fitted mean log return); a share of the daily variance
  falls overnight (open gap).
- Minute returns inside a day: ``r_m = drift/M + s_d sqrt((1-w_on)/M) * prof_m * y_m`` where
  ``prof_m`` is the fitted intraday volatility profile (mean square 1) and ``y`` is a unit-variance
  innovation with intraday GARCH(1,1) clustering (restarted each day), Student-t tails (df from the
  fitted kurtosis), an MA(1) term (the fitted lag-1 autocorrelation, bid-ask bounce) and one common
  factor giving every pair of assets the fitted correlation of 30-minute returns.
- Volume: asset level (log-normal across assets) x daily level (AR(1) in logs) x the fitted U-shaped
  intraday profile (the closing-auction volume sits in the last minute, as in the loaders' fold rule)
  x a log-normal minute noise (AR(1) within the day) that rises with |return| (fitted link).
- High/low extend beyond open/close by the fitted multiple of the minute's volatility.

No mean-return pattern is fitted: the only fitted drift is the constant daily drift. Every minute
is traded (``traded`` is all True). The same seed gives the same market.

Planted pattern for experiments (not fitted, off by default): ``intraday_drift`` (basis points per day,
:func:`generate` / ``SyntheticConfig.intraday_drift``) adds a common, deterministic drift to every asset's
log price from the open to the close of each day, ``intraday_drift * 1e-4 / M`` per minute (spread evenly,
so the log price rises linearly through the day and each step's mean price moves by the same amount per
step); the overnight gap gets ``-intraday_drift * 1e-4``, so close-to-close returns, the daily GARCH, the
price levels and the order sets ranked on daily closes stay as without it. With a positive drift buying
early and selling late both pay, i.e. independent buy and sell orders all want to buy before they sell,
which is the setting in which a shared cash balance binds (docs/iac_investigation.md section 7). The
innovations are drawn exactly as without the drift (same random stream), so ``0.0`` gives the market
bit for bit unchanged and a non-zero value shifts the same paths.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import minimize
from scipy.signal import lfilter

from multiexec.data.bars import MinuteBars
from multiexec.data.daily import DailyBars
from multiexec.errors import MultiexecError

DEFAULT_PARAMS_FILE = "synthetic_default.json"


class SyntheticParams(BaseModel):
    """Parameters of the synthetic market (see the module docstring); produced by :func:`fit_params`."""

    model_config = ConfigDict(extra="forbid")
    first_minute: int = 570
    volume_profile: list[float]  # (M,) share of daily volume per minute, sums to 1
    vol_profile: list[float]  # (M,) minute-return volatility profile, mean square 1
    log_volume_mean: float  # mean over assets of log average daily volume (shares)
    log_volume_std: float  # dispersion of that level across assets
    daily_volume_std: float  # std of log daily volume around the asset's level
    daily_volume_ar: float  # AR(1) coefficient of log daily volume
    minute_volume_std: float  # std of the minute log-volume noise (after the |return| link)
    minute_volume_ar: float  # AR(1) coefficient of the minute log-volume noise within a day
    volume_return_link: float  # slope of minute log volume on log|standardised return|
    t_df: float  # Student-t degrees of freedom of minute innovations
    garch_alpha: float  # intraday GARCH(1,1) on deseasonalised minute returns
    garch_beta: float
    ma1: float  # MA(1) coefficient of minute returns
    factor_corr: float  # pairwise correlation of 30-minute returns
    daily_drift: float  # mean daily log return
    daily_vol_logmean: float  # mean over assets of log daily volatility (close to close)
    daily_vol_logstd: float  # dispersion of log daily volatility across assets
    daily_garch_alpha: float
    daily_garch_beta: float
    overnight_share: float  # share of daily return variance in the overnight gap
    log_price_mean: float
    log_price_std: float
    hl_extension: float  # mean extension of high (low) beyond max (min) of open/close, in minute-vol units
    provenance: dict = Field(default_factory=dict)
    fitted_stats: dict = Field(default_factory=dict)

    @property
    def n_minutes(self) -> int:
        return len(self.vol_profile)


def default_params() -> SyntheticParams:
    """The embedded defaults (fitted on ``us_minute_2018``)."""
    text = resources.files("multiexec.data").joinpath(DEFAULT_PARAMS_FILE).read_text()
    return SyntheticParams.model_validate_json(text)


def load_params(path: str | Path | None) -> SyntheticParams:
    """Parameters from a JSON file written by ``multiexec data fit``; None gives the embedded defaults."""
    if path is None:
        return default_params()
    p = Path(path)
    if not p.exists():
        raise MultiexecError(f"synthetic parameter file not found: {p}")
    try:
        return SyntheticParams.model_validate_json(p.read_text())
    except ValueError as exc:
        raise MultiexecError(f"{p}: not a valid synthetic parameter file: {exc}") from None


# ------------------------------------------------------------------------------------------- fit
def _minute_returns(bars: MinuteBars) -> np.ndarray:
    """(D, A, M) log returns inside each day: minute 0 from its open, later minutes close to close."""
    r = np.empty(bars.close.shape)
    r[:, :, 0] = np.log(bars.close[:, :, 0] / bars.open[:, :, 0])
    r[:, :, 1:] = np.diff(np.log(bars.close), axis=2)
    return r


def _garch_nll(params: np.ndarray, u2: np.ndarray) -> float:
    """Gaussian negative log-likelihood of unit-variance GARCH(1,1) along the last axis, h_0 = 1."""
    a, b = params
    if a < 0 or b < 0 or a + b >= 0.999:
        return 1e18
    h = 1.0 + lfilter([0.0, a], [1.0, -b], u2 - 1.0, axis=-1)
    h = np.maximum(h, 1e-6)
    return float(0.5 * np.mean(np.log(h) + u2 / h))


def _fit_garch(u: np.ndarray) -> tuple[float, float]:
    """(alpha, beta) of a GARCH(1,1) with unit unconditional variance, pooled over series (rows)."""
    u2 = np.nan_to_num(u) ** 2
    best = None
    for b0 in (0.5, 0.8, 0.95):
        res = minimize(_garch_nll, x0=[0.05, b0], args=(u2,), method="Nelder-Mead",
                       options={"xatol": 1e-4, "fatol": 1e-8, "maxiter": 400})
        if best is None or res.fun < best.fun:
            best = res
    return float(best.x[0]), float(best.x[1])


def _lag_corr(x: np.ndarray, lag: int) -> float:
    """Pooled lag-``lag`` autocorrelation along the last axis (series demeaned per row)."""
    x = x - x.mean(axis=-1, keepdims=True)
    num = (x[..., lag:] * x[..., :-lag]).sum()
    return float(num / (x * x).sum())


def _daily_returns_std(daily_close: np.ndarray) -> np.ndarray:
    """Per-asset standardised daily log returns (D-1, A), NaN kept."""
    r = np.diff(np.log(daily_close), axis=0)
    return r / np.nanstd(r, axis=0, keepdims=True)


FIT_STAGES = ("intraday volatility", "daily scale", "volume", "statistics")
TAIL_GRID = (3.0, 3.5, 4.0, 5.0, 6.0, 8.0, 12.0, 20.0, 40.0)


def fit_params(bars: MinuteBars, history: DailyBars | None = None, provenance: dict | None = None,
               progress: bool = False) -> SyntheticParams:
    """Estimate :class:`SyntheticParams` from real minute bars (and, if given, a longer daily history).

    ``history`` (same or overlapping symbols) is used for the daily drift and the daily GARCH, which
    a few weeks of minute data cannot pin down; without it both come from the minute bars' daily closes.
    ``progress``: a progress bar over the stages (the Student-t tail match simulates one market per grid point
    and takes most of the time).
    """
    from tqdm.auto import tqdm

    if bars.n_days < 5 or bars.n_assets < 2:
        raise MultiexecError(f"fit needs at least 5 days and 2 assets, got {bars.n_days} days, {bars.n_assets} assets")
    bar = tqdm(total=len(FIT_STAGES) + len(TAIL_GRID), desc="fit", unit="stage", disable=not progress)
    bar.set_postfix_str(FIT_STAGES[0])
    M = bars.n_minutes
    r = _minute_returns(bars)
    # intraday volatility: day scale, profile, GARCH, tails, MA(1)
    sig_da = np.sqrt(np.mean(r**2, axis=2, keepdims=True))
    sig_da = np.where(sig_da > 0, sig_da, np.nan)
    z = r / sig_da
    prof = np.sqrt(np.nanmean(z**2, axis=(0, 1)))
    prof = prof / np.sqrt(np.mean(prof**2))
    u = np.nan_to_num((z / prof).reshape(-1, M))
    ga, gb = _fit_garch(u)
    h = 1.0 + lfilter([0.0, ga], [1.0, -gb], u**2 - 1.0, axis=-1)
    eps = (u / np.sqrt(np.maximum(h, 1e-6))).ravel()
    eps = eps[eps != 0]
    exkurt = float(np.mean(eps**4) / np.mean(eps**2) ** 2 - 3.0)
    t_df = float(np.clip(4.0 + 6.0 / max(exkurt, 1e-3), 4.2, 60.0))
    rho1 = float(np.clip(_lag_corr(u, 1), -0.45, 0.45))
    ma1 = 0.0 if abs(rho1) < 1e-6 else float((1 - np.sqrt(1 - 4 * rho1**2)) / (2 * rho1))
    # cross-asset correlation of 30-minute returns
    corr30 = _mean_corr_blocks(r, 30)
    bar.update()
    bar.set_postfix_str(FIT_STAGES[1])
    # daily scale
    dclose = bars.close[:, :, -1]
    rcc = np.diff(np.log(dclose), axis=0)
    ron = np.log(bars.open[1:, :, 0] / dclose[:-1])
    dvol = np.std(rcc, axis=0)
    overnight_share = float(np.clip(np.mean(np.var(ron, axis=0) / np.var(rcc, axis=0)), 0.0, 0.9))
    if history is not None:
        common = [s for s in bars.symbols if s in set(history.symbols)]
        if len(common) < 2:
            raise MultiexecError("fit: the daily history shares fewer than 2 symbols with the minute bars")
        hc = history.select(symbols=common).close
        hr = np.diff(np.log(hc), axis=0)
        drift = float(np.nanmean(hr))
        hstd = _daily_returns_std(hc)
        dga, dgb = _fit_garch(np.nan_to_num(hstd.T))
    else:
        drift = float(np.mean(rcc))
        dga, dgb = _fit_garch((rcc / np.std(rcc, axis=0)).T)
    bar.update()
    bar.set_postfix_str(FIT_STAGES[2])
    # volume
    vol = bars.volume
    dv = vol.sum(axis=2)
    logdv = np.log(np.maximum(dv, 1.0))
    level = np.log(dv.mean(axis=0))
    dev = logdv - level[None, :] + 0.5 * np.var(logdv - level[None, :], axis=0, keepdims=True)
    dev = dev - dev.mean(axis=0, keepdims=True)
    vprof = np.mean(vol / np.maximum(dv[:, :, None], 1.0), axis=(0, 1))
    vprof = vprof / vprof.sum()
    traded = bars.traded & (vol > 0)
    e = np.where(traded, np.log(np.maximum(vol, 1.0) / (dv[:, :, None] * vprof)), np.nan)
    ell = np.where(traded & (u.reshape(r.shape) != 0), np.log(np.abs(u.reshape(r.shape)) + 1e-12), np.nan)
    ok = np.isfinite(e) & np.isfinite(ell)
    ec = e[ok] - e[ok].mean()
    lc = ell[ok] - ell[ok].mean()
    kappa = float(np.sum(ec * lc) / np.sum(lc * lc))
    w = np.where(ok, e - np.nanmean(e[ok]) - kappa * (ell - np.nanmean(ell[ok])), np.nan)
    wm = np.nan_to_num(w)
    pair = ok[:, :, 1:] & ok[:, :, :-1]
    phi = float(np.sum((wm[:, :, 1:] * wm[:, :, :-1])[pair]) / np.sum((wm[:, :, :-1] ** 2)[pair]))
    # high/low extension in minute-vol units
    scale = (sig_da * prof[None, None, :])
    up = np.log(bars.high / np.maximum(bars.open, bars.close)) / scale
    dn = np.log(np.minimum(bars.open, bars.close) / bars.low) / scale
    hl = float(np.nanmean(np.where(bars.traded, 0.5 * (up + dn), np.nan)))
    lp = np.log(bars.close[:, :, -1].mean(axis=0))
    bar.update()
    bar.set_postfix_str(FIT_STAGES[3])
    params = SyntheticParams(
        first_minute=int(bars.minutes[0]),
        volume_profile=[float(x) for x in vprof], vol_profile=[float(x) for x in prof],
        log_volume_mean=float(level.mean()), log_volume_std=float(level.std()),
        daily_volume_std=float(np.std(dev)), daily_volume_ar=float(np.clip(_lag_corr(dev.T, 1), 0, 0.99)),
        minute_volume_std=float(np.nanstd(w)), minute_volume_ar=float(np.clip(phi, 0, 0.99)),
        volume_return_link=kappa, t_df=t_df, garch_alpha=ga, garch_beta=gb, ma1=ma1,
        factor_corr=float(np.clip(corr30, 0.0, 0.95)), daily_drift=drift,
        daily_vol_logmean=float(np.mean(np.log(dvol))), daily_vol_logstd=float(np.std(np.log(dvol))),
        daily_garch_alpha=dga, daily_garch_beta=dgb, overnight_share=overnight_share,
        log_price_mean=float(lp.mean()), log_price_std=float(lp.std()), hl_extension=hl,
        provenance=dict(provenance or {}, n_assets=bars.n_assets, n_days=bars.n_days,
                        first_date=str(bars.dates[0]), last_date=str(bars.dates[-1]),
                        history=None if history is None else history.source,
                        residual_excess_kurtosis=exkurt, lag1_autocorr=rho1),
        fitted_stats=market_stats(bars),
    )
    bar.update()
    try:
        return _match_tails(params, bars.n_assets, bars.n_days, bar)
    finally:
        bar.close()


def _match_tails(params: SyntheticParams, n_assets: int, n_days: int, bar=None) -> SyntheticParams:
    """Choose the Student-t df by simulated moments: the synthetic tail ratio (q99.9/q75 of |minute return|,
    standardised per asset) must equal the real one. Robust where the kurtosis of a finite sample is not."""
    target = params.fitted_stats["tail_ratio"]
    grid = np.array(TAIL_GRID)
    ratios = []
    for df in grid:
        if bar is not None:
            bar.set_postfix_str(f"tail match, t df {df:g}")
        syn = generate(params.model_copy(update={"t_df": float(df)}), n_assets, n_days, 0, seed=12345)[0]
        ratios.append(market_stats(syn)["tail_ratio"])
        if bar is not None:
            bar.update()
    ratios = np.array(ratios)
    order = np.argsort(ratios)  # the ratio falls as df rises
    df = float(np.interp(target, ratios[order], grid[order]))
    prov = dict(params.provenance, t_df_kurtosis_moment=params.t_df, tail_ratio_target=target,
                tail_ratio_grid={f"{g:g}": float(r) for g, r in zip(grid, ratios)})
    return params.model_copy(update={"t_df": df, "provenance": prov})


# -------------------------------------------------------------------------------------- generate
MAX_INTRADAY_DRIFT_BPS = 1e4


def check_intraday_drift(value: float) -> float:
    """The planted intraday drift (bp/day) if it is a finite number of at most 10,000 bp in size, else a clear error."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise MultiexecError(f"intraday_drift must be a number of basis points per day, got {value!r}") from None
    if not np.isfinite(v) or abs(v) > MAX_INTRADAY_DRIFT_BPS:
        raise MultiexecError(f"intraday_drift must be finite and within ±{MAX_INTRADAY_DRIFT_BPS:g} bp per day, "
                             f"got {value!r}")
    return v


def _student(rng: np.random.Generator, df: float, size) -> np.ndarray:
    return rng.standard_t(df, size=size) * np.sqrt((df - 2.0) / df)


def generate(
    params: SyntheticParams | None = None, n_assets: int = 30, n_days: int = 60, history_days: int = 30,
    seed: int = 0, start: str = "2017-01-02", intraday_drift: float = 0.0,
) -> tuple[MinuteBars, DailyBars]:
    """Simulate ``history_days + n_days`` business days; returns the last ``n_days`` as minute bars and
    the first ``history_days`` as daily bars (the trailing history that order generation ranks on).

    ``intraday_drift``: planted open-to-close drift of every asset's log price, basis points per day
    (module docstring); 0 leaves the market unchanged."""
    p = params if params is not None else default_params()
    if n_assets < 1 or n_days < 1 or history_days < 0:
        raise MultiexecError(f"synthetic market needs n_assets >= 1, n_days >= 1, history_days >= 0; "
                             f"got {n_assets}, {n_days}, {history_days}")
    intraday_drift = check_intraday_drift(intraday_drift)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise MultiexecError(f"seed of the synthetic market must be an integer >= 0, got {seed!r}")
    rng = np.random.default_rng(seed)
    D, A, M = history_days + n_days, n_assets, p.n_minutes
    prof = np.asarray(p.vol_profile)
    vprof = np.asarray(p.volume_profile)
    rho = p.factor_corr
    # innovations with one common factor
    eps = (np.sqrt(rho) * _student(rng, p.t_df, (D, 1, M)) + np.sqrt(1 - rho) * _student(rng, p.t_df, (D, A, M)))
    on = (np.sqrt(rho) * _student(rng, p.t_df, (D, 1)) + np.sqrt(1 - rho) * _student(rng, p.t_df, (D, A)))
    # intraday GARCH(1,1), restarted each day, then MA(1)
    x = np.empty((D, A, M))
    h = np.ones((D, A))
    prev = np.zeros((D, A))
    om = 1.0 - p.garch_alpha - p.garch_beta
    for m in range(M):
        if m > 0:
            h = om + p.garch_alpha * prev**2 + p.garch_beta * h
        prev = np.sqrt(h) * eps[:, :, m]
        x[:, :, m] = prev
    del eps
    y = x
    y[:, :, 1:] += p.ma1 * x[:, :, :-1].copy()
    y /= np.sqrt(1.0 + p.ma1**2)
    U = (y * prof).sum(axis=2) / np.sqrt(M)
    # daily GARCH on the realised close-to-close return
    vbar = np.exp(2 * (p.daily_vol_logmean + p.daily_vol_logstd * rng.standard_normal(A)))
    sig = np.empty((D, A))
    s2 = vbar.copy()
    w_on = p.overnight_share
    shock = np.sqrt(w_on) * on + np.sqrt(1 - w_on) * U
    da, db = p.daily_garch_alpha, p.daily_garch_beta
    for d in range(D):
        if d > 0:
            s2 = vbar * (1 - da - db) + da * (sig[d - 1] * shock[d - 1]) ** 2 + db * s2
        sig[d] = np.sqrt(s2)
    rmin = p.daily_drift * (1 - w_on) / M + (sig * np.sqrt((1 - w_on) / M))[:, :, None] * prof * y
    ron = p.daily_drift * w_on + sig * np.sqrt(w_on) * on
    if intraday_drift != 0.0:  # planted pattern (module docstring); skipped at 0 so the default is bit for bit unchanged
        rmin += intraday_drift * 1e-4 / M
        ron -= intraday_drift * 1e-4
    # prices
    p0 = np.exp(p.log_price_mean + p.log_price_std * rng.standard_normal(A))
    steps = np.concatenate([ron[:, :, None], rmin], axis=2)  # (D, A, 1+M): gap then minutes
    del rmin
    logp = np.log(p0)[None, :, None] + np.cumsum(steps.transpose(1, 0, 2).reshape(A, -1), axis=1).reshape(
        A, D, M + 1).transpose(1, 0, 2)
    del steps
    close = np.exp(logp[:, :, 1:])
    opn = np.exp(logp[:, :, :-1])
    del logp
    mvol = (sig * np.sqrt((1 - w_on) / M))[:, :, None] * prof
    k = p.hl_extension / np.sqrt(2 / np.pi)
    high = np.maximum(opn, close) * np.exp(k * mvol * np.abs(rng.standard_normal((D, A, M))))
    low = np.minimum(opn, close) * np.exp(-k * mvol * np.abs(rng.standard_normal((D, A, M))))
    # volume
    level = np.exp(p.log_volume_mean + p.log_volume_std * rng.standard_normal(A))
    dev = np.empty((D, A))
    phi = p.daily_volume_ar
    dev[0] = p.daily_volume_std * rng.standard_normal(A)
    for d in range(1, D):
        dev[d] = phi * dev[d - 1] + p.daily_volume_std * np.sqrt(1 - phi**2) * rng.standard_normal(A)
    ell = np.log(np.abs(y) + 1e-12)
    ell = ell - ell.mean()
    noise = rng.standard_normal((D, A, M)) * p.minute_volume_std * np.sqrt(1 - p.minute_volume_ar**2)
    wv = lfilter([1.0], [1.0, -p.minute_volume_ar], noise, axis=-1)
    ev = np.exp(p.volume_return_link * ell + wv)
    ev /= ev.mean(axis=2, keepdims=True)
    dvol = level[None, :] * np.exp(dev - 0.5 * p.daily_volume_std**2)
    volume = np.maximum(np.round(dvol[:, :, None] * vprof * ev), 1.0)
    dates = np.busday_offset(np.datetime64(start, "D"), np.arange(D), roll="forward")
    minutes = p.first_minute + np.arange(M)
    full = MinuteBars(
        symbols=[f"SYN{i:03d}" for i in range(A)], dates=dates, minutes=minutes, open=opn, high=high, low=low,
        close=close, volume=volume, traded=np.ones((D, A, M), bool), source="synthetic",
        meta={"seed": seed, "params": p.provenance.get("command", "defaults")},
    )
    hist = DailyBars.from_minute(full.select(dates=dates[:history_days]))
    bars = full.select(dates=dates[history_days:])
    return bars, hist


# ----------------------------------------------------------------------------------------- stats
def _mean_corr_blocks(r: np.ndarray, block: int) -> float:
    """Mean pairwise cross-asset correlation of ``block``-minute returns (within days)."""
    D, A, M = r.shape
    nb = M // block
    if nb < 1 or A < 2:
        return float("nan")
    rb = r[:, :, : nb * block].reshape(D, A, nb, block).sum(axis=3)
    x = rb.transpose(1, 0, 2).reshape(A, -1)
    c = np.corrcoef(x)
    return float((c.sum() - np.trace(c)) / (A * (A - 1)))


STAT_LABELS = {
    "minute_excess_kurtosis": "excess kurtosis of minute returns",
    "minute_ret_acf1": "lag-1 autocorrelation of minute returns",
    "abs_ret_acf_1_10": "autocorrelation of |minute return|, mean of lags 1-10",
    "abs_ret_open_midday": "mean |minute return| first 30 min / middle 30 min",
    "abs_ret_close_midday": "mean |minute return| last 30 min / middle 30 min",
    "volume_open_midday": "volume first 30 min / middle 30 min",
    "volume_close_midday": "volume last 30 min / middle 30 min",
    "corr_30min": "mean cross-asset correlation of 30-min returns",
    "daily_vol_pct": "daily volatility, close to close (%)",
    "tail_ratio": "tail ratio q99.9/q75 of |minute return|",
    "minutes_without_trades_pct": "minutes without trades (%)",
}


def market_stats(bars: MinuteBars) -> dict[str, float]:
    """Comparison statistics of a minute-bar panel (see :data:`STAT_LABELS`).

    Minute returns are close-to-close inside a day (no overnight); per-asset series are
    standardised before pooling; autocorrelations use pairs within a day only.
    """
    M = bars.n_minutes
    r = np.diff(np.log(bars.close), axis=2)  # (D, A, M-1)
    rs = r / r.std(axis=(0, 2), keepdims=True)
    kurt = float(np.mean(rs**4) / np.mean(rs**2) ** 2 - 3.0)
    acf1 = float(np.mean([_lag_corr(r[:, a], 1) for a in range(bars.n_assets)]))
    absr = np.abs(r)
    abs_acf = float(np.mean([[_lag_corr(absr[:, a], k) for k in range(1, 11)] for a in range(bars.n_assets)]))
    vshare = bars.volume / np.maximum(bars.volume.sum(axis=2, keepdims=True), 1.0)
    prof = vshare.mean(axis=(0, 1))
    w = min(30, M // 3)
    mid0 = M // 2 - w // 2
    mid = prof[mid0: mid0 + w].mean()
    aprof = np.abs(rs).mean(axis=(0, 1))  # (M-1,), entry k is the return into minute k+1
    dclose = bars.close[:, :, -1]
    dvol = np.std(np.diff(np.log(dclose), axis=0), axis=0).mean() * 100 if bars.n_days > 2 else float("nan")
    full = np.empty(bars.close.shape)
    full[:, :, 0] = np.log(bars.close[:, :, 0] / bars.open[:, :, 0])
    full[:, :, 1:] = r
    return {
        "minute_excess_kurtosis": kurt,
        "tail_ratio": float(np.quantile(np.abs(rs), 0.999) / np.quantile(np.abs(rs), 0.75)),
        "minute_ret_acf1": acf1,
        "abs_ret_acf_1_10": abs_acf,
        "abs_ret_open_midday": float(aprof[: w - 1].mean() / aprof[mid0 - 1: mid0 - 1 + w].mean()),
        "abs_ret_close_midday": float(aprof[-w:].mean() / aprof[mid0 - 1: mid0 - 1 + w].mean()),
        "volume_open_midday": float(prof[:w].mean() / mid),
        "volume_close_midday": float(prof[-w:].mean() / mid),
        "corr_30min": _mean_corr_blocks(full, 30),
        "daily_vol_pct": float(dvol),
        "minutes_without_trades_pct": float(100 * (1 - bars.traded.mean())),
    }


def compare_stats(real: MinuteBars, synthetic: MinuteBars):
    """Table (pandas DataFrame) of :func:`market_stats` on real and synthetic bars side by side."""
    import pandas as pd

    a, b = market_stats(real), market_stats(synthetic)
    return pd.DataFrame({"statistic": [STAT_LABELS[k] for k in a], "real": list(a.values()),
                         "synthetic": [b[k] for k in a]})


def save_params(params: SyntheticParams, path: str | Path) -> None:
    Path(path).write_text(json.dumps(params.model_dump(), indent=1) + "\n")
