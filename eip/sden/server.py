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

This module holds stages 1 and 2 and commits slots; stages 3 and 4 are eip.sden.allocator.
"""

from dataclasses import dataclass, replace

from eip.protocol import constants as c
from eip.protocol import messages
from eip.protocol.model import EnergyTcp, RequestOption, ScheduleOption
from eip.sden.agents import KIND_CLASS, Buffer, Client, Source
from eip.sden.allocator import (
    MODE_DELIVER,
    MODE_DRAW,
    MODE_STORE,
    POLICIES,
    Admitted,
    Allocation,
    Allocator,
    Miss,
    Plan,
    SlotPlan,
    merge_allocations,
)
from eip.sden.packets import PacketSpec, Profile

# The allocator's names stay importable from here.
__all__ = [
    "MODE_DELIVER", "MODE_DRAW", "MODE_STORE", "POLICIES", "Allocation", "Decision", "EnergyServer",
    "Miss", "Plan", "SlotPlan", "merge_allocations",
]  # fmt: skip

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
        self.allocator = Allocator(
            self.spec, horizon_slots, classes, policy, seed,
            sources={s.source_id: s for s in sources}, base_load=base_load or Profile(),
            floors=(0, *floors, *(0,) * (classes - len(floors))), storage_classes=storage_classes,
        )  # fmt: skip
        self.storages = sorted(buffers, key=lambda b: type(b) is not Buffer)  # buffers, then caches
        self.clients = {cl.client_id: cl for cl in clients}
        self.escalation_rejects, self.max_queue = escalation_rejects, max_queue
        self.bee_types, self.kind_class = bee_types, kind_class
        self.rejects: dict[str, int] = {}
        self.misses: list[Miss] = []
        self.history: list[SlotPlan] = []
        self._active: list[Admitted] = []
        self._next_id = 1
        self._next_slot: int | None = None

    @property
    def horizon_slots(self) -> int:
        return self.allocator.horizon_slots

    @property
    def classes(self) -> int:
        return self.allocator.classes

    @property
    def policy(self) -> str:
        return self.allocator.policy

    @property
    def sources(self) -> dict[str, Source]:
        return self.allocator.sources

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
            return reject(c.REJECT_NO_SERVICE, 0, f"bee type {req.bee_type} not served")
        if new.packets == 0:
            return reject(c.REJECT_MALFORMED, 0, "quantity 0")
        if len(self._active) >= self.max_queue:
            free = min(r.last_slot for r in self._active) + 1
            return reject(c.REJECT_BUSY, self._after(now_s, free), "queue full")
        slots = new.last_slot - new.first_slot + 1
        if slots <= 0 or (new.rate and slots * new.rate < new.packets):
            return reject(
                c.REJECT_DEADLINE_INFEASIBLE,
                0,
                "window too short for the quantity at the client's rate",
            )
        alone = [r for r in self._active if r.non_interruptible and r.started]
        if new.request_id in self._missed_ids(start, [*alone, new]):
            retry = self._retry(now_s, start, new) or 0  # 0: no later window helps, change it
            return reject(c.REJECT_DEADLINE_INFEASIBLE, retry, "forecast too small by the deadline")
        base = self._missed_ids(start, self._active)
        kept = list(self._active)
        extra = self._missed_ids(start, [*kept, new]) - base
        while extra:  # an emergency pushes out the lowest class, latest admitted, until it fits
            victims = [r for r in kept if r.request_id in extra and r.cls > cls] if cls == 0 else []
            if new.request_id in extra or not victims:
                retry = self._retry(now_s, start, new) or self._after(
                    now_s, start + self.horizon_slots
                )
                return reject(c.REJECT_INSUFFICIENT_SUPPLY, retry, "admitted load fills the supply")
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

    def _new_req(self, now_s, start, client, req, cls, code) -> Admitted:
        sp = self.spec
        first = max(sp.first_slot_from(req.start_s), sp.first_slot_from(now_s), start)
        deadline = req.deadline_s or req.end_s
        last = sp.last_slot_by(deadline) if deadline else start + self.horizon_slots - 1
        last = min(last, start + self.horizon_slots - 1)  # promise only what the forecast covers
        n = sp.packets_of_bee(req.quantity)
        rate = client.rate_packets_per_slot
        return Admitted(
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

    def _missed_ids(self, start: int, reqs: list[Admitted]) -> set[int]:
        return {m.request_id for m in self.allocator.simulate(start, reqs, self.storages).misses}

    def _retry(self, now_s: int, start: int, new: Admitted) -> int | None:
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
        return self.allocator.simulate(start, self._active, self.storages)

    def availability(self, slot: int) -> SlotPlan:
        """Capacity and per-class slices of `slot` in the current plan (`.slices`, class 0 = emergency)."""
        start = self._next_slot if self._next_slot is not None else slot
        if slot < start:
            return next(h for h in self.history if h.slot == slot)
        return self.allocator.simulate(start, self._active, self.storages, slot - start + 1).slots[
            -1
        ]

    def allocate(self, now_s: int) -> list[Allocation]:
        """Commit every slot not yet allocated up to the one containing `now_s`; its allocations."""
        start = self._start(now_s)
        out: list[Allocation] = []
        for slot in range(start, self.spec.slot(now_s) + 1):
            rec, allocs, misses, self.storages = self.allocator.step(
                slot, self._active, self.storages
            )
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
