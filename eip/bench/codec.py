"""`eip bench codec`: Scapy build/dissect against the fast codec on the same full data packet."""

import calendar

from eip.bench import goal, rate_per_s
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.model import Bee, EnergyIp, EnergyTcp, Packet

T_S = calendar.timegm((2026, 6, 1, 10, 0, 0))


def bench_packet(n_records: int = 4) -> Packet:
    """A data segment carrying `n_records` BEEs of rotating types, as a card sends them."""
    types = (c.BEE_ELECTRICITY, c.BEE_HEAT, c.BEE_GAS, c.BEE_FLEXIBILITY)
    records = tuple(
        Bee(
            0,
            types[i % 4],
            6000,
            550,
            1 if types[i % 4] in (2, 3) else 0,
            quantity=10,
            price_micro_per_kbee=550_000,
            start_s=T_S,
            end_s=T_S + 600,
        )
        for i in range(n_records)
    )
    energy_type = records[0].bee_type if len({r.bee_type for r in records}) == 1 else 0
    eip = EnergyIp(energy_type, 0, "02:00:00:00:01:01", 3, 5, 5000)
    seg = EnergyTcp(10, 49152, 5001, 1001, c.ETCP_ACK | c.ETCP_PSH, 4000, records=records)
    return Packet("10.1.0.11", "10.2.0.21", eip, seg, dscp=8)


def run(seconds: float = 1.0, n_records: int = 4) -> dict:
    """Measure packets/s of the four operations and their ratios."""
    from scapy.layers.inet import IP

    from eip.protocol.layers.convert import to_scapy

    pkt = bench_packet(n_records)
    wire = codec.encode(pkt)
    if bytes(to_scapy(pkt)) != wire:
        raise AssertionError("Scapy and the fast codec disagree on the benchmark packet")
    rates = {
        "scapy_build_pps": rate_per_s(lambda: bytes(to_scapy(pkt)), seconds, batch=20),
        "scapy_dissect_pps": rate_per_s(lambda: IP(wire), seconds, batch=20),
        "fast_encode_pps": rate_per_s(lambda: codec.encode(pkt), seconds),
        "fast_decode_pps": rate_per_s(lambda: codec.decode(wire), seconds),
    }
    encode_ratio = rates["fast_encode_pps"] / rates["scapy_build_pps"]
    decode_ratio = rates["fast_decode_pps"] / rates["scapy_dissect_pps"]
    return {
        "benchmark": "codec",
        "packet": {"bytes": len(wire), "bee_records": n_records},
        "seconds_per_measurement": seconds,
        **{k: round(v, 1) for k, v in rates.items()},
        "goals": {
            "encode_vs_scapy_build": goal(encode_ratio, 50),
            "decode_vs_scapy_dissect": goal(decode_ratio, 20),
        },
    }
