"""Scapy layers of the Energy Internet protocol: Energy-IP, control messages, Energy-TCP, records.

Importing this package binds the layers to IPv4 protocol 253 and to each other.
"""

from scapy.layers.inet import IP
from scapy.packet import bind_bottom_up, bind_layers

from eip.protocol.constants import (
    CTRL_FEE,
    CTRL_LIMIT_EXCEEDED,
    CTRL_PRICE,
    CTRL_STATIC_LIMIT,
    CTRL_UNREACHABLE,
    IP_PROTO_ENERGY,
    NH_CONTROL,
    NH_ENERGY_TCP,
)
from eip.protocol.layers.control import (
    EnergyControl,
    EnergyFee,
    EnergyPrice,
    EnergyQuote,
    EnergyStaticLimit,
)
from eip.protocol.layers.convert import from_scapy, to_scapy
from eip.protocol.layers.energy_ip import EnergyIP
from eip.protocol.layers.energy_tcp import (
    EnergyTCP,
    ETCPOptEOL,
    ETCPOptNop,
    ETCPOptOffer,
    ETCPOptReject,
    ETCPOptRequest,
    ETCPOptSchedule,
    ETCPOptUnknown,
)
from eip.protocol.layers.records import BEE, BEEPoolFill, BEEPoolOrder, BEEReceipt, BEESignature

__all__ = [
    "BEE",
    "BEEPoolFill",
    "BEEPoolOrder",
    "BEEReceipt",
    "BEESignature",
    "ETCPOptEOL",
    "ETCPOptNop",
    "ETCPOptOffer",
    "ETCPOptReject",
    "ETCPOptRequest",
    "ETCPOptSchedule",
    "ETCPOptUnknown",
    "EnergyControl",
    "EnergyFee",
    "EnergyIP",
    "EnergyPrice",
    "EnergyQuote",
    "EnergyStaticLimit",
    "EnergyTCP",
    "from_scapy",
    "to_scapy",
]

# IPv4 fragments are not dissected (R3.4), as Scapy does for TCP.
bind_layers(IP, EnergyIP, frag=0, proto=IP_PROTO_ENERGY)
bind_layers(EnergyIP, EnergyTCP, nh=NH_ENERGY_TCP)
bind_layers(EnergyIP, EnergyControl, nh=NH_CONTROL)
bind_layers(EnergyControl, EnergyStaticLimit, type=CTRL_STATIC_LIMIT)
bind_layers(EnergyControl, EnergyPrice, type=CTRL_PRICE)
bind_layers(EnergyControl, EnergyFee, type=CTRL_FEE)
# A quote answers type 2 or 3; stacking EnergyControl()/EnergyQuote() defaults to 3 (unreachable).
bind_bottom_up(EnergyControl, EnergyQuote, type=CTRL_LIMIT_EXCEEDED)
bind_layers(EnergyControl, EnergyQuote, type=CTRL_UNREACHABLE)
