"""Benchmark of the execution service over HTTP + JSON on the loopback address (docs/serve.md).

1. One step of a 1,000-order day with IaC^T (K = 3): end-to-end p50 / p99 as the client sees it (request built
   beforehand; send, server parses, validates, decides, commits, answers; client parses) and the in-process decision
   share (environment step + policy, the ``Server-Timing`` header), with 1 and 2 torch threads, on a free machine and
   with another process holding a core (a busy-loop subprocess).
2. 20 days of 100 orders stepping together (20 client threads): throughput, p99, errors.
3. A bounded soak (``--soak-seconds``): the same load repeated, the server's memory (RSS) sampled.

The server runs as its own process (``multiexec serve run``) on 127.0.0.1 and a throwaway SQLite file. Everything is
bounded in count and time. The IaC^T network is an untrained one (same size and cost as a trained one).

    .venv/bin/python benchmarks/bench_serve.py                      # quick run
    .venv/bin/python benchmarks/bench_serve.py --soak-seconds 600   # the 10-minute soak
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from multiexec.data.orders import DayOrders
from multiexec.execution.env import F_NOW, F_SEQ, ExecConfig, MultiOrderEnv
from multiexec.policies.agents import AgentConfig, ExecAgent
from multiexec.serve.registry import register_checkpoint
from multiexec.serve.replay import day_request, step_request
from multiexec.serve.store import Store
from multiexec.testing import free_port, random_walk_bars


def market(n_assets: int, n_days: int, orders_per_day: int, seed: int) -> MultiOrderEnv:
    rng = np.random.default_rng(seed)
    bars = random_walk_bars(rng, n_days, n_assets, 390, 1e-3)
    orders = []
    for d in range(n_days):
        syms = list(rng.choice(bars.symbols, orders_per_day, replace=False))
        side = rng.choice([-1, 1], orders_per_day)
        amount = rng.integers(100, 5000, orders_per_day).astype(float)
        px = bars.open[d, bars.symbol_index(syms), 0]
        cash = 0.3 * float((amount * px * (side < 0)).sum())
        orders.append(DayOrders(bars.dates[d], syms, side, amount, cash))
    return MultiOrderEnv(bars, orders, ExecConfig())


class Server:
    def __init__(self, db: str, threads: int, log: Path, omp_wait: str = "passive"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "multiexec.cli", "serve", "run", "--db", db, "--port",
                                      str(self.port), "--threads", str(threads), "--log-level", "warning",
                                      "--omp-wait", omp_wait],
                                     stdout=self.log, stderr=self.log)
        t0 = time.time()
        while time.time() - t0 < 120:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


def drive_day(client: httpx.Client, env: MultiOrderEnv, k: int, policy: str, lat: list, dec: list, errors: list,
              steps: int | None = None) -> None:
    """Create order set ``k`` and post its steps; request latencies (s) and decision shares (s) appended."""
    body = json.dumps(day_request(env, k, policy, None, env.cfg))
    r = client.post("/v1/days", content=body, headers={"content-type": "application/json"})
    if r.status_code != 201:
        errors.append(r.status_code)
        return
    created = r.json()
    decision, cash = created["decision"], float(env.orders[k].cash)
    for t in range(steps or env.n_steps):
        req, cash = step_request(env, k, t, decision, cash, env.cfg, created["order_ids"])
        for md in req["market"].values():  # as a feed sends them: prices to 1/100 cent, volumes in shares
            md["open"] = [round(x, 4) for x in md["open"]]
            md["close"] = [round(x, 4) for x in md["close"]]
            md["volume"] = [float(round(x)) for x in md["volume"]]
        payload = json.dumps(req)
        t0 = time.perf_counter()
        r = client.post(f"/v1/days/{created['day_id']}/steps", content=payload,
                        headers={"content-type": "application/json"})
        if r.status_code != 200:
            errors.append(r.status_code)
            return
        ans = r.json()
        lat.append(time.perf_counter() - t0)
        st = r.headers.get("server-timing", "")
        if "dur=" in st:
            dec.append(float(st.split("dur=")[1]) / 1e3)
        decision = ans["decision"]
        if decision is None:
            break


def pct(x, q) -> float:
    return float(np.percentile(np.asarray(x) * 1e3, q)) if len(x) else float("nan")


def busy_loop() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=1000, help="orders of the big day")
    ap.add_argument("--days", type=int, default=4, help="big days per setting (12 timed steps each)")
    ap.add_argument("--concurrent", type=int, default=20, help="days stepping together")
    ap.add_argument("--concurrent-orders", type=int, default=100)
    ap.add_argument("--soak-seconds", type=float, default=20.0)
    ap.add_argument("--threads", default="1/default,2/default,2/passive",
                    help="torch threads / OpenMP wait policy of the server, the settings to compare")
    ap.add_argument("--load-only", action="store_true", help="skip part 1 (the single big step)")
    ap.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    ckpt = work / "iac_t.pt"
    torch_seed = args.seed
    import torch

    torch.manual_seed(torch_seed)
    ExecAgent(AgentConfig(method="iac_t", f_seq=F_SEQ, f_now=F_NOW)).save(ckpt)
    big = market(max(args.orders + 10, 1100), args.days, args.orders, args.seed)
    small = market(400, args.concurrent, args.concurrent_orders, args.seed + 1)
    results: dict = {"orders": args.orders, "cpus": os.cpu_count(), "load_before": os.getloadavg()[0], "step": []}

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
    print(f"\n1. one step of a {args.orders}-order day, IaC^T K=3, HTTP+JSON (ms; {args.days} days x 12 steps)")
    print(f"{'threads':>7} {'omp wait':>8} {'other core busy':>15} {'p50':>8} {'p99':>8} {'decision p50':>12} "
          f"{'decision p99':>12} {'share':>6}")
    settings = [(int(x.split("/")[0]), (x.split("/") + ["passive"])[1]) for x in args.threads.split(",")]
    for threads, omp_wait in [] if args.load_only else settings:
        for loaded in (False, True):
            db = f"sqlite:///{work}/step-{threads}-{omp_wait}-{int(loaded)}.db"
            store = Store(db)
            key = store.add_key("bench")
            register_checkpoint(store, ckpt, name="iac_t", cfg=ExecConfig())
            store.dispose()
            server = Server(db, threads, work / "server.log", omp_wait)
            hog = busy_loop() if loaded else None
            lat, dec, errors = [], [], []
            try:
                with httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=120) as c:
                    drive_day(c, big, 0, "iac_t", [], [], errors, steps=2)  # warm-up
                    for k in range(args.days):
                        drive_day(c, big, k, "iac_t", lat, dec, errors, steps=12)
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
                server.stop()
            row = {"threads": threads, "omp_wait": omp_wait, "busy_core": loaded, "n": len(lat), "p50_ms": pct(lat, 50),
                   "p99_ms": pct(lat, 99), "decision_p50_ms": pct(dec, 50), "decision_p99_ms": pct(dec, 99),
                   "decision_share": float(np.sum(dec) / np.sum(lat)) if lat else float("nan"), "errors": len(errors)}
            results["step"].append(row)
            print(f"{threads:>7} {omp_wait:>8} {'yes' if loaded else 'no':>15} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f} "
                  f"{row['decision_p50_ms']:12.1f} {row['decision_p99_ms']:12.1f} {row['decision_share']:6.0%}"
                  + (f"  errors {len(errors)}" if errors else ""))

    # 2 and 3: concurrent days and the soak, one thread
    db = f"sqlite:///{work}/load.db"
    store = Store(db)
    key = store.add_key("bench")
    register_checkpoint(store, ckpt, name="iac_t", cfg=ExecConfig())
    store.dispose()
    server = Server(db, 1, work / "server.log")

    def wave(lat, errors):
        threads = []
        for k in range(args.concurrent):
            def work_k(k=k):
                with httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=120) as c:
                    drive_day(c, small, k, "iac_t", lat, [], errors)
            threads.append(threading.Thread(target=work_k))
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    try:
        lat, errors = [], []
        t0 = time.perf_counter()
        wave(lat, errors)
        wall = time.perf_counter() - t0
        conc = {"days": args.concurrent, "orders": args.concurrent_orders, "steps": len(lat), "seconds": wall,
                "steps_per_s": len(lat) / wall, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "errors": len(errors)}
        results["concurrent"] = conc
        print(f"\n2. {args.concurrent} days of {args.concurrent_orders} orders stepping together (IaC^T, 1 thread): "
              f"{len(lat)} steps in {wall:.1f}s = {conc['steps_per_s']:.1f} steps/s "
              f"({conc['steps_per_s'] * args.concurrent_orders:.0f} order-decisions/s), p50 {conc['p50_ms']:.0f} ms, "
              f"p99 {conc['p99_ms']:.0f} ms, errors {len(errors)}")

        rss, lat, errors, waves = [server.rss_mb()], [], [], 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < args.soak_seconds:
            wave(lat, errors)
            waves += 1
            rss.append(server.rss_mb())
        soak = {"seconds": time.perf_counter() - t0, "waves": waves, "steps": len(lat), "p99_ms": pct(lat, 99),
                "errors": len(errors), "rss_mb": rss}
        results["soak"] = soak
        half = len(rss) // 2
        print(f"\n3. soak {soak['seconds']:.0f}s: {waves} waves, {len(lat)} steps, p99 {soak['p99_ms']:.0f} ms, errors "
              f"{len(errors)}; server RSS MB start {rss[0]:.0f}, after first wave {rss[1] if len(rss) > 1 else rss[0]:.0f}"
              f", end {rss[-1]:.0f}, max {max(rss):.0f}; second-half growth {rss[-1] - rss[half]:+.0f} MB")
    finally:
        server.stop()
    results["load_after"] = os.getloadavg()[0]
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
