"""Stages 3 and 4 of the SDEN energy server (seed 004 section III): availability and allocation.

Per slot: generation - base load, storage covering a base-load deficit, running non-interruptible loads
first; the rest split into per-class slices (strict priority, optional floors), each filled from its
queue by the policy (edf, fcfs, random); storage fills the gap between supply and the slices, surplus
charges it. `Allocator` only simulates: eip.sden.server.EnergyServer admits requests against its plans
and commits slots. docs/sden.md describes the stages.
"""

import random
from dataclasses import dataclass, replace

from eip.sden.agents import Buffer, Source
from eip.sden.packets import PacketSpec, Profile

POLICIES = ("edf", "fcfs", "random")
MODE_DELIVER, MODE_STORE, MODE_DRAW = 1, 2, 3


@dataclass(frozen=True)
class Allocation:
    """Packets for one agent over `n_slots` slots from `slot`: a delivery to a client (mode 1, part of
    it drawn from storage), a store into (2) or a draw from (3) a buffer or cache."""

    slot: int
    start_s: int
    mode: int
    agent_id: str
    packets: int  # per slot
    request_id: int | None = None
    priority_class: int | None = None
    from_storage: int = 0  # of a delivery, per slot
    n_slots: int = 1


@dataclass(frozen=True)
class Miss:
    """An admitted request the server could not finish: `reason` deadline, interrupted or displaced."""

    request_id: int
    client_id: str
    slot: int
    remaining_packets: int
    reason: str


@dataclass(frozen=True)
class SlotPlan:
    """Availability and allocation of one slot (packets). `slices[k]` is class k's slice (0 = emergency)
    as filled, after the running non-interruptible loads (`pinned`) took their share; storage covers
    what generation does not (supply goes to pinned load first, then classes in priority order)."""

    slot: int
    generation: int
    base_load: int
    supply: int  # max(0, generation - base load)
    storage_can_draw: int  # after covering a base-load deficit
    storage_can_store: int
    pinned: int  # running non-interruptible loads
    slices: tuple[int, ...]
    delivered: tuple[int, ...]  # per class: slice plus that class's pinned load
    from_supply: tuple[int, ...]  # per class: the part of `delivered` met by generation
    waiting: tuple[int, ...]  # wanted packets per class that got no room
    storage_draw: int  # for flexible load, pinned load and base-load deficit
    storage_store: int
    curtailed: int
    unserved_base: int
    soc_after: tuple[int, ...]

    @property
    def capacity(self) -> int:
        """Packets the slot could serve to flexible and pinned load: supply plus storage draw."""
        return self.supply + self.storage_can_draw

    @property
    def served(self) -> int:
        return self.pinned + sum(self.slices)


@dataclass(frozen=True)
class Plan:
    """A simulated run of the allocator over slots [first, first + len(slots)): nothing committed."""

    slots: tuple[SlotPlan, ...]
    allocations: tuple[Allocation, ...]
    misses: tuple[Miss, ...]


@dataclass
class Admitted:
    """An admitted request as the allocator serves it: what is left, its window of slots, its rate."""

    request_id: int
    client_id: str
    cls: int
    packets: int
    remaining: int
    first_slot: int
    last_slot: int
    rate: int
    non_interruptible: bool
    emergency_code: int = 0
    started: bool = False

    def want(self) -> int:
        return min(self.rate or self.remaining, self.remaining)


class Allocator:
    """The step function over slots. `sources` is shared with the server (it adds and replaces them)."""

    def __init__(
        self,
        spec: PacketSpec,
        horizon_slots: int,
        classes: int,
        policy: str,
        seed: int,
        sources: dict[str, Source],
        base_load: Profile,
        floors: tuple[int, ...],
        storage_classes: int,
    ):
        self.spec, self.horizon_slots, self.classes = spec, horizon_slots, classes
        self.policy, self.seed, self.sources, self.base_load = policy, seed, sources, base_load
        self.floors, self.storage_classes = floors, storage_classes

    def simulate(
        self, start: int, reqs: list[Admitted], storages: list[Buffer], n_slots: int | None = None
    ) -> Plan:
        """The allocator run over `n_slots` (default: the horizon) from `start` on copies of `reqs`."""
        reqs = [replace(r) for r in reqs]
        storages, recs, allocs, misses = list(storages), [], [], []
        for slot in range(start, start + (n_slots or self.horizon_slots)):
            rec, a, m, storages = self.step(slot, reqs, storages)
            gone = {x.request_id for x in m}
            reqs = [r for r in reqs if r.remaining > 0 and r.request_id not in gone]
            recs.append(rec)
            allocs.extend(a)
            misses.extend(m)
        return Plan(tuple(recs), tuple(allocs), tuple(misses))

    def order(self, queue: list[Admitted], slot: int) -> list[Admitted]:
        """The queue of one class in the order the policy serves it in `slot`."""
        if self.policy == "edf":
            return sorted(queue, key=lambda r: (r.last_slot, r.request_id))
        queue = sorted(queue, key=lambda r: r.request_id)
        if self.policy == "random":
            random.Random(self.seed * 1_000_003 + slot).shuffle(queue)
        return queue

    def step(self, slot: int, reqs: list[Admitted], storages: list[Buffer]):
        """One slot: availability, slicing and allocation; mutates `reqs`, returns the new storages."""
        gen = sum(s.packets_at(slot) for s in self.sources.values())
        base = self.base_load.at(slot)
        supply, deficit = max(0, gen - base), max(0, base - gen)
        can_draw, can_store = (
            sum(f(b) for b in storages) for f in (Buffer.can_draw, Buffer.can_store)
        )
        base_draw = min(deficit, can_draw)
        sup, sto = supply, can_draw - base_draw  # what is left of each as loads are served
        active = [r for r in reqs if r.remaining > 0 and r.first_slot <= slot <= r.last_slot]
        n_cls = self.classes + 1
        served: dict[int, tuple[int, int]] = {}  # request id -> (from supply, from storage)
        pinned = 0
        misses = []
        for r in active:  # running non-interruptible loads cannot be turned off: they come first
            if r.non_interruptible and r.started:
                a = min(r.want(), sup)
                b = min(r.want() - a, sto)
                served[r.request_id] = (a, b)
                sup, sto, pinned = sup - a, sto - b, pinned + a + b
                if a + b < r.want():
                    misses.append(
                        Miss(r.request_id, r.client_id, slot, r.remaining - a - b, "interrupted")
                    )
        queues = [
            [r for r in active if r.cls == k and r.request_id not in served] for k in range(n_cls)
        ]
        demand = [sum(r.want() for r in q) for q in queues]
        hold = [min(f, d) for f, d in zip(self.floors, demand, strict=True)]
        slices, waiting = [0] * n_cls, [0] * n_cls
        for k, queue in enumerate(queues):
            limit = max(0, sup + sto - sum(hold[k + 1 :]))  # room left for lower classes' floors
            for r in self.order(queue, slot):
                w, free = r.want(), limit - slices[k]
                a = min(w, sup, free)
                b = min(w - a, sto, free - a)
                if k > self.storage_classes:  # lower classes draw storage only for urgent packets
                    b = min(b, max(0, urgent_packets(r, slot) - a))
                if r.non_interruptible and a + b < w:
                    continue  # cannot start without its full per-slot power
                if a + b:
                    served[r.request_id] = (a, b)
                    slices[k] += a + b
                    sup, sto = sup - a, sto - b
            waiting[k] = demand[k] - slices[k]
        store = min(sup, can_store)
        draw = base_draw + sum(b for _, b in served.values())
        new_storages, allocs = self.storage_moves(slot, storages, draw, store)
        from_supply, delivered = [0] * n_cls, [0] * n_cls
        t = self.spec.slot_start_s(slot)
        for r in active:
            if r.request_id not in served:
                continue
            a, b = served[r.request_id]
            from_supply[r.cls] += a
            delivered[r.cls] += a + b
            if a + b:
                allocs.append(
                    Allocation(slot, t, MODE_DELIVER, r.client_id, a + b, r.request_id, r.cls, b)
                )
            r.remaining -= a + b
            r.started = r.started or a + b > 0
        gone = {m.request_id for m in misses}
        for r in reqs:
            if r.remaining > 0 and r.last_slot <= slot and r.request_id not in gone:
                misses.append(Miss(r.request_id, r.client_id, slot, r.remaining, "deadline"))
        rec = SlotPlan(
            slot, gen, base, supply, can_draw - base_draw, can_store, pinned, tuple(slices),
            tuple(delivered), tuple(from_supply), tuple(waiting), draw, store, sup - store,
            deficit - base_draw, tuple(b.soc_packets for b in new_storages),
        )  # fmt: skip
        return rec, allocs, misses, new_storages

    def storage_moves(self, slot: int, storages: list[Buffer], draw: int, store: int):
        """Draw and store spread over the storages in order (buffers, then caches): new storages, moves."""
        new, allocs, t = [], [], self.spec.slot_start_s(slot)
        for b in storages:
            d, s = min(draw, b.can_draw()), min(store, b.can_store())
            draw, store = draw - d, store - s
            new.append(b.after(s, d))
            if d:
                allocs.append(Allocation(slot, t, MODE_DRAW, b.storage_id, d))
            if s:
                allocs.append(Allocation(slot, t, MODE_STORE, b.storage_id, s))
        return new, allocs


def urgent_packets(r: Admitted, slot: int) -> int:
    """Packets of `r` that must be served in `slot` to still finish by its deadline at its rate."""
    if not r.rate:
        return r.remaining if slot == r.last_slot else 0
    return max(0, r.remaining - r.rate * (r.last_slot - slot))


def merge_allocations(allocs: list[Allocation]) -> list[Allocation]:
    """Join runs of consecutive slots with the same agent, mode, request and packets into one
    allocation of n_slots (one schedule option each)."""
    out: list[Allocation] = []
    last: dict[tuple, int] = {}
    for a in sorted(allocs, key=lambda a: (a.slot, a.mode, a.agent_id)):
        key = (a.mode, a.agent_id, a.request_id, a.packets, a.from_storage)
        i = last.get(key)
        if i is not None and out[i].slot + out[i].n_slots == a.slot:
            out[i] = replace(out[i], n_slots=out[i].n_slots + 1)
        else:
            last[key] = len(out)
            out.append(a)
    return out
