"""One run of the grid-limits scenario on the emulated four-node network, enforcing or measuring only.

At each boundary of the ISP's clock the driver opens the period's trades (`plan.trades_for`) as
offers paced at their power over `pace_share` of the period, watches them close, and cancels what is
still open at `cancel_share` of it: a trade for a period ends with the period (what was delivered stays in both
ledgers). Everything reported comes from the run: the transfers' results and ledgers, the cards'
events (limit-exceeded, window updates), the controller's counters and the ISP's per-period records.
"""

import contextlib
import logging
import time

from eip.card.harness import wait_for
from eip.errors import EipError
from eip.proc import cpu_s
from eip.reliability.faults import settled_books
from eip.scenarios.base import RunContext
from eip.scenarios.grid_limits.plan import trades_for

log = logging.getLogger(__name__)

EVENT_KINDS = ("limit-exceeded", "window-update", "rejected", "unreachable")


def isp_period(emu) -> int | None:
    """The period of the ISP's clock the controller's status is in (None before the first)."""
    return (emu.status() or {}).get("isp", {}).get("period")


def next_period(emu, after: int | None, timeout_s: float) -> int:
    """Wait until the ISP's clock is past `after` (any period when None); that period."""

    def past():
        p = isp_period(emu)
        return p if p is not None and (after is None or p > after) else None

    return wait_for(past, timeout_s, f"the ISP's period after {after}", poll_s=0.05)


def open_trades(emu, period: int, settings: dict) -> list[dict]:
    """The period's trades as paced offers; one row per trade with its transfer id."""
    period_s = settings["period_s"]
    rows = []
    for tr in trades_for(period % 12, settings["demand_factor"]):
        q = tr.bee(period_s)
        power = q / (settings["pace_share"] * period_s)
        res = emu.net.card(tr.seller, timeout=30).call(
            "offer", to=tr.buyer, quantity=q, power_bee_per_s=round(power, 3),
            price_micro_per_kbee=tr.price_micro_per_kbee,
        )  # fmt: skip
        rows.append({"period": period, "seller": tr.seller, "buyer": tr.buyer, "kw": tr.kw,
                     "price_cny_per_kwh": tr.price_cny_per_kwh, "planned_bee": q,
                     "transfer_id": res["transfer_id"]})  # fmt: skip
    return rows


def cancel_open(emu, rows: list[dict]) -> None:
    """End the trades still open (their period is over); a closed one answers no, which is fine."""
    for r in rows:
        with contextlib.suppress(EipError):  # already closed: done, rejected or timed out
            emu.net.card(r["seller"], timeout=30).call("cancel", transfer_id=r["transfer_id"])


def wait_closed(emu, rows: list[dict], deadline: float) -> float | None:
    """Poll the sellers until none of `rows` is open (the monotonic time then) or `deadline` (None)."""
    open_ = {(r["seller"], r["transfer_id"]) for r in rows}
    while open_ and time.monotonic() < deadline:
        for seller in sorted({s for s, _ in open_}):
            try:
                st = emu.net.card(seller, timeout=30).call("status")
            except EipError as exc:
                log.warning("status of %s: %s", seller, exc)
                continue
            ids = {t["transfer_id"] for t in st.get("transfers", [])}
            open_ = {(s, t) for s, t in open_ if s != seller or t in ids}
        if open_:
            time.sleep(0.1)
    return None if open_ else time.monotonic()


def finish(emu, rows: list[dict]) -> None:
    """Each trade's outcome from its seller: how it closed and the BEE delivered (both ledgers)."""
    for r in rows:
        res = emu.net.card(r["seller"], timeout=120).call(
            "wait", transfer_id=r["transfer_id"], timeout=90
        )
        r["reason"] = res.get("reason")
        r["delivered_bee"] = int(res.get("delivered", 0))


def card_events(emu) -> dict:
    """Per card, how many events of each kind of EVENT_KINDS it logged (its last 500 events)."""
    out = {}
    for card in emu.plan.cards:
        try:
            events = emu.net.card(card.name, timeout=30).call("events")["events"]
        except EipError as exc:
            log.warning("events of %s: %s", card.name, exc)
            continue
        out[card.name] = {k: sum(1 for e in events if e["kind"] == k) for k in EVENT_KINDS}
    return out


def run_mode(ctx: RunContext, enforce: bool, settings: dict, periods: int) -> dict:
    """One emulation: `periods` periods of trades; what the network did."""
    from topologies.four_node import FourNodeTopo

    period_s = settings["period_s"]
    t0 = time.perf_counter()
    label = "enforced" if enforce else "measure_only"
    with ctx.emulation(FourNodeTopo(), isp=True, isp_enforce=enforce, period_s=period_s,
                       isp_first_period=settings["first_period"], pools=False,
                       sden=False) as emu:  # fmt: skip
        pid = emu.controller.pid
        current = next_period(emu, None, 30)
        rows: list[dict] = []
        traded: list[int] = []
        timeline: list[dict] = []  # per period: opening time, when its trades closed, CPU
        for k in range(periods):
            current = next_period(emu, current, 3 * period_s)
            started, cpu_at = time.monotonic(), cpu_s(pid)
            batch = open_trades(emu, current, settings)
            opened = time.monotonic()
            done = wait_closed(emu, batch, started + settings["cancel_share"] * period_s)
            if done is None:
                cancel_open(emu, batch)
            closed = done if done is not None else time.monotonic()
            timeline.append({"period": current, "open_s": round(opened - started, 3),
                             "done_s": round(closed - started, 3), "cancelled": done is None,
                             "cpu_at": cpu_at})  # fmt: skip
            traded.append(current)
            rows += batch
            ctx.progress(label, k + 1, periods)
        next_period(emu, current, 3 * period_s)  # the last period's counters are recorded
        cpu_end = cpu_s(pid)
        for row, nxt in zip(timeline, [*(r["cpu_at"] for r in timeline[1:]), cpu_end], strict=True):
            row["controller_cpu_s"] = round(nxt - row.pop("cpu_at"), 3)  # boundary to boundary
        time.sleep(1.0)
        finish(emu, rows)
        books = settled_books(emu)
        status = emu.status()
        summary = emu.isp_summary()
        events = card_events(emu)
    return {
        "enforce": enforce, "periods": traded, "trades": rows, "books_ok": bool(books.get("ok")),
        "timeline": timeline,
        "isp": summary, "events": events,
        "cards": {name: {k: c.get(k) for k in ("quota_blocks", "import_blocks", "exported_bee",
                                               "imported_bee")}
                  for name, c in status.get("cards", {}).items()},
        "quantum_bee": status.get("quantum_bee", 10),
        "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip
