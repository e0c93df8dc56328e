"""The SDEN slicing network driver: the Fig. 5 clients' Requests from cards of an emulated community
to the controller's energy server, what their ledgers received, and the server's slots.
"""

import json
import time

from eip.card.harness import ledger_rows, wait_for
from eip.cases.households import card_names
from eip.net.plan import plan_from_topo
from eip.scenarios.base import RunContext
from eip.scenarios.sden_slicing.model import client_class, fig5_profile
from eip.sden.fig5 import FIG5_REQUESTS, N_SLOTS


def carry_out(ctx: RunContext, s: dict, extra: dict | None) -> tuple[list, dict, float]:
    """Every client's Request on the network; (the clients' results, the server's status, slot_real_s)."""
    from topologies.vpp_lans import VppLansTopo

    n_cards = len(FIG5_REQUESTS) + (1 if extra else 0)
    topo = VppLansTopo(1, n_cards)
    plan = plan_from_topo(topo)
    names = card_names(n_cards)
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
    return clients, status, slot_real_s
