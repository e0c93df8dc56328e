"""The SDEN slicing model: the Fig. 5 server profile given to the emulation, the checks on the slots,
and the same configuration's slots offline (`run_fig5()`).
"""

from types import SimpleNamespace

from eip.sden.agents import KIND_CLASS
from eip.sden.fig5 import (
    BASE_LOAD_PACKETS,
    BUFFER,
    FIG5_REQUESTS,
    GENERATION,
    N_SLOTS,
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
