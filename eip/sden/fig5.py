"""Seed 004 Fig. 5: energy network slicing with two priority classes plus a buffer over 30 slots.

Packets of 10 Wh over 10 min; slot 0 starts at t = 0. Supply is an aggregated PV source (packets per
slot, `GENERATION`) less a base load of 2 packets per slot; one buffer of 30 packets (300 Wh), 4 packets
per slot in or out, starting with 10. Six clients send their Request at t = 0, in this order:

| client      | kind            | class | packets | rate/slot | window (slots) | note               |
|-------------|-----------------|-------|---------|-----------|----------------|--------------------|
| fridge      | fridge          | 1     | 30      | 1         | 0..29          | one packet a slot  |
| heat-am     | heating         | 1     | 27      | 3         | 0..9           | morning heating    |
| heat-pm     | heating         | 1     | 30      | 3         | 18..29         | evening heating    |
| ev          | ev              | 2     | 45      | 6         | 0..29          | charge by the end  |
| dishwasher  | dishwasher      | 2     | 12      | 3         | 6..20          | non-interruptible  |
| washer      | washing_machine | 2     | 16      | 4         | 8..24          | non-interruptible  |

The classes come from the appliance kinds (eip.sden.agents.KIND_CLASS); the policy is EDF.
"""

from dataclasses import dataclass

from eip.protocol.model import RequestOption
from eip.sden.agents import Buffer, Client, Source
from eip.sden.packets import PacketSpec, Profile
from eip.sden.server import MODE_DELIVER, Allocation, Decision, EnergyServer, SlotPlan

N_SLOTS = 30
GENERATION = (
    3,
    3,
    4,
    5,
    6,
    8,
    10,
    12,
    14,
    15,
    16,
    16,
    16,
    15,
    14,
    12,
    10,
    8,
    6,
    5,
    4,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
)
BASE_LOAD_PACKETS = 2
BUFFER = Buffer(
    "battery",
    capacity_packets=30,
    charge_packets_per_slot=4,
    discharge_packets_per_slot=4,
    soc_packets=10,
)


@dataclass(frozen=True)
class Fig5Request:
    client: Client
    packets: int
    first_slot: int
    last_slot: int


FIG5_REQUESTS = (
    Fig5Request(Client("fridge", "fridge", 1), 30, 0, 29),
    Fig5Request(Client("heat-am", "heating", 3), 27, 0, 9),
    Fig5Request(Client("heat-pm", "heating", 3), 30, 18, 29),
    Fig5Request(Client("ev", "ev", 6), 45, 0, 29),
    Fig5Request(Client("dishwasher", "dishwasher", 3, non_interruptible=True), 12, 6, 20),
    Fig5Request(Client("washer", "washing_machine", 4, non_interruptible=True), 16, 8, 24),
)


@dataclass(frozen=True)
class Fig5Result:
    """Per slot: supply (generation - base load), packets served per class from supply, buffer draw
    and store, buffer state of charge; and the decisions and allocations behind them."""

    supply: tuple[int, ...]
    priority1: tuple[int, ...]  # class 1 packets met by supply
    priority2: tuple[int, ...]
    buffer_draw: tuple[int, ...]
    buffer_store: tuple[int, ...]
    soc: tuple[int, ...]  # after the slot
    slots: tuple[SlotPlan, ...]
    decisions: tuple[Decision, ...]
    allocations: tuple[Allocation, ...]

    def delivered(self, client_id: str) -> tuple[int, ...]:
        """Packets delivered to a client in each slot."""
        per = [0] * len(self.slots)
        for a in self.allocations:
            if a.mode == MODE_DELIVER and a.agent_id == client_id:
                per[a.slot] += a.packets
        return tuple(per)


def fig5_server(policy: str = "edf", spec: PacketSpec | None = None) -> EnergyServer:
    """The Fig. 5 server before any request: source, base load and buffer."""
    return EnergyServer(
        spec or PacketSpec(),
        horizon_slots=N_SLOTS,
        classes=2,
        policy=policy,
        sources=(Source("pv-vpp", Profile(GENERATION)),),
        buffers=(BUFFER,),
        base_load=Profile((BASE_LOAD_PACKETS,) * N_SLOTS),
        clients=tuple(r.client for r in FIG5_REQUESTS),
    )


def run_fig5(policy: str = "edf") -> Fig5Result:
    """Admit the Fig. 5 requests at t = 0, then allocate the 30 slots one by one."""
    srv = fig5_server(policy)
    sp = srv.spec
    decisions = tuple(
        srv.request(
            0,
            r.client.client_id,
            RequestOption(
                sp.wh_of(r.packets),
                sp.slot_start_s(r.first_slot),
                sp.slot_end_s(r.last_slot),
                sp.slot_end_s(r.last_slot),
            ),
        )
        for r in FIG5_REQUESTS
    )
    allocs: list[Allocation] = []
    for slot in range(N_SLOTS):
        allocs.extend(srv.allocate(sp.slot_start_s(slot)))
    h = srv.history
    return Fig5Result(
        tuple(s.supply for s in h),
        tuple(s.from_supply[1] for s in h),
        tuple(s.from_supply[2] for s in h),
        tuple(s.storage_draw for s in h),
        tuple(s.storage_store for s in h),
        tuple(s.soc_after[0] for s in h),
        tuple(h),
        decisions,
        tuple(allocs),
    )


def plot_fig5(result: Fig5Result, path: str) -> str:
    """Stacked bars per slot (priority 1, priority 2, buffer; buffer charging below zero) and the
    supply line, written to `path` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = range(len(result.supply))
    p1, p2, buf = result.priority1, result.priority2, result.buffer_draw
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.bar(x, p1, color="#4caf50", label="priority 1")
    ax.bar(x, p2, bottom=p1, color="#2196f3", label="priority 2")
    ax.bar(
        x,
        buf,
        bottom=[a + b for a, b in zip(p1, p2, strict=True)],
        color="#ffc107",
        label="buffer draw",
    )
    ax.bar(x, [-s for s in result.buffer_store], color="#ffe082", hatch="//", label="buffer charge")
    ax.step(x, result.supply, where="mid", color="black", label="supply (PV - base load)")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_xlabel("slot (10 min)")
    ax.set_ylabel("packets (10 Wh)")
    ax.set_title("Energy network slicing, seed 004 Fig. 5 (EDF)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


if __name__ == "__main__":  # python -m eip.sden.fig5 [out.png]
    import sys

    print(plot_fig5(run_fig5(), sys.argv[1] if len(sys.argv) > 1 else "sden_fig5.png"))
