"""The SDEN energy server at the switches: its punt meter and rule, its packet-ins, its answers out.

The service (eip.sdn.sden_service.SdenService) takes Packets and the time and returns Packets; this
turns them into OpenFlow messages for the controller. Protocol 253 to the server's address is punted
under a meter of its own (SDEN_RATE_PKTPS), so a flood cannot starve it.
"""

from collections.abc import Callable

from eip.errors import DecodeError
from eip.protocol.codec import decode_frame, encode_frame
from eip.sdn import ofmsg
from eip.sdn import pipeline as pl

SDEN_RATE_PKTPS = 500  # packets/s a LAN switch may punt to the energy server

# (ip) -> (dpid, port, mac) of the card with that address on a switch that is up, or None
Locate = Callable[[str], tuple[int, int, str] | None]


class SdenPunt:
    def __init__(self, sden, meter_id: int, locate: Locate):
        self.sden, self.meter_id, self.locate = sden, meter_id, locate

    def meter(self):
        return ofmsg.meter_add(self.meter_id, SDEN_RATE_PKTPS, SDEN_RATE_PKTPS)

    def punt_flow(self):
        return pl.sden_punt_flow(self.sden.ip, self.meter_id)

    def packet_in(self, data: bytes, now: float) -> list | None:
        """Hand a packet for the energy server to it; None if the packet is not for the server."""
        try:
            pkt = decode_frame(data)[2]
        except DecodeError:
            return None
        if pkt.dst != self.sden.ip:
            return None
        return self.packet_outs(self.sden.on_packet(pkt, now))

    def on_timer(self, now: float) -> list:
        return self.packet_outs(self.sden.on_timer(now))

    def packet_outs(self, packets) -> list:
        """Packet-outs of the energy server's answers, each out of its card's switch port."""
        out = []
        for answer in packets:
            where = self.locate(answer.dst)
            if where is None:
                continue
            dpid, port, mac = where
            frame = encode_frame(answer, self.sden.mac, mac)
            out.append((dpid, ofmsg.packet_out(frame, port)))
        return out
