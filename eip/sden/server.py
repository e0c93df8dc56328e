"""The SDEN energy server of seed 004 section III as a plain object: given the time, it returns decisions,
allocations and the Energy-TCP segments that carry them. docs/sden.md describes the four stages.

1. Admission: a Request is admitted if, with every admitted request, the allocator run over the horizon
   on the supply forecast and the storage serves all of them by their deadlines (exact for the policy in
   use: the admission check and `allocate` run the same step function).
2. Classification: class 0 for emergencies; else the router's class, the request's priority hint, or the
   appliance kind (`KIND_CLASS`), clamped to 1..classes.
3. Availability: per slot, generation - base load, storage covering a base-load deficit, running
   non-interruptible loads first; the rest split into per-class slices (strict priority, optional floors).
4. Allocation: each class's slice filled from its queue by the policy (edf, fcfs, random); storage fills
   the gap between supply and the slices, surplus charges it.
"""

import random
from dataclasses import dataclass, replace

from eip.protocol import constants as c
from eip.protocol import messages
from eip.protocol.model import EnergyTcp, RequestOption, ScheduleOption
from eip.sden.agents import KIND_CLASS, Buffer, Client, Source
from eip.sden.packets import PacketSpec, Profile

POLICIES = ("edf", "fcfs", "random")
MODE_DELIVER, MODE_STORE, MODE_DRAW = 1, 2, 3
REASON_SUPPLY, REASON_DEADLINE, REASON_NO_SERVICE, REASON_BUSY, REASON_MALFORMED = 1, 4, 5, 7, 8
EMERGENCY_ESCALATION = 2


@dataclass(frozen=True)
class Decision:
    """The server's answer to one Request: accepted (with the request id) or rejected (with why)."""

    accepted: bool
    client_id: str
    request_id: int | None
    priority_class: int
    packets: int
    granted_bee: int
    reason: int = 0  # registry 9.5, 0 when accepted
    retry_after_s: int = 0
    emergency_code: int = 0  # the code acted on (an escalation refused is 0)
    displaced: tuple[int, ...] = ()  # admitted requests this emergency pushed out
    note: str = ""

    def segment(self, request: EnergyTcp, isn: int = 0, window: int = 0) -> EnergyTcp:
        """The reply to `request`: an Accept (SYN-ACK granting `granted_bee`) or a Reject (RST)."""
        if self.accepted:
            return messages.accept_segment(request, isn, window, self.granted_bee)
        return messages.reject_segment(request, self.reason, self.retry_after_s)


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
class _Req:
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


class EnergyServer:
    """The energy server. Times are Unix seconds; energy is in packets of `spec` (BEE on the wire)."""

    def __init__(
        self,
        spec: PacketSpec | None = None,
        horizon_slots: int = 72,
        classes: int = 2,
        policy: str = "edf",
        seed: int = 0,
        *,
        sources: tuple[Source, ...] = (),
        buffers: tuple[Buffer, ...] = (),
        base_load: Profile | None = None,
        clients: tuple[Client, ...] = (),
        escalation_rejects: int = 3,
        max_queue: int = 256,
        floors: tuple[int, ...] = (),
        bee_types: frozenset[int] = frozenset({c.BEE_ELECTRICITY}),
        kind_class=KIND_CLASS,
        storage_classes: int = 1,
    ):
        if policy not in POLICIES:
            raise ValueError(f"policy {policy!r} is not one of {', '.join(POLICIES)}")
        if classes < 1 or horizon_slots < 1:
            raise ValueError("need at least one priority class and one slot of horizon")
        if len(floors) > classes or any(f < 0 for f in floors):
            raise ValueError(f"floors: at most {classes} non-negative packet counts (classes 1..)")
        self.spec = spec or PacketSpec()
        self.horizon_slots, self.classes, self.policy, self.seed = (
            horizon_slots,
            classes,
            policy,
            seed,
        )
        self.sources = {s.source_id: s for s in sources}
        self.storages = sorted(buffers, key=lambda b: type(b) is not Buffer)  # buffers, then caches
        self.base_load = base_load or Profile()
        self.clients = {cl.client_id: cl for cl in clients}
        self.escalation_rejects, self.max_queue = escalation_rejects, max_queue
        self.floors = (0, *floors, *(0,) * (classes - len(floors)))
        self.bee_types, self.kind_class = bee_types, kind_class
        self.storage_classes = storage_classes
        self.rejects: dict[str, int] = {}
        self.misses: list[Miss] = []
        self.history: list[SlotPlan] = []
        self._active: list[_Req] = []
        self._next_id = 1
        self._next_slot: int | None = None

    # ------------------------------------------------------------------ agents and forecasts

    def set_client(self, client: Client) -> None:
        self.clients[client.client_id] = client

    def set_source(self, source: Source) -> None:
        """Add a source or replace its forecast (admitted load is then re-checked by `allocate`)."""
        self.sources[source.source_id] = source

    # ------------------------------------------------------------------ stage 1+2: admission

    def classify(self, client: Client, req: RequestOption, router_class: int | None) -> int:
        """Class 1..classes: the router's pre-classification, else the request's hint, else the kind."""
        for k in (router_class, req.priority):
            if k:
                return min(max(1, k), self.classes)
        return min(self.kind_class.get(client.kind, self.classes), self.classes)

    def request(
        self,
        now_s: int,
        client_id: str,
        req: RequestOption,
        emergency_code: int = 0,
        router_class: int | None = None,
    ) -> Decision:
        """Admit or reject a Request (or an Emergency when `emergency_code` is set)."""
        start = self._start(now_s)
        client = self.clients.get(client_id) or Client(client_id)
        code, note = emergency_code, ""
        if (
            code == EMERGENCY_ESCALATION
            and self.rejects.get(client_id, 0) < self.escalation_rejects
        ):
            code, note = (
                0,
                f"escalation needs {self.escalation_rejects} rejects; handled as a request",
            )
        cls = 0 if code else self.classify(client, req, router_class)
        new = self._new_req(now_s, start, client, req, cls, code)

        def reject(reason: int, retry_after_s: int = 0, why: str = "") -> Decision:
            self.rejects[client_id] = self.rejects.get(client_id, 0) + 1
            text = "; ".join(t for t in (note, why) if t)
            return Decision(
                False, client_id, None, cls, new.packets, 0, reason, retry_after_s, code, (), text
            )

        if req.bee_type not in self.bee_types:
            return reject(REASON_NO_SERVICE, 0, f"bee type {req.bee_type} not served")
        if new.packets == 0:
            return reject(REASON_MALFORMED, 0, "quantity 0")
        if len(self._active) >= self.max_queue:
            free = min(r.last_slot for r in self._active) + 1
            return reject(REASON_BUSY, self._after(now_s, free), "queue full")
        slots = new.last_slot - new.first_slot + 1
        if slots <= 0 or (new.rate and slots * new.rate < new.packets):
            return reject(
                REASON_DEADLINE, 0, "window too short for the quantity at the client's rate"
            )
        alone = [r for r in self._active if r.non_interruptible and r.started]
        if new.request_id in self._missed_ids(start, [*alone, new]):
            retry = self._retry(now_s, start, new) or 0  # 0: no later window helps, change it
            return reject(REASON_DEADLINE, retry, "forecast too small by the deadline")
        base = self._missed_ids(start, self._active)
        kept = list(self._active)
        extra = self._missed_ids(start, [*kept, new]) - base
        while extra:  # an emergency pushes out the lowest class, latest admitted, until it fits
            victims = [r for r in kept if r.request_id in extra and r.cls > cls] if cls == 0 else []
            if new.request_id in extra or not victims:
                retry = self._retry(now_s, start, new) or self._after(
                    now_s, start + self.horizon_slots
                )
                return reject(REASON_SUPPLY, retry, "admitted load fills the supply")
            kept.remove(max(victims, key=lambda r: (r.cls, r.request_id)))
            extra = self._missed_ids(start, [*kept, new]) - base
        gone = [r for r in self._active if r not in kept]
        self.misses.extend(
            Miss(r.request_id, r.client_id, start, r.remaining, "displaced") for r in gone
        )
        displaced = [r.request_id for r in gone]
        self._active = kept
        self._active.append(new)
        self._next_id += 1
        self.rejects[client_id] = 0
        return Decision(
            True,
            client_id,
            new.request_id,
            cls,
            new.packets,
            req.quantity,
            0,
            0,
            code,
            tuple(displaced),
            note,
        )

    def _new_req(self, now_s, start, client, req, cls, code) -> _Req:
        sp = self.spec
        first = max(sp.first_slot_from(req.start_s), sp.first_slot_from(now_s), start)
        deadline = req.deadline_s or req.end_s
        last = sp.last_slot_by(deadline) if deadline else start + self.horizon_slots - 1
        last = min(last, start + self.horizon_slots - 1)  # promise only what the forecast covers
        n = sp.packets_of_bee(req.quantity)
        rate = client.rate_packets_per_slot
        return _Req(
            self._next_id,
            client.client_id,
            cls,
            n,
            n,
            first,
            last,
            rate,
            client.non_interruptible,
            code,
        )

    def _missed_ids(self, start: int, reqs: list[_Req]) -> set[int]:
        return {m.request_id for m in self._simulate(start, reqs).misses}

    def _retry(self, now_s: int, start: int, new: _Req) -> int | None:
        """Seconds until the same request, moved later by that delay, fits the current plan; None if
        no delay within the horizon does."""
        base = self._missed_ids(start, self._active)
        for d in range(1, start + self.horizon_slots - new.last_slot):  # within the forecast
            moved = replace(new, first_slot=new.first_slot + d, last_slot=new.last_slot + d)
            if not self._missed_ids(start, [*self._active, moved]) - base:
                return self._after(now_s, start + d)
        return None

    def _after(self, now_s: int, slot: int) -> int:
        return max(1, self.spec.slot_start_s(slot) - now_s)

    def _start(self, now_s: int) -> int:
        if self._next_slot is None:
            self._next_slot = self.spec.slot(now_s)
        return self._next_slot

    # ------------------------------------------------------------------ stage 3+4: availability, allocation

    def plan(self, now_s: int | None = None) -> Plan:
        """The allocator run over the horizon on the admitted load, without committing anything."""
        start = self._start(now_s) if now_s is not None else (self._next_slot or 0)
        return self._simulate(start, self._active)

    def availability(self, slot: int) -> SlotPlan:
        """Capacity and per-class slices of `slot` in the current plan (`.slices`, class 0 = emergency)."""
        start = self._next_slot if self._next_slot is not None else slot
        if slot < start:
            return next(h for h in self.history if h.slot == slot)
        return self._simulate(start, self._active, slot - start + 1).slots[-1]

    def allocate(self, now_s: int) -> list[Allocation]:
        """Commit every slot not yet allocated up to the one containing `now_s`; its allocations."""
        start = self._start(now_s)
        out: list[Allocation] = []
        for slot in range(start, self.spec.slot(now_s) + 1):
            rec, allocs, misses, self.storages = self._step(slot, self._active, self.storages)
            self._active = [
                r
                for r in self._active
                if r.remaining > 0 and r.request_id not in {m.request_id for m in misses}
            ]
            self.history.append(rec)
            self.misses.extend(misses)
            out.extend(allocs)
            self._next_slot = slot + 1
        return out

    def _simulate(self, start: int, reqs: list[_Req], n_slots: int | None = None) -> Plan:
        reqs = [replace(r) for r in reqs]
        storages, recs, allocs, misses = list(self.storages), [], [], []
        for slot in range(start, start + (n_slots or self.horizon_slots)):
            rec, a, m, storages = self._step(slot, reqs, storages)
            gone = {x.request_id for x in m}
            reqs = [r for r in reqs if r.remaining > 0 and r.request_id not in gone]
            recs.append(rec)
            allocs.extend(a)
            misses.extend(m)
        return Plan(tuple(recs), tuple(allocs), tuple(misses))

    def _order(self, queue: list[_Req], slot: int) -> list[_Req]:
        if self.policy == "edf":
            return sorted(queue, key=lambda r: (r.last_slot, r.request_id))
        queue = sorted(queue, key=lambda r: r.request_id)
        if self.policy == "random":
            random.Random(self.seed * 1_000_003 + slot).shuffle(queue)
        return queue

    def _step(self, slot: int, reqs: list[_Req], storages: list[Buffer]):
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
            for r in self._order(queue, slot):
                w, free = r.want(), limit - slices[k]
                a = min(w, sup, free)
                b = min(w - a, sto, free - a)
                if k > self.storage_classes:  # lower classes draw storage only for urgent packets
                    b = min(b, max(0, self._urgent(r, slot) - a))
                if r.non_interruptible and a + b < w:
                    continue  # cannot start without its full per-slot power
                if a + b:
                    served[r.request_id] = (a, b)
                    slices[k] += a + b
                    sup, sto = sup - a, sto - b
            waiting[k] = demand[k] - slices[k]
        store = min(sup, can_store)
        draw = base_draw + sum(b for _, b in served.values())
        new_storages, allocs = self._storage_moves(slot, storages, draw, store)
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

    @staticmethod
    def _urgent(r: _Req, slot: int) -> int:
        """Packets of `r` that must be served in `slot` to still finish by its deadline at its rate."""
        if not r.rate:
            return r.remaining if slot == r.last_slot else 0
        return max(0, r.remaining - r.rate * (r.last_slot - slot))

    def _storage_moves(self, slot: int, storages: list[Buffer], draw: int, store: int):
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

    # ------------------------------------------------------------------ messages and status

    def schedule_option(self, alloc: Allocation) -> ScheduleOption:
        """The schedule option announcing `alloc` (BEE per slot = packets x Wh per packet)."""
        return ScheduleOption(
            alloc.mode,
            alloc.start_s,
            self.spec.slot_s,
            alloc.n_slots,
            self.spec.wh_of(alloc.packets),
        )

    def schedule_segment(
        self,
        alloc: Allocation,
        dport: int = c.PORT_DELIVERY,
        seq: int = 0,
        ack: int = 0,
        window: int = 0,
    ) -> EnergyTcp:
        """An ACK from the energy server port carrying the schedule option of `alloc`."""
        return EnergyTcp(
            c.PORT_ENERGY_SERVER,
            dport,
            seq,
            ack,
            c.ETCP_ACK,
            window,
            0,
            (self.schedule_option(alloc),),
        )

    def status(self) -> dict:
        """JSON-serialisable state: queue, storage, reject counts, misses, totals served."""
        return {
            "next_slot": self._next_slot,
            "policy": self.policy,
            "classes": self.classes,
            "horizon_slots": self.horizon_slots,
            "packet": {"wh": self.spec.wh, "minutes": self.spec.minutes},
            "queue": [
                {
                    "request_id": r.request_id,
                    "client_id": r.client_id,
                    "class": r.cls,
                    "remaining_packets": r.remaining,
                    "first_slot": r.first_slot,
                    "last_slot": r.last_slot,
                    "emergency_code": r.emergency_code,
                    "running": r.non_interruptible and r.started,
                }
                for r in self._active
            ],
            "storage": [
                {
                    "id": b.storage_id,
                    "soc_packets": b.soc_packets,
                    "capacity_packets": b.capacity_packets,
                }
                for b in self.storages
            ],
            "rejects": dict(self.rejects),
            "misses": [m.__dict__.copy() for m in self.misses],
            "served_packets_by_class": [
                sum(h.slices[k] for h in self.history) for k in range(self.classes + 1)
            ],
        }


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
