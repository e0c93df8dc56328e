"""Shared builders for the conformance tests: valid packets, byte offsets, and checksum repair."""

from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.messages import segment_dscp
from eip.protocol.model import (
    Bee,
    EnergyIp,
    EnergyTcp,
    FeeNotice,
    Packet,
    PriceNotice,
    RequestOption,
    StaticLimitNotice,
)
from eip.protocol.mutate import fix_checksums  # noqa: F401 (tests import it from here)

# Offsets from the start of the IPv4 header for a packet with a 20-byte IPv4 header.
EIP = 20
TCP = EIP + c.ENERGY_IP_LEN
REC = TCP + c.ENERGY_TCP_LEN  # first record when there are no options
CTRL = TCP

T_S = 1_780_308_000
MAC_PV = "02:00:00:00:01:01"


def bee(**kw) -> Bee:
    base = dict(
        bee_type=c.BEE_ELECTRICITY,
        green_ratio_bp=6000,
        carbon_mg_per_unit=100,
        quantity=500,
        price_micro_per_kbee=550_000,
        start_s=T_S,
        end_s=T_S + 7200,
    )
    base.update(kw)
    return Bee(**base)


def data_packet(*records, energy_type=None, **seg_kw) -> Packet:
    records = records or (bee(),)
    if energy_type is None:
        types = {r.bee_type for r in records if isinstance(r, Bee)}
        energy_type = types.pop() if len(types) == 1 else 0
    seg = dict(
        sport=10,
        dport=49152,
        seq=5001,
        ack=1001,
        flags=c.ETCP_ACK,
        window=4000,
        records=tuple(records),
    )
    seg.update(seg_kw)
    tcp = EnergyTcp(**seg)
    return Packet(
        "10.1.0.11",
        "10.2.0.21",
        EnergyIp(energy_type, 0, MAC_PV, 3, 5, 5000),
        tcp,
        dscp=segment_dscp(tcp, c.PRIORITY_CLASSES[1]),  # R3.3: BEE or not, class 1
    )


def request_packet(**req_kw) -> Packet:
    req = RequestOption(
        **{
            **dict(
                quantity=1500,
                start_s=T_S,
                end_s=T_S + 7200,
                deadline_s=T_S + 7200,
                bee_type=1,
                priority=1,
            ),
            **req_kw,
        }
    )
    seg = EnergyTcp(49152, 10, 1000, 0, c.ETCP_SYN, 2000, 0, (req,))
    return Packet("10.2.0.21", "10.1.0.11", EnergyIp(0, 0, "02:00:00:00:02:01", 2, 5, 2000), seg)


def notice_packet() -> Packet:
    return Packet(
        "10.0.0.254",
        "10.1.0.11",
        EnergyIp(0, c.EIP_FLAG_ISP, "02:00:00:00:00:fe", 0, 5),
        StaticLimitNotice(5, 7200, 5000, 3000),
        dscp=c.DSCP_ISP_CONTROL,
    )


def price_packet(buy: int = 556_000, sell: int = -12_000) -> Packet:
    """The ISP's price notice to the PV card (R5.7); a negative sell price is legal."""
    return notice_packet()._replace(payload=PriceNotice(5, buy, sell))


def fee_packet(usage: int = 1200, rate: int = 3800) -> Packet:
    """The ISP's service-fee bill to the PV card (R5.8)."""
    return notice_packet()._replace(payload=FeeNotice(5, usage, rate))


def wire(pkt: Packet) -> bytearray:
    return bytearray(codec.encode(pkt))
