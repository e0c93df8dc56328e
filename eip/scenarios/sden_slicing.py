"""Seed 004 Fig. 5 on real packets: energy network slicing by the SDEN energy server in the controller.

The emulation's energy server is given the Fig. 5 configuration (`eip/sden/fig5.py`: PV forecast,
base load, battery buffer, the six clients with their kinds, rates and non-interruptible flags) through
a JSON profile (`EIP_SDEN_PROFILE`, read by `eip.sdn.sden_service.default_server`). Each Fig. 5 client
is a card of `vpp_lans(1, 7)`; it sends its Request (`ask` to peer "server", port 1) with its priority
class (1: fridge and heating, 2: EV, dishwasher, washer); the request's window and deadline are the
client's registered window in the profile (the card's `ask` op sends none). A seventh card asks for more
than the plan can still fit and is rejected.

Slots are compressed: the server's clock stands at the start of slot 0 while the requests are made
(so all six are admitted at t = 0 as in Fig. 5), then runs at `slot_real_s` seconds per 10-minute
slot and the server commits each slot as its clock passes it. The slices per slot are read from the
controller's status (`sden.slots`) and compared with `run_fig5()`, the same configuration offline.
Accepted requests are delivered at once as signed BEEs (1 BEE = 1 Wh, a packet is 10 BEE); the
clients' ledgers give the delivered energy per client.
"""

import json
import time
from pathlib import Path
from types import SimpleNamespace

from eip.card.harness import ledger_rows, wait_for
from eip.net.plan import plan_from_topo
from eip.scenarios.base import RunContext, experiment
from eip.sden.agents import KIND_CLASS
from eip.sden.fig5 import (
    BASE_LOAD_PACKETS,
    BUFFER,
    FIG5_REQUESTS,
    GENERATION,
    N_SLOTS,
    plot_fig5,
    run_fig5,
)
from eip.sden.packets import PacketSpec


def client_class(kind: str) -> int:
    return KIND_CLASS.get(kind, 2)


def fig5_profile(macs: list[str], epoch_s: int, slot_real_s: float, go_file: str,
                 extra: dict | None = None) -> dict:  # fmt: skip
    """The server profile: Fig. 5's server with its clients keyed by the cards' MACs (in the order of
    FIG5_REQUESTS), their windows, and the compressed clock."""
    spec = PacketSpec(10, 10, epoch_s)
    clients, windows = [], {}
    reqs = [(r.client, r.first_slot, r.last_slot) for r in FIG5_REQUESTS]
    if extra:
        reqs.append((SimpleNamespace(kind=extra["kind"], rate_packets_per_slot=extra["rate"],
                                     non_interruptible=False), 0, N_SLOTS - 1))  # fmt: skip
    for mac, (client, first, last) in zip(macs, reqs, strict=False):
        clients.append({"id": mac, "kind": client.kind,
                        "rate_packets_per_slot": client.rate_packets_per_slot,
                        "non_interruptible": client.non_interruptible})  # fmt: skip
        windows[mac] = {"start_s": spec.slot_start_s(first), "end_s": spec.slot_end_s(last),
                        "deadline_s": spec.slot_end_s(last)}  # fmt: skip
    return {
        "spec": {"wh": spec.wh, "minutes": spec.minutes, "epoch_s": epoch_s},
        "horizon_slots": N_SLOTS,
        "classes": 2,
        "policy": "edf",
        "sources": [{"id": "pv-vpp", "packets": list(GENERATION)}],
        "base_load": [BASE_LOAD_PACKETS] * N_SLOTS,
        "buffers": [
            {
                "id": BUFFER.buffer_id,
                "capacity_packets": BUFFER.capacity_packets,
                "charge_packets_per_slot": BUFFER.charge_packets_per_slot,
                "discharge_packets_per_slot": BUFFER.discharge_packets_per_slot,
                "soc_packets": BUFFER.soc_packets,
            }
        ],
        "clients": clients,
        "windows": windows,
        "clock": {"slot_real_s": slot_real_s, "go_file": go_file},
        "schedule_ahead_s": -1,  # commit nothing ahead of the clock
    }


def slot_checks(slots: list[dict]) -> dict:
    """Per-class served packets, buffer draws and the slicing invariants over the slots."""
    served = [sum(s["delivered"][k] for s in slots) for k in range(3)]
    return {
        "served_packets_by_class": {
            "emergency": served[0],
            "priority1": served[1],
            "priority2": served[2],
        },
        "buffer_draw_packets": sum(s["storage_draw"] for s in slots),
        "buffer_store_packets": sum(s["storage_store"] for s in slots),
        # what flexible load got from generation never exceeds the supply line
        "max_from_supply_minus_supply": max(sum(s["from_supply"]) - s["supply"] for s in slots),
        # everything delivered never exceeds supply plus the buffer's draw
        "max_allocated_minus_capacity": max(
            sum(s["delivered"]) - s["supply"] - s["storage_draw"] for s in slots
        ),
        # strict priority: class 2 gets packets only in slots where no class 1 packet waits
        "priority1_served_first": all(not (s["delivered"][2] and s["waiting"][1]) for s in slots),
    }


def offline_slots() -> list[dict]:
    """The Fig. 5 slots from `run_fig5()` in the status format."""
    res = run_fig5()
    return [
        {"slot": h.slot, "supply": h.supply, "slices": list(h.slices),
         "from_supply": list(h.from_supply), "delivered": list(h.delivered),
         "waiting": list(h.waiting), "storage_draw": h.storage_draw,
         "storage_store": h.storage_store, "soc_after": list(h.soc_after)}
        for h in res.slots
    ]  # fmt: skip


def plot_slices(slots: list[dict], path: Path) -> Path:
    """Stacked slices per slot (priority 1, priority 2, buffer draw) and the supply line."""
    view = SimpleNamespace(
        supply=[s["supply"] for s in slots],
        priority1=[s["from_supply"][1] for s in slots],
        priority2=[s["from_supply"][2] for s in slots],
        buffer_draw=[s["storage_draw"] for s in slots],
        buffer_store=[s["storage_store"] for s in slots],
    )
    plot_fig5(view, str(path))
    return path


SCHEMA = {
    "slot_real_s": (float, 1.0, "real seconds per 10-minute slot once the clock runs"),
    "short_slot_real_s": (float, 0.3, "real seconds per slot with --short"),
    "extra_request_packets": (int, 60, "packets asked by a 7th client (class 2); 0: none"),
    "request_timeout_s": (float, 60.0, "timeout of each Request (ask) on the card"),
}


def report(metrics: dict, ctx: RunContext) -> str:
    out = ["## SDEN slicing (seed 004 Fig. 5) on real packets", "",
           "| client | card | class | packets | result | delivered BEE (ledger) |",
           "|---|---|---|---|---|---|"]  # fmt: skip
    for c in metrics["clients"]:
        out.append(f"| {c['client']} | {c['card']} | {c['class']} | {c['packets']} | "
                   f"{c['result']} | {c['delivered_bee']} |")  # fmt: skip
    chk = metrics["checks"]
    out += ["", "| metric | value |", "|---|---|"]
    for k in ("priority1", "priority2"):
        out.append(f"| served packets, {k} | {chk['served_packets_by_class'][k]} |")
    out += [f"| buffer draws (packets) | {chk['buffer_draw_packets']} |",
            f"| buffer charge (packets) | {chk['buffer_store_packets']} |",
            f"| max over slots: from supply - supply | {chk['max_from_supply_minus_supply']} |",
            f"| max over slots: allocated - (supply + buffer draw) | "
            f"{chk['max_allocated_minus_capacity']} |",
            f"| priority 1 always served first | {chk['priority1_served_first']} |",
            f"| slots equal to run_fig5() offline | {metrics['slots_match_offline']} |",
            f"| server accepted / rejected | {metrics['server']['accepted']} / "
            f"{metrics['server']['rejected']} |",
            f"| run time | {metrics['seconds']} s |", "",
            "![slices per slot](slices.png)", ""]  # fmt: skip
    return "\n".join(out)


@experiment("sden_slicing", SCHEMA, needs_network=True, report=report)
def run(ctx: RunContext) -> dict:
    from topologies.vpp_lans import VppLansTopo

    s = ctx.settings
    t0 = time.perf_counter()
    extra = ({"kind": "sauna", "rate": 6, "packets": s["extra_request_packets"]}
             if s["extra_request_packets"] > 0 else None)  # fmt: skip
    n_cards = len(FIG5_REQUESTS) + (1 if extra else 0)
    topo = VppLansTopo(1, n_cards)
    plan = plan_from_topo(topo)
    names = [f"v1c{k}" for k in range(1, n_cards + 1)]
    macs = [plan.card(n).mac for n in names]
    state = ctx.out_dir / "state"
    state.mkdir(parents=True, exist_ok=True)
    go_file = state / "sden-go"
    go_file.unlink(missing_ok=True)
    slot_real_s = s["short_slot_real_s"] if ctx.short else s["slot_real_s"]
    epoch = int(time.time()) // 600 * 600 + 600
    profile = fig5_profile(macs, epoch, slot_real_s, str(go_file), extra)
    profile_path = ctx.path("sden_profile.json")
    profile_path.write_text(json.dumps(profile, indent=1))
    reqs = [(r.client.client_id, r.client.kind, r.packets) for r in FIG5_REQUESTS]
    if extra:
        reqs.append(("extra", extra["kind"], extra["packets"]))
    clients = []
    with ctx.emulation(topo, sden=True, pools=False, sden_profile=profile_path) as emu:
        root = emu.state_root
        for k, (cid, kind, packets) in enumerate(reqs):
            cls = client_class(kind)
            res = emu.net.card(names[k], timeout=s["request_timeout_s"] + 10).call(
                "ask", peer="server", port=1, quantity=packets * 10, priority=cls, wait=1,
                timeout=s["request_timeout_s"],
            )  # fmt: skip
            credits = ledger_rows(root / names[k] / "ledger.sqlite", "credit")
            clients.append({"client": cid, "card": names[k], "kind": kind, "class": cls,
                            "packets": packets, "result": res.get("reason"),
                            "delivered_bee": sum(q for _t, _s, q in credits),
                            "from_server": all(t.startswith("02:00:00:00:00:fd:1>")
                                               for t, _s, _q in credits)})  # fmt: skip
            ctx.progress("requests", k + 1, len(reqs))
        go_file.write_text(f"{time.time():.3f}")

        def all_slots():
            st = emu.status().get("sden", {})
            done = [x for x in st.get("slots", []) if 0 <= x["slot"] < N_SLOTS]
            ctx.progress("slots", len(done), N_SLOTS)
            return st if len(done) == N_SLOTS else None

        status = wait_for(all_slots, N_SLOTS * slot_real_s + 30, "the server's 30 slots", 0.5)
    slots = sorted((x for x in status["slots"] if 0 <= x["slot"] < N_SLOTS),
                   key=lambda x: x["slot"])  # fmt: skip
    offline = offline_slots()
    keys = ("supply", "delivered", "from_supply", "storage_draw", "storage_store", "soc_after")
    match = all(a[k] == b[k] for a, b in zip(slots, offline, strict=True) for k in keys)
    plot_slices(slots, ctx.path("slices.png"))
    fig5 = [c for c in clients if c["client"] != "extra"]
    return {
        "clients": clients,
        "accepted": sum(c["result"] == "done" for c in clients),
        "rejected": sum(c["result"] == "rejected" for c in clients),
        "fig5_all_accepted_and_delivered": all(
            c["result"] == "done" and c["delivered_bee"] == c["packets"] * 10 and c["from_server"]
            for c in fig5
        ),
        "extra_rejected": (not extra) or clients[-1]["result"] == "rejected",
        "delivered_bee": sum(c["delivered_bee"] for c in clients),
        "server": {k: status.get(k) for k in ("requests", "accepted", "rejected", "delivered_bee")},
        "slots": slots,
        "checks": slot_checks(slots),
        "slots_match_offline": match,
        "slot_real_s": slot_real_s,
        "seconds": round(time.perf_counter() - t0, 1),
    }
