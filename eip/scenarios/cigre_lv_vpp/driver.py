"""The CIGRE LV VPPs' network driver: the three phases on real packets (on `topologies.grid.CigreEvTopo`),
and the ledger check (every BEE debited once is credited once).
"""

import subprocess
import sys
import time
from pathlib import Path

from eip.card.harness import ledger_rows, wait_for
from eip.scenarios.base import RunContext

EV_IP_AWAY = "10.3.0.50"


def verify_ledger(path: Path) -> bool:
    """`eip ledger verify` on a card's ledger: True if its hash chain and signatures hold."""
    done = subprocess.run([sys.executable, "-m", "eip.cli.main", "ledger", "verify", str(path)],
                          capture_output=True, text=True)  # fmt: skip
    return done.returncode == 0


def ledger_check(root: Path, names: list[str]) -> dict:
    """Every debited BEE row credited once (and nothing credited that was not debited), by rows."""
    debits, credits, ok = set(), set(), {}
    for n in names:
        path = root / n / "ledger.sqlite"
        if not path.exists():
            continue
        debits |= ledger_rows(path, "debit")
        credits |= ledger_rows(path, "credit")
        ok[n] = verify_ledger(path)
    server = {r for r in credits if r[0].startswith("02:00:00:00:00:fd")}
    return {
        "debit_rows": len(debits),
        "credit_rows": len(credits - server),
        "debits_equal_credits": debits == credits - server,
        "ledgers_verified": len(ok),
        "ledger_verify_ok": all(ok.values()),
    }


def _islanded_events(card, since: int = 0) -> list:
    events = card.call("events")["events"][since:]
    return [e for e in events if e["kind"] == "unreachable" and "islanded" in e["detail"]]


def phase_trading(emu, q: int) -> dict:
    net = emu.net
    done = []
    for src, dst in (("load-r1", "load-r11"), ("load-c1", "load-c12"),  # inside a VPP
                     ("load-r15", "load-i2"), ("load-i2", "load-c13"),  # across VPPs
                     ("load-c14", "load-r16")):  # fmt: skip
        res = net.card(src, timeout=90).call("transfer", to=dst, quantity=q, timeout=60)
        done.append({"from": src, "to": dst, "quantity": q, "reason": res.get("reason"),
                     "delivered": res.get("delivered")})  # fmt: skip
    # A BEE pool sale on the residential router: sell, crossing buy, delivered as BEEs.
    sell = net.card("load-r17").call("order", side="send", quantity=q, price_micro_per_kbee=300_000)
    buy = net.card("load-r18").call("order", side="ask", quantity=q // 2,
                                    price_micro_per_kbee=400_000)  # fmt: skip
    fill = buy["fills"][0] if buy.get("fills") else {}

    def sale_delivered():
        rows = ledger_rows(emu.state_root / "load-r18" / "ledger.sqlite", "credit")
        return sum(x for _t, _s, x in rows) == q // 2

    wait_for(sale_delivered, 60, "the pool sale to be delivered")
    return {
        "transfers": done,
        "transfers_done": sum(d["reason"] == "done" for d in done),
        "pool": {
            "sell_state": sell.get("state"),
            "fill_quantity": fill.get("quantity"),
            "fill_price_micro_per_kbee": fill.get("price_micro_per_kbee"),
            "delivered": True,
        },
    }


def phase_island(emu, q: int) -> dict:
    net = emu.net
    sender = net.card("load-r1")
    before = len(sender.call("events")["events"])
    net.island("vpp3")
    t_island = time.monotonic()
    tid = sender.call("offer", to="load-c17", quantity=q)["transfer_id"]
    events = wait_for(lambda: _islanded_events(sender, before), 20, "unreachable (islanded)")
    inside = net.card("load-c18", timeout=90).call("transfer", to="load-c19", quantity=q,
                                                   timeout=60)  # fmt: skip
    status = emu.status()
    status_islanded = status.get("controller", {}).get("islanded") or status.get("islanded") or []
    net.rejoin("vpp3")
    time.sleep(0.5)
    res = net.card("load-r1", timeout=150).call("wait", transfer_id=tid, timeout=120)
    return {
        "islanded_vpp": "vpp3",
        "islanded_events": len(events),
        "islanded_event_detail": events[0]["detail"] if events else "",
        "controller_islanded": status_islanded,
        "inside_island": {"reason": inside.get("reason"), "delivered": inside.get("delivered")},
        "cross_island_after_rejoin": {
            "reason": res.get("reason"),
            "delivered": res.get("delivered"),
        },
        "island_seconds": round(time.monotonic() - t_island, 1),
        "transfers_done": int(inside.get("reason") == "done") + int(res.get("reason") == "done"),
    }


def _follow_address(net, name: str) -> None:
    """Restart a card with no fixed `energy_ip` in its config, so it takes its interface's address
    (and notices a new one within 1 s); the builder's configs pin it."""
    import yaml

    host = net.host(name)
    host.stop_card()
    path = net.card_dir(name) / "card.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg.pop("energy_ip", None)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    host.card_proc = None
    host.start_card(net.card_dir(name), config=path)
    net.wait_cards([name], 30)


def phase_ev(ctx: RunContext, topo, state_root: Path, q: int) -> dict:
    """The EV's switch port moves from s1 to s3 mid-transfer (standalone L2 switches)."""
    from eip.net.build import EnergyNetwork

    with EnergyNetwork(topo, controller=None, state_root=state_root) as net:
        _follow_address(net, "ev")
        ev = net.card("ev")
        before = ev.call("status")
        seller = net.card("load-r1")
        tid = seller.call("offer", to="ev", quantity=q)["transfer_id"]
        credits = lambda: sum(x for _t, _s, x in ledger_rows(state_root / "ev" / "ledger.sqlite",  # noqa: E731
                                                             "credit"))  # fmt: skip
        wait_for(lambda: credits() >= min(q // 10, 5000), 60, "the first credits to the EV")
        at_move = credits()
        mn = net.net
        host = mn["ev"]
        port = host.defaultIntf().link.intf2.name  # the s1 side of the EV's cable
        subprocess.run(["ovs-vsctl", "del-port", "s1", port], check=True)
        subprocess.run(["ovs-vsctl", "add-port", "s3", port], check=True)
        intf = host.defaultIntf().name
        host.cmd(f"ip addr flush dev {intf}")
        host.cmd(f"ip addr add {EV_IP_AWAY}/24 dev {intf}")
        host.cmd(f"ip route replace default via 10.3.0.254 dev {intf}")
        moved_at = time.monotonic()
        wait_for(lambda: ev.call("status")["energy_ip"] == EV_IP_AWAY, 10, "the EV's new address")
        noticed_s = time.monotonic() - moved_at
        res = seller.call("wait", transfer_id=tid, timeout=120)
        after = ev.call("status")
        events = [e["kind"] for e in ev.call("events")["events"]]
        ctx.progress("phases", 3, 3)
        return {
            "before": {k: before.get(k) for k in ("mac", "energy_ip", "vpp")},
            "after": {k: after.get(k) for k in ("mac", "energy_ip", "vpp", "home_vpp")},
            "credited_at_move": at_move,
            "noticed_new_address_s": round(noticed_s, 2),
            "moved_event": "moved" in events,
            "transfer": {
                "reason": res.get("reason"),
                "delivered": res.get("delivered"),
                "quantity": q,
            },
            "same_mac": before.get("mac") == after.get("mac"),
            "transfers_done": int(res.get("reason") == "done"),
        }
