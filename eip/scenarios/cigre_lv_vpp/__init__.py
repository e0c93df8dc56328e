"""VPPs on the CIGRE LV network: a day of trading, a microgrid islanding and rejoining, an EV roaming.

Topology: `CigreLvTopo` (vpp1 residential, vpp2 industrial, vpp3 commercial) plus one EV card `ev` on
the residential LAN (`topologies.grid.CigreEvTopo`). Phases, each on real packets:

1. morning (controller + ISP firewall + pools): transfers inside a VPP and across VPPs, and a BEE pool
   sale on the residential router (sell order, crossing buy order, the sale delivered as BEEs);
2. island: vpp3 (commercial) loses its WAN link (`island`); a transfer from vpp1 into it gets
   "unreachable islanded" events while a trade inside the island completes; after `rejoin` the
   cross-island transfer completes;
3. EV roaming: the EV's switch port moves from the residential LAN switch s1 to the commercial s3
   mid-transfer and the EV takes an address of 10.3.0.0/24; the card notices within 1 s, takes vpp3
   from its `vpp_subnets`, keeps its MAC and ledger, and the transfer completes. The controller's card
   firewall binds a card to its (switch port, MAC, IP) from the plan, so a roaming card is dropped as
   unregistered there; this phase therefore runs on the same topology with standalone L2 switches
   (`EnergyNetwork(controller=None)`), as the card-level mobility of tests/integration/test_mobility.py.

Checks: per phase the transfers done, islanded events, EV addresses before/after, ledgers agree (the
union of debit rows equals the union of credit rows: every BEE debited once is credited once) and
`eip ledger verify` on every ledger.

Layout: `driver` (the phases, the ledger check), `report` (the table); this module holds
the settings and runs the phases in order.
"""

import time

from eip.scenarios.base import RunContext, experiment
from eip.scenarios.cigre_lv_vpp.driver import (
    ledger_check,
    phase_ev,
    phase_island,
    phase_trading,
)
from eip.scenarios.cigre_lv_vpp.report import report

SCHEMA = {
    "quantity_bee": (int, 3000, "BEE per transfer in the trading and island phases"),
    "ev_quantity_bee": (int, 100_000, "BEE of the transfer to the roaming EV"),
    "short_quantity_bee": (int, 1000, "BEE per transfer with --short"),
    "short_ev_quantity_bee": (int, 60_000, "BEE of the EV transfer with --short"),
}


@experiment("cigre_lv_vpp", SCHEMA, needs_network=True, report=report)
def run(ctx: RunContext) -> dict:
    s = ctx.settings
    q = s["short_quantity_bee"] if ctx.short else s["quantity_bee"]
    q_ev = s["short_ev_quantity_bee"] if ctx.short else s["ev_quantity_bee"]
    t0 = time.perf_counter()
    from topologies.grid import CigreEvTopo

    topo = CigreEvTopo()
    with ctx.emulation(topo, sden=False, pools=True) as emu:
        root = emu.state_root
        names = [c.name for c in emu.plan.cards]
        trading = phase_trading(emu, q)
        ctx.progress("phases", 1, 3)
        island = phase_island(emu, q)
        ctx.progress("phases", 2, 3)
        ledgers_controller = ledger_check(root, names)
    ev_root = ctx.out_dir / "ev-state"
    ev = phase_ev(ctx, CigreEvTopo(), ev_root, q_ev)
    ledgers_ev = ledger_check(ev_root, names)
    ledgers = {
        "debit_rows": ledgers_controller["debit_rows"] + ledgers_ev["debit_rows"],
        "debits_equal_credits": ledgers_controller["debits_equal_credits"]
        and ledgers_ev["debits_equal_credits"],
        "ledgers_verified": ledgers_controller["ledgers_verified"] + ledgers_ev["ledgers_verified"],
        "ledger_verify_ok": ledgers_controller["ledger_verify_ok"]
        and ledgers_ev["ledger_verify_ok"],
        "controller_run": ledgers_controller,
        "ev_run": ledgers_ev,
    }
    return {
        "trading": trading,
        "island": island,
        "ev": ev,
        "ledgers": ledgers,
        "transfers_done": {
            "trading": trading["transfers_done"],
            "island": island["transfers_done"],
            "ev": ev["transfers_done"],
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }


__all__ = ["SCHEMA", "ledger_check", "phase_ev", "phase_island", "phase_trading",
           "report", "run"]  # fmt: skip
