"""The page at ``/``: the key's days and, for one day, each order's progress against its decisions, the cash through
the day and executed vs decided volume per step, as server-rendered SVG (no script, no external files)."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;font-size:13px}
td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}a{color:#1565c0}
.bar{fill:#90caf9}.done{fill:#1565c0}.exe{fill:#2e7d32}.dec{fill:#c8e6c9}svg{background:#fafafa;margin:4px 0}"""


def _polyline(values: list[float], w: int, h: int) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    n = max(len(values) - 1, 1)
    pts = " ".join(f"{10 + i * (w - 20) / n:.1f},{h - 10 - (v - lo) / span * (h - 20):.1f}" for i, v in enumerate(values))
    return (f'<svg id="cash" width="{w}" height="{h}"><polyline points="{pts}" fill="none" stroke="#1565c0" '
            f'stroke-width="2"/><text x="10" y="12" font-size="11">cash {values[0]:,.0f} → {values[-1]:,.0f}</text></svg>')


def _steps_svg(state: dict, w: int = 520, h: int = 140) -> str:
    orders = state["orders"]
    T = state["n_steps"]
    dec = [sum(o["decided"][t] * o["amount"] for o in orders if t < len(o["decided"])) for t in range(T)]
    exe = [sum(o["executed"][t] * o["amount"] for o in orders if t < len(o["executed"])) for t in range(T)]
    top = max(dec + exe + [1e-12])
    bw = (w - 20) / max(T, 1)
    parts = [f'<svg id="steps" width="{w}" height="{h}">']
    for t in range(T):
        x = 10 + t * bw
        hd, he = dec[t] / top * (h - 30), exe[t] / top * (h - 30)
        parts.append(f'<rect class="dec" x="{x:.1f}" y="{h - 10 - hd:.1f}" width="{bw * 0.45:.1f}" height="{hd:.1f}">'
                     f'<title>step {t}: decided {dec[t]:,.0f} shares</title></rect>')
        parts.append(f'<rect class="exe" x="{x + bw * 0.45:.1f}" y="{h - 10 - he:.1f}" width="{bw * 0.45:.1f}" '
                     f'height="{he:.1f}"><title>step {t}: executed {exe[t]:,.0f} shares</title></rect>')
    parts.append('<text x="10" y="12" font-size="11">decided (light) vs executed (dark) shares per step</text></svg>')
    return "".join(parts)


def _progress(o: dict, w: int = 160) -> str:
    f, d = min(o["filled_fraction"], 1.0), min(o["decided_fraction"], 1.0)
    return (f'<svg width="{w}" height="12" class="progress"><rect class="bar" width="{d * w:.1f}" height="12"/>'
            f'<rect class="done" width="{f * w:.1f}" height="12"/></svg>')


def render_page(key: dict | None, days: list[dict], state: dict | None, link_key: str | None = None) -> str:
    head = f"<!doctype html><html><head><meta charset='utf-8'><title>multiexec service</title><style>{STYLE}</style>" \
           "</head><body><h1>multiexec execution service</h1>"
    if key is None:
        return head + ("<p>Give your API key:</p><form method='get' action='/'><input name='key' type='password'>"
                       "<button>open</button></form><p><a href='/docs'>API (OpenAPI)</a></p></body></html>")
    k = f"&key={quote(link_key)}" if link_key else ""  # links keep a key given in the address
    rows = ["<table id='days'><tr><th>day</th><th>date</th><th>status</th><th>policy</th><th>orders</th><th>step</th>"
            "<th>cash</th></tr>"]
    for d in days:
        rows.append(f"<tr><td><a href='?day={quote(d['id'])}{k}' class='day-link'>{escape(d['id'][:8])}</a></td>"
                    f"<td>{escape(d['date'])}</td><td>{escape(d['status'])}</td><td>{escape(d['policy_name'])} "
                    f"v{d['policy_version']}</td><td>{d['n_orders']}</td><td>{d['next_index']}/{d['n_steps']}</td>"
                    f"<td>{d['cash']:,.0f}</td></tr>")
    rows.append("</table>")
    body = [f"<p>key <b>{escape(key['name'])}</b>: {len(days)} days · <a href='/docs'>API</a></p>", "".join(rows)]
    if state is not None:
        body.append(f"<h2 id='day' data-day='{escape(state['day_id'])}'>day {escape(state['day_id'][:8])} — "
                    f"{escape(state['date'])}, {escape(state['status'])}, step {state['next_index']} of "
                    f"{state['n_steps']}</h2>")
        body.append("<h3>cash through the day</h3>" + _polyline(state["cash"], 520, 120))
        body.append("<h3>executed vs decided per step</h3>" + _steps_svg(state))
        body.append("<h3>orders: filled (dark) against decided so far (light)</h3><table id='orders'><tr><th>order</th>"
                    "<th>symbol</th><th>side</th><th>amount</th><th>filled</th><th>decided</th><th>progress</th></tr>")
        for o in state["orders"]:
            body.append(f"<tr><td>{escape(o['id'])}</td><td>{escape(o['symbol'])}</td><td>{o['side']}</td>"
                        f"<td>{o['amount']:,.0f}</td><td>{100 * o['filled_fraction']:.1f}%</td>"
                        f"<td>{100 * o['decided_fraction']:.1f}%</td><td>{_progress(o)}</td></tr>")
        body.append("</table>")
    return head + "".join(body) + "</body></html>"
