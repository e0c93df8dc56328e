"""Packetized energy (seed 004 section II-A): chunks of `wh` Wh lasting `minutes` minutes.

One packet is delivered within one slot, so the slot length is the packet length. Slot k covers
[epoch_s + k * slot_s, epoch_s + (k + 1) * slot_s). On the wire 1 BEE = 1 Wh, so a packet is `wh` BEE.
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PacketSpec:
    """The packet grid: energy per packet (Wh), packet length (minutes) and the start of slot 0."""

    wh: int = 10
    minutes: int = 10
    epoch_s: int = 0

    def __post_init__(self):
        if self.wh <= 0 or self.minutes <= 0:
            raise ValueError(
                f"packet size and length must be positive, got {self.wh} Wh x {self.minutes} min"
            )

    @property
    def slot_s(self) -> int:
        """Slot length in seconds (= packet length)."""
        return self.minutes * 60

    @property
    def kw_per_packet_per_slot(self) -> float:
        """Mean power of one packet delivered over one slot, kW."""
        return self.wh / 1000 / (self.minutes / 60)

    def packets_of_wh(self, wh: float) -> int:
        """Packets needed to carry `wh` Wh (rounded up: a partial packet is a whole packet)."""
        return max(0, math.ceil(wh / self.wh - 1e-9))

    def packets_of_kwh(self, kwh: float) -> int:
        """Packets needed to carry `kwh` kWh (rounded up)."""
        return self.packets_of_wh(kwh * 1000)

    def packets_of_bee(self, bee: int) -> int:
        """Packets needed for a quantity of BEE (1 BEE = 1 Wh)."""
        return self.packets_of_wh(bee)

    def wh_of(self, packets: int) -> int:
        """Energy of `packets` packets, Wh (= BEE)."""
        return packets * self.wh

    def kwh_of(self, packets: int) -> float:
        """Energy of `packets` packets, kWh."""
        return packets * self.wh / 1000

    def slot(self, t_s: float) -> int:
        """Index of the slot containing time `t_s` (Unix seconds)."""
        return math.floor((t_s - self.epoch_s) / self.slot_s)

    def first_slot_from(self, t_s: float) -> int:
        """First slot starting at or after `t_s`: where a window opening at `t_s` can begin."""
        return math.ceil((t_s - self.epoch_s) / self.slot_s)

    def last_slot_by(self, t_s: float) -> int:
        """Last slot ending at or before `t_s`: the last one that finishes by a deadline `t_s`."""
        return math.floor((t_s - self.epoch_s) / self.slot_s) - 1

    def slot_start_s(self, slot: int) -> int:
        """Start of slot `slot`, Unix seconds."""
        return self.epoch_s + slot * self.slot_s

    def slot_end_s(self, slot: int) -> int:
        """End of slot `slot` (start of the next), Unix seconds."""
        return self.slot_start_s(slot + 1)


@dataclass(frozen=True)
class Profile:
    """Packets per slot from `start_slot` on (a forecast or a base load); 0 outside."""

    packets: tuple[int, ...] = ()
    start_slot: int = 0

    def __post_init__(self):
        object.__setattr__(self, "packets", tuple(int(p) for p in self.packets))
        if any(p < 0 for p in self.packets):
            raise ValueError("a profile holds packet counts, which cannot be negative")

    def at(self, slot: int) -> int:
        """Packets in slot `slot`."""
        i = slot - self.start_slot
        return self.packets[i] if 0 <= i < len(self.packets) else 0
