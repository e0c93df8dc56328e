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

Layout: `model` (the server profile, the slot checks, the offline slots), `driver` (the Requests on
the network), `report` (tables and plot); this module holds the settings and runs them in order.
"""

import time

from eip.scenarios.base import RunContext, experiment
from eip.scenarios.sden_slicing.driver import carry_out
from eip.scenarios.sden_slicing.model import client_class, fig5_profile, offline_slots, slot_checks
from eip.scenarios.sden_slicing.report import plot_slices, report
from eip.sden.fig5 import N_SLOTS

SCHEMA = {
    "slot_real_s": (float, 1.0, "real seconds per 10-minute slot once the clock runs"),
    "short_slot_real_s": (float, 0.3, "real seconds per slot with --short"),
    "extra_request_packets": (int, 60, "packets asked by a 7th client (class 2); 0: none"),
    "request_timeout_s": (float, 60.0, "timeout of each Request (ask) on the card"),
}


@experiment("sden_slicing", SCHEMA, needs_network=True, report=report)
def run(ctx: RunContext) -> dict:
    s = ctx.settings
    t0 = time.perf_counter()
    extra = ({"kind": "sauna", "rate": 6, "packets": s["extra_request_packets"]}
             if s["extra_request_packets"] > 0 else None)  # fmt: skip
    clients, status, slot_real_s = carry_out(ctx, s, extra)
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


__all__ = ["SCHEMA", "carry_out", "client_class", "fig5_profile", "offline_slots", "plot_slices",
           "report", "run", "slot_checks"]  # fmt: skip
