"""Value registries of the Energy Internet protocol (docs/protocol.md section 9), one dict per field.

Every implementation (fast codec, Scapy layers, Wireshark dissector, docs) takes its names from here.
"""

# IPv4 carriage (rule 3.1): RFC 3692 experimental protocol number.
IP_PROTO_ENERGY = 253
IPV4_FLAG_DF = 0x4000
DEFAULT_TTL = 64

# Energy-IP header (section 4).
ENERGY_IP_VERSION = 1
ENERGY_IP_HLEN_WORDS = 6  # 24 bytes, no options in version 1
ENERGY_IP_LEN = 24
NO_LIMIT = 0xFFFFFFFF  # static exchange limit: none known on this path

EIP_FLAG_ISP = 0x01  # originated by the Energy ISP (private domain)
EIP_FLAG_LIM = 0x02  # a hop on the path lowered the static exchange limit
EIP_FLAG_MOV = 0x04  # the origin card is away from its home Energy LAN
EIP_FLAG_NAMES = {EIP_FLAG_ISP: "ISP", EIP_FLAG_LIM: "LIM", EIP_FLAG_MOV: "MOV"}
EIP_FLAGS_KNOWN = EIP_FLAG_ISP | EIP_FLAG_LIM | EIP_FLAG_MOV

NH_CONTROL = 1
NH_ENERGY_TCP = 6
NEXT_HEADERS = {NH_CONTROL: "energy-control", NH_ENERGY_TCP: "energy-tcp"}

# BEE types (seed 000 Fig. 2); energy type 0 in Energy-IP means "no energy / control".
BEE_ELECTRICITY = 1
BEE_HEAT = 2
BEE_GAS = 3
BEE_GREEN_CERTIFICATE = 4
BEE_CARBON_RIGHT = 5
BEE_FLEXIBILITY = 6
BEE_TYPES = {
    BEE_ELECTRICITY: "electricity",
    BEE_HEAT: "heat",
    BEE_GAS: "gas",
    BEE_GREEN_CERTIFICATE: "green-certificate",
    BEE_CARBON_RIGHT: "carbon-right",
    BEE_FLEXIBILITY: "flexibility",
}
ENERGY_TYPES = {0: "none", **BEE_TYPES}
# Unit of one BEE of each type (1 BEE = 1 Wh, 1 g of carbon right, or 1 W of flexibility).
BEE_UNITS = {1: "Wh", 2: "Wh", 3: "Wh", 4: "Wh", 5: "g", 6: "W"}

# Named attribute segments per BEE type: segment index (1..5) -> (name, unit). Others are TBD (reserved).
BEE_ATTRIBUTES = {
    BEE_ELECTRICITY: {},
    BEE_HEAT: {1: ("media", "code"), 2: ("temperature", "0.01 degC"), 3: ("mass_flow", "g/s")},
    BEE_GAS: {1: ("delivery", "code"), 2: ("pressure", "Pa"), 3: ("mass_flow", "g/s")},
    BEE_GREEN_CERTIFICATE: {},
    BEE_CARBON_RIGHT: {},
    BEE_FLEXIBILITY: {1: ("ramp", "W/min")},
}
HEAT_MEDIA = {1: "water", 2: "steam", 3: "thermal-oil"}
GAS_DELIVERY = {1: "pipeline", 2: "compressed", 3: "liquefied"}

GREEN_RATIO_MAX_BP = 10_000  # basis points: 10000 = 100 %

# Energy-IP control messages (section 5).
CTRL_STATIC_LIMIT = 1
CTRL_LIMIT_EXCEEDED = 2
CTRL_UNREACHABLE = 3
CTRL_PRICE = 4  # the ISP's public prices at the card's node for a period (R5.7)
CTRL_FEE = 5  # the ISP's service-fee bill of a card for a period (R5.8)
CONTROL_TYPES = {
    CTRL_STATIC_LIMIT: "static-limit",
    CTRL_LIMIT_EXCEEDED: "limit-exceeded",
    CTRL_UNREACHABLE: "unreachable",
    CTRL_PRICE: "price",
    CTRL_FEE: "fee",
}
EXCEEDED_STATIC = 0
EXCEEDED_DYNAMIC = 1
EXCEEDED_QUOTA = 2
LIMIT_EXCEEDED_CODES = {
    EXCEEDED_STATIC: "static",
    EXCEEDED_DYNAMIC: "dynamic",
    EXCEEDED_QUOTA: "quota",
}
UNREACH_NET = 0
UNREACH_HOST = 1
UNREACH_PORT = 2
UNREACH_PROHIBITED = 3
UNREACH_ISLANDED = 4
UNREACHABLE_CODES = {
    UNREACH_NET: "network",
    UNREACH_HOST: "host",
    UNREACH_PORT: "port",
    UNREACH_PROHIBITED: "prohibited",
    UNREACH_ISLANDED: "islanded",
}
CONTROL_CODES = {
    CTRL_STATIC_LIMIT: {0: "notice"},
    CTRL_LIMIT_EXCEEDED: LIMIT_EXCEEDED_CODES,
    CTRL_UNREACHABLE: UNREACHABLE_CODES,
    CTRL_PRICE: {0: "notice"},
    CTRL_FEE: {0: "bill"},
}
CONTROL_HDR_LEN = 8
STATIC_LIMIT_BODY_LEN = 16
PRICE_BODY_LEN = 12  # period u32, buy price i32, sell price i32
FEE_BODY_LEN = 12  # period u32, usage u32 (BEE), rate u32 (micro-currency per 1000 BEE)
QUOTE_TRANSPORT_BYTES = 8  # the quote holds the IPv4 and Energy-IP headers plus 8 transport bytes

# Energy-TCP (section 6).
ENERGY_TCP_LEN = 24  # header without options
ETCP_FIN = 0x01
ETCP_SYN = 0x02
ETCP_RST = 0x04
ETCP_PSH = 0x08
ETCP_ACK = 0x10
ETCP_URG = 0x20
ETCP_WUP = 0x40  # window update from the Energy ISP
ETCP_FLAG_NAMES = {
    ETCP_FIN: "FIN",
    ETCP_SYN: "SYN",
    ETCP_RST: "RST",
    ETCP_PSH: "PSH",
    ETCP_ACK: "ACK",
    ETCP_URG: "URG",
    ETCP_WUP: "WUP",
}
ETCP_FLAGS_KNOWN = 0x7F

OPT_EOL = 0
OPT_NOP = 1
OPT_REQUEST = 2
OPT_REJECT = 3
OPT_SCHEDULE = 4
OPT_OFFER = 5  # like a request, but the requester delivers the BEEs
OPTION_KINDS = {
    OPT_EOL: "eol",
    OPT_NOP: "nop",
    OPT_REQUEST: "request",
    OPT_REJECT: "reject",
    OPT_SCHEDULE: "schedule",
    OPT_OFFER: "offer",
}
OPTION_LENGTHS = {OPT_REQUEST: 20, OPT_REJECT: 8, OPT_SCHEDULE: 16, OPT_OFFER: 20}

# Reject reasons of the reject option (R6.11, registry 9.5), by name.
REJECT_INSUFFICIENT_SUPPLY = 1
REJECT_STATIC_LIMIT = 2
REJECT_DYNAMIC_LIMIT = 3
REJECT_DEADLINE_INFEASIBLE = 4
REJECT_NO_SERVICE = 5
REJECT_UNAUTHORIZED = 6
REJECT_BUSY = 7
REJECT_MALFORMED = 8
REJECT_ISLANDED = 9
REJECT_CANCELLED = 10
REJECT_OTHER = 255
REJECT_REASONS = {
    REJECT_INSUFFICIENT_SUPPLY: "insufficient-supply",
    REJECT_STATIC_LIMIT: "static-limit",
    REJECT_DYNAMIC_LIMIT: "dynamic-limit",
    REJECT_DEADLINE_INFEASIBLE: "deadline-infeasible",
    REJECT_NO_SERVICE: "no-service",
    REJECT_UNAUTHORIZED: "unauthorized",
    REJECT_BUSY: "busy",
    REJECT_MALFORMED: "malformed",
    REJECT_ISLANDED: "islanded",
    REJECT_CANCELLED: "cancelled",
    REJECT_OTHER: "other",
}
SCHEDULE_MODES = {1: "deliver", 2: "store", 3: "draw"}
EMERGENCY_CODES = {1: "device", 2: "escalation", 3: "grid"}

# Well-known Energy-TCP ports; 49152-65535 are ephemeral.
PORT_ENERGY_SERVER = 1
PORT_BEE_POOL = 2
PORT_AUCTION = 3
PORT_ISP = 4
PORT_DELIVERY = 10
WELL_KNOWN_PORTS = {
    PORT_ENERGY_SERVER: "energy-server",
    PORT_BEE_POOL: "bee-pool",
    PORT_AUCTION: "auction",
    PORT_ISP: "isp",
    PORT_DELIVERY: "delivery",
}
EPHEMERAL_PORT_MIN = 49152

# Application records carried by Energy-TCP (section 7).
REC_BEE = 1
REC_ORDER = 2
REC_FILL = 3
REC_SIG = 4  # sender's Ed25519 signature over a delivery record (a range of sequence numbers)
REC_RCPT = 5  # receiver's Ed25519 signature acknowledging that delivery record
RECORD_KINDS = {
    REC_BEE: "bee",
    REC_ORDER: "order",
    REC_FILL: "fill",
    REC_SIG: "sig",
    REC_RCPT: "rcpt",
}
RECORD_LENGTHS = {REC_BEE: 48, REC_ORDER: 32, REC_FILL: 36, REC_SIG: 76, REC_RCPT: 76}
SIGNATURE_LEN = 64
DELIVERY_TAG = b"EIP-DLV1"  # first bytes of the message a SIG signs (docs/protocol.md section 7.4)
RECEIPT_TAG = b"EIP-RCT1"  # first bytes of the message a RCPT signs
BEE_FLAG_STORE = 0x01
ORDER_SIDES = {1: "send", 2: "ask"}
ORDER_ACTIONS = {1: "place", 2: "cancel", 3: "query"}
FILL_STATUSES = {1: "partial", 2: "complete", 3: "cancelled", 4: "rejected", 5: "resting"}

# DSCP registry (rules 3.3, 3.6, registry 9.8). A datagram's DSCP says its priority class and whether it
# carries BEE records: class k in 0..5 is DSCP 8k (class selector) without BEE and 8k + 2 (AF-style drop
# precedence, AF11 = 10 ...) with at least one BEE record; an emergency is 46 (EF) without BEE and 44
# with; ISP control is 48 (CS6) and never carries BEE. The switch meters and counts every protocol-253
# datagram of a card except the registered no-BEE codepoints of classes 1..5, emergency and ISP control
# (`DSCP_UNMETERED`): unmarked (0) or unregistered values are metered as if they carried BEE.
DSCP_EMERGENCY = 46
DSCP_ISP_CONTROL = 48
DSCP_BEE_FLAG = 0x02  # added to a class selector: the datagram carries BEE records
DSCP_EMERGENCY_BEE = 44
PRIORITY_CLASSES = {k: 8 * k for k in range(6)}  # no BEE in the datagram
BEE_PRIORITY_CLASSES = {k: 8 * k + DSCP_BEE_FLAG for k in range(6)}  # at least one BEE record
# R3.6: BEE is credited only in these
DSCP_BEE = frozenset(BEE_PRIORITY_CLASSES.values()) | {DSCP_EMERGENCY_BEE}
DSCP_UNMETERED = frozenset(v for k, v in PRIORITY_CLASSES.items() if k) | {
    DSCP_EMERGENCY,
    DSCP_ISP_CONTROL,
}
DSCP_NAMES = {
    **{8 * k: f"class-{k}" for k in range(6)},
    **{8 * k + DSCP_BEE_FLAG: f"class-{k}-bee" for k in range(6)},
    DSCP_EMERGENCY: "emergency",
    DSCP_EMERGENCY_BEE: "emergency-bee",
    DSCP_ISP_CONTROL: "isp-control",
}

MTU = 1500
IPV4_HDR_LEN = 20
MAX_PAYLOAD = MTU - IPV4_HDR_LEN - ENERGY_IP_LEN - ENERGY_TCP_LEN  # with no Energy-TCP options
