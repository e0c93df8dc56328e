"""The agents of seed 004 Table I as small typed values (the energy server itself is eip.sden.server).

| cyber element | physical entity                 | here                                            |
|---------------|---------------------------------|-------------------------------------------------|
| Client        | flexible load                   | `Client`: kind, rate, non-interruptible flag    |
| Buffer        | short-term storage (battery)    | `Buffer`: capacity, rates, state of charge      |
| Cache         | long-term storage (power-to-X)  | `Cache`: same shape, drawn only after buffers   |
| Source        | aggregated PV/wind (a VPP)      | `Source`: forecast packets per slot             |
| Router        | smart meter / HEMS              | `Router`: serves from own packets or forwards   |
| Server        | the orchestrating software      | `Server`: the address routers forward to        |
"""

from dataclasses import dataclass, field, replace
from types import MappingProxyType

from eip.protocol.constants import PORT_ENERGY_SERVER
from eip.protocol.model import RequestOption
from eip.sden.packets import PacketSpec, Profile

# Appliance kind -> priority class (1 = highest flexible class). Classes above the server's count are
# clamped to its lowest class; unknown kinds get the lowest class.
KIND_CLASS = MappingProxyType(
    {
        "medical": 1,
        "fridge": 1,
        "freezer": 1,
        "cooking": 1,
        "heating": 1,
        "heat_pump": 1,
        "lighting": 1,
        "dishwasher": 2,
        "washing_machine": 2,
        "dryer": 2,
        "ev": 2,
        "sauna": 2,
        "pool_pump": 2,
        "water_heater": 2,
    }
)


@dataclass(frozen=True)
class Client:
    """A flexible load. `rate_packets_per_slot` 0 means no limit (the whole request fits in one slot).

    A non-interruptible client (a washing machine, a dishwasher) once started takes
    min(rate, remaining) packets in every following slot until it is done.
    """

    client_id: str
    kind: str = ""
    rate_packets_per_slot: int = 0
    non_interruptible: bool = False
    router_id: str | None = None

    def __post_init__(self):
        if self.rate_packets_per_slot < 0:
            raise ValueError(f"client {self.client_id}: rate cannot be negative")
        if self.non_interruptible and self.rate_packets_per_slot == 0:
            raise ValueError(f"client {self.client_id}: a non-interruptible load needs a rate")


@dataclass(frozen=True)
class Buffer:
    """Short-term storage (battery, heat pump), in packets; losses are neglected at this timescale."""

    buffer_id: str
    capacity_packets: int
    charge_packets_per_slot: int
    discharge_packets_per_slot: int
    soc_packets: int = 0

    def __post_init__(self):
        if (
            min(
                self.capacity_packets, self.charge_packets_per_slot, self.discharge_packets_per_slot
            )
            < 0
        ):
            raise ValueError(f"storage {self.buffer_id}: sizes and rates cannot be negative")
        if not 0 <= self.soc_packets <= self.capacity_packets:
            raise ValueError(f"storage {self.buffer_id}: state of charge outside [0, capacity]")

    @property
    def storage_id(self) -> str:
        return self.buffer_id

    def can_draw(self) -> int:
        """Packets it can deliver in one slot."""
        return min(self.discharge_packets_per_slot, self.soc_packets)

    def can_store(self) -> int:
        """Packets it can take in one slot."""
        return min(self.charge_packets_per_slot, self.capacity_packets - self.soc_packets)

    def after(self, stored: int, drawn: int):
        """The same storage after one slot that stored and drew these packets."""
        return replace(self, soc_packets=self.soc_packets + stored - drawn)


@dataclass(frozen=True)
class Cache(Buffer):
    """Long-term (seasonal) storage, e.g. synthetic fuel: the server draws it only after the buffers
    and charges it only with what the buffers cannot take."""


@dataclass(frozen=True)
class Source:
    """Aggregated distributed generation (a virtual power plant): forecast packets per slot."""

    source_id: str
    forecast: Profile = field(default_factory=Profile)

    def packets_at(self, slot: int) -> int:
        return self.forecast.at(slot)


@dataclass(frozen=True)
class Server:
    """Where routers forward requests: the energy server's address and Energy-TCP port."""

    server_id: str
    ip: str = "0.0.0.0"
    port: int = PORT_ENERGY_SERVER


@dataclass(frozen=True)
class LocalGrant:
    """A router served a request from its household's own packets: (slot, packets) pairs."""

    router_id: str
    client_id: str
    slots: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Forward:
    """A router forwards a request to the server, with its household-level class."""

    router_id: str
    client_id: str
    server: Server | None
    router_class: int


@dataclass
class Router:
    """A household router (smart meter, HEMS). With `local_server` it first tries to serve a request
    from the household's own packets (its PV forecast net of its base load) between the request's
    start and deadline, earliest slot first; a request it cannot serve whole is forwarded to `server`
    with the router's classification (by appliance kind, `class_of`)."""

    router_id: str
    spec: PacketSpec
    own: Profile = field(default_factory=Profile)
    server: Server | None = None
    local_server: bool = True
    class_of: MappingProxyType = field(default_factory=lambda: KIND_CLASS)
    default_class: int = 2
    _used: dict = field(default_factory=dict, repr=False)

    def classify(self, client: Client) -> int:
        return self.class_of.get(client.kind, self.default_class)

    def free_at(self, slot: int) -> int:
        """Own packets not yet promised in `slot`."""
        return self.own.at(slot) - self._used.get(slot, 0)

    def handle(self, now_s: int, client: Client, req: RequestOption) -> LocalGrant | Forward:
        """Serve locally if the household's own packets cover the whole request in time, else forward."""
        need = self.spec.packets_of_bee(req.quantity)
        first = max(self.spec.first_slot_from(req.start_s), self.spec.slot(now_s) + 1)
        last = self.spec.last_slot_by(req.deadline_s or req.end_s)
        plan, left = [], need
        if self.local_server and need > 0:
            rate = client.rate_packets_per_slot or need
            for slot in range(first, last + 1):
                take = min(rate, left, max(0, self.free_at(slot)))
                if client.non_interruptible and plan and take < min(rate, left):
                    break  # a non-interruptible run cannot be split
                if client.non_interruptible and not plan and take < min(rate, left):
                    continue
                if take:
                    plan.append((slot, take))
                    left -= take
                if left == 0:
                    break
        if self.local_server and need > 0 and left == 0:
            for slot, n in plan:
                self._used[slot] = self._used.get(slot, 0) + n
            return LocalGrant(self.router_id, client.client_id, tuple(plan))
        return Forward(self.router_id, client.client_id, self.server, self.classify(client))
