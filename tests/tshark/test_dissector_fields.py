"""Every Energy field tshark shows with eip.lua equals what the Scapy layers decode from the same frame."""

import struct
import xml.etree.ElementTree as ET

import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether
from tshark_helpers import pdml_packets, requires_tshark, run_tshark

import eip.protocol.layers  # noqa: F401  (binds IPv4 protocol 253)
from eip.protocol import constants as c
from eip.protocol.layers import (
    BEE,
    BEEPoolFill,
    BEEPoolOrder,
    BEEReceipt,
    BEESignature,
    EnergyControl,
    EnergyFee,
    EnergyIP,
    EnergyPrice,
    EnergyQuote,
    EnergyStaticLimit,
    EnergyTCP,
)

pytestmark = [pytest.mark.tshark, requires_tshark]

OURS = ("energyip", "energyctl", "energytcp", "bee")

# tshark field -> Scapy field name, or (Scapy field name, bit mask) for flag bits.
ENERGY_IP = {
    "energyip.version": "version",
    "energyip.hlen": "hlen",
    "energyip.energy_type": "energy_type",
    "energyip.flags": "flags",
    "energyip.flags.isp": ("flags", c.EIP_FLAG_ISP),
    "energyip.flags.lim": ("flags", c.EIP_FLAG_LIM),
    "energyip.flags.mov": ("flags", c.EIP_FLAG_MOV),
    "energyip.flags.reserved": ("flags", 0xF8),
    "energyip.next_header": "nh",
    "energyip.origin_mac": "origin_mac",
    "energyip.checksum": "chksum",
    "energyip.node_id": "node_id",
    "energyip.period": "period",
    "energyip.static_limit": "static_limit",
    "energyip.options": "options",
}
ENERGY_TCP = {
    "energytcp.srcport": "sport",
    "energytcp.dstport": "dport",
    "energytcp.seq": "seq",
    "energytcp.ack": "ack",
    "energytcp.hdr_len": "dataofs",
    "energytcp.reserved": "reserved",
    "energytcp.flags": "flags",
    **{
        f"energytcp.flags.{name.lower()}": ("flags", bit) for bit, name in c.ETCP_FLAG_NAMES.items()
    },
    "energytcp.flags.reserved": ("flags", 0x80),
    "energytcp.checksum": "chksum",
    "energytcp.window": "window",
    "energytcp.urgent": "urgent",
    "energytcp.reserved2": "reserved2",
}
OPTION = {
    "energytcp.option.kind": "kind",
    "energytcp.option.length": "length",
    "energytcp.option.request.quantity": "quantity",
    "energytcp.option.request.start": "start_s",
    "energytcp.option.request.end": "end_s",
    "energytcp.option.request.deadline": "deadline_s",
    "energytcp.option.request.bee_type": "bee_type",
    "energytcp.option.request.priority": "priority",
    "energytcp.option.offer.quantity": "quantity",
    "energytcp.option.offer.start": "start_s",
    "energytcp.option.offer.end": "end_s",
    "energytcp.option.offer.deadline": "deadline_s",
    "energytcp.option.offer.bee_type": "bee_type",
    "energytcp.option.offer.priority": "priority",
    "energytcp.option.reject.reason": "reason",
    "energytcp.option.reject.retry_after": "retry_after_s",
    "energytcp.option.schedule.mode": "mode",
    "energytcp.option.schedule.reserved": "reserved",
    "energytcp.option.schedule.start": "start_s",
    "energytcp.option.schedule.slot": "slot_s",
    "energytcp.option.schedule.n_slots": "n_slots",
    "energytcp.option.schedule.bee_per_slot": "bee_per_slot",
    "energytcp.option.data": "data",
}
CONTROL = {
    "energyctl.type": "type",
    "energyctl.code": "code",
    "energyctl.checksum": "chksum",
    "energyctl.value": "value",
    "energyctl.limit": "value",
}
STATIC = {f"energyctl.{n}": n for n in ("period", "period_s", "export_limit", "import_limit")}
PRICE = {
    "energyctl.period": "period",
    "energyctl.buy_price": "buy_price_micro_per_kbee",
    "energyctl.sell_price": "sell_price_micro_per_kbee",
}
FEE = {
    "energyctl.period": "period",
    "energyctl.usage": "usage_bee",
    "energyctl.fee_rate": "rate_micro_per_kbee",
}
QUOTE_IP = {
    "energyctl.quote.ip.version": "version",
    "energyctl.quote.ip.hdr_len": "ihl",
    "energyctl.quote.ip.len": "len",
    "energyctl.quote.ip.id": "id",
    "energyctl.quote.ip.ttl": "ttl",
    "energyctl.quote.ip.proto": "proto",
    "energyctl.quote.ip.src": "src",
    "energyctl.quote.ip.dst": "dst",
}
RECORD = {"bee.kind": "kind", "bee.flags": "flags", "bee.length": "length"}
BEE_FIELDS = {
    **RECORD,
    "bee.flags.store": ("flags", c.BEE_FLAG_STORE),
    "bee.type": "bee_type",
    "bee.reserved": "reserved",
    "bee.green_ratio": "green_ratio_bp",
    "bee.carbon": "carbon_mg_per_unit",
    **{f"bee.attr{i}": f"attr{i}" for i in range(1, 6)},
    "bee.quantity": "quantity",
    "bee.price": "price_micro_per_kbee",
    "bee.start": "start_s",
    "bee.end": "end_s",
}
# Named attribute segments, from the registry: bee.<type prefix>.<name> -> attrN
ATTR_PREFIX = {c.BEE_HEAT: "heat", c.BEE_GAS: "gas", c.BEE_FLEXIBILITY: "flex"}
for _bt, _attrs in c.BEE_ATTRIBUTES.items():
    for _i, (_name, _unit) in _attrs.items():
        BEE_FIELDS[f"bee.{ATTR_PREFIX[_bt]}.{_name}"] = f"attr{_i}"
ORDER_FIELDS = {
    **RECORD,
    "bee.flags.store": ("flags", c.BEE_FLAG_STORE),
    "bee.order.id": "order_id",
    "bee.order.side": "side",
    "bee.order.type": "bee_type",
    "bee.order.action": "action",
    "bee.order.reserved": "reserved",
    "bee.order.quantity": "quantity",
    "bee.order.price": "price_micro_per_kbee",
    "bee.order.start": "start_s",
    "bee.order.end": "end_s",
    "bee.order.min_green_ratio": "min_green_ratio_bp",
    "bee.order.reserved2": "reserved2",
}
FILL_FIELDS = {
    **RECORD,
    "bee.flags.store": ("flags", c.BEE_FLAG_STORE),
    **{
        f"bee.fill.{n}": n
        for n in ("order_id", "peer_mac", "status", "reserved", "peer_ip", "quantity")
    },
    "bee.fill.price": "price_micro_per_kbee",
    "bee.fill.start": "start_s",
    "bee.fill.end": "end_s",
}
SIG_FIELDS = {
    **RECORD,
    "bee.flags.store": ("flags", c.BEE_FLAG_STORE),
    "bee.sig.start_seq": "start_seq",
    "bee.sig.end_seq": "end_seq",
    "bee.sig.signature": "signature",
}
RCPT_FIELDS = {
    **RECORD,
    "bee.flags.store": ("flags", c.BEE_FLAG_STORE),
    "bee.rcpt.start_seq": "start_seq",
    "bee.rcpt.end_seq": "end_seq",
    "bee.rcpt.signature": "signature",
}
RECORD_MAPS = {
    BEE: BEE_FIELDS,
    BEEPoolOrder: ORDER_FIELDS,
    BEEPoolFill: FILL_FIELDS,
    BEESignature: SIG_FIELDS,
    BEEReceipt: RCPT_FIELDS,
}
# Generated fields checked separately (checksum verdicts, counters, message class).
GENERATED = {
    "energyip.checksum.status",
    "energyip.checksum.calculated",
    "energyctl.checksum.status",
    "energyctl.checksum.calculated",
    "energytcp.checksum.status",
    "energytcp.checksum.calculated",
    "energytcp.message",
    "energytcp.records",
    "energytcp.bee_units",
    "energytcp.port",
    "energytcp.options",  # compared option by option
}


class Comparer:
    def __init__(self):
        self.count = 0
        self.seen: set[str] = set()

    def check(self, elem: ET.Element, expected, where: str) -> None:
        name = elem.get("name")
        if isinstance(expected, bytes):
            got = elem.get("value", "")
            assert got == expected.hex(), f"{where} {name}: tshark {got}, scapy {expected.hex()}"
        elif isinstance(expected, str):
            got = elem.get("show", "")
            assert got.lower() == expected.lower(), (
                f"{where} {name}: tshark {got}, scapy {expected}"
            )
        else:
            got = int(elem.get("show"), 0)
            assert got == int(expected), f"{where} {name}: tshark {got}, scapy {int(expected)}"
        self.count += 1
        self.seen.add(name)

    def layer(self, fields: list[ET.Element], layer, mapping: dict, where: str) -> None:
        for elem in fields:
            name = elem.get("name")
            if name in GENERATED:
                continue
            assert name in mapping, (
                f"{where}: tshark field {name} has no Scapy counterpart in the test"
            )
            spec = mapping[name]
            if isinstance(spec, tuple):
                value = int(int(getattr(layer, spec[0])) & spec[1] != 0)
                if spec[1] in (0xF8,):  # multi-bit reserved field: the shifted value
                    value = (int(getattr(layer, spec[0])) & spec[1]) >> 3
            else:
                value = getattr(layer, spec)
            self.check(elem, value, where)


def own_fields(elem: ET.Element, stop=("energyctl.quote", "energytcp.options")) -> list[ET.Element]:
    """Named fields under `elem`, not descending into nested protocols, quotes and options."""
    out = []
    for child in elem:
        if child.tag == "proto":
            continue
        name = child.get("name", "")
        if name.split(".")[0] in OURS:
            out.append(child)
        if name in stop:
            continue
        if name.startswith("_ws.expert"):
            continue
        out.extend(own_fields(child, stop))
    return out


def find(fields: list[ET.Element], name: str) -> ET.Element:
    hits = [f for f in fields if f.get("name") == name]
    assert len(hits) == 1, f"{name}: {len(hits)} occurrences"
    return hits[0]


def check_checksum(cmp: Comparer, fields, prefix: str, layer, where: str) -> None:
    status = find(fields, f"{prefix}.checksum.status")
    assert status.get("show") == "1", f"{where}: {prefix} checksum not verified good"
    cmp.check(find(fields, f"{prefix}.checksum.calculated"), layer.chksum, where)


def compare_options(cmp: Comparer, opts_elem: ET.Element, tcp, where: str) -> None:
    fields = [
        f for f in opts_elem.iter("field") if f.get("name", "").startswith("energytcp.option.")
    ]
    groups: list[list[ET.Element]] = []
    for f in fields:
        if f.get("name") == "energytcp.option.kind":
            groups.append([])
        if f.get("name") == "energytcp.option.padding":
            assert set(f.get("value")) <= {"0"}
            continue
        groups[-1].append(f)
    options = list(tcp.options)
    assert len(groups) == len(options), (
        f"{where}: {len(groups)} options shown, scapy has {len(options)}"
    )
    for i, (group, opt) in enumerate(zip(groups, options, strict=True)):
        cmp.layer(group, opt, OPTION, f"{where} option {i}")


def compare_quote(cmp: Comparer, quote_elem: ET.Element, quoted: bytes, where: str) -> None:
    ip = IP(quoted)
    qfields = [f for f in quote_elem if f.get("name", "").startswith("energyctl.quote.ip")]
    for f in qfields:
        if f.get("name") == "energyctl.quote.ip.dscp":
            cmp.check(f, ip.tos >> 2, where)
        else:
            cmp.check(f, getattr(ip, QUOTE_IP[f.get("name")]), where)
    assert len(qfields) == 9
    protos = {p.get("name"): p for p in quote_elem.findall("proto")}
    cmp.layer(own_fields(protos["energyip"]), ip[EnergyIP], ENERGY_IP, f"{where} quoted")
    check_checksum(cmp, own_fields(protos["energyip"]), "energyip", ip[EnergyIP], f"{where} quoted")
    toff = ip.ihl * 4 + ip[EnergyIP].hlen * 4
    sport, dport, seq = struct.unpack_from("!HHI", quoted, toff)
    tfields = own_fields(protos["energytcp"])
    for f, value in zip(tfields, (sport, dport, seq), strict=True):
        cmp.check(f, value, f"{where} quoted")


def compare_packet(cmp: Comparer, pkt_elem: ET.Element, frame: bytes, where: str) -> None:
    scapy_pkt = Ether(frame)
    protos = [p for p in pkt_elem.findall("proto") if p.get("name") in OURS]
    names = [p.get("name") for p in protos]
    eip_layer = scapy_pkt[EnergyIP]
    assert names[0] == "energyip", where
    fields = own_fields(protos[0])
    cmp.layer(fields, eip_layer, ENERGY_IP, where)
    check_checksum(cmp, fields, "energyip", eip_layer, where)
    if eip_layer.nh == c.NH_CONTROL:
        assert names == ["energyip", "energyctl"], where
        ctl = scapy_pkt[EnergyControl]
        fields = own_fields(protos[1])
        cmp.layer(
            [f for f in fields if f.get("name") in CONTROL or f.get("name") in GENERATED],
            ctl,
            CONTROL,
            where,
        )
        check_checksum(cmp, fields, "energyctl", ctl, where)
        bodies = {
            c.CTRL_STATIC_LIMIT: (EnergyStaticLimit, STATIC),
            c.CTRL_PRICE: (EnergyPrice, PRICE),
            c.CTRL_FEE: (EnergyFee, FEE),
        }
        if ctl.type in bodies:
            layer, mapping = bodies[ctl.type]
            body = scapy_pkt[layer]
            cmp.layer([f for f in fields if f.get("name") not in CONTROL], body, mapping, where)
        else:
            quote = find(fields, "energyctl.quote")
            quoted = scapy_pkt[EnergyQuote].quoted
            cmp.check(quote, quoted, where)
            compare_quote(cmp, quote, quoted, where)
        return
    tcp = scapy_pkt[EnergyTCP]
    fields = own_fields(protos[1])
    cmp.layer(fields, tcp, ENERGY_TCP, where)
    check_checksum(cmp, fields, "energytcp", tcp, where)
    ports = sorted(int(f.get("show")) for f in fields if f.get("name") == "energytcp.port")
    assert ports == sorted((tcp.sport, tcp.dport)), where
    opts = [f for f in fields if f.get("name") == "energytcp.options"]
    if tcp.options:
        cmp.check(opts[0], bytes(tcp.original)[24 : tcp.dataofs * 4], where)
        compare_options(cmp, opts[0], tcp, where)
    else:
        assert not opts, where
    records = []
    layer = tcp.payload
    while type(layer) in RECORD_MAPS:
        records.append(layer)
        layer = layer.payload
    assert names == ["energyip", "energytcp"] + ["bee"] * len(records), where
    if records:
        cmp.check(find(fields, "energytcp.records"), len(records), where)
        units = sum(r.units() for r in records)  # BEE quantity, 1 order/fill, 0 SIG/RCPT
        cmp.check(find(fields, "energytcp.bee_units"), units, where)
    for i, (proto, record) in enumerate(zip(protos[2:], records, strict=True)):
        rfields = own_fields(proto)
        cmp.layer(rfields, record, RECORD_MAPS[type(record)], f"{where} record {i}")
        if isinstance(record, BEE):
            named = c.BEE_ATTRIBUTES.get(record.bee_type, {})
            attr_names = [
                f.get("name")
                for f in rfields
                if ".attr" in f.get("name")
                or (
                    f.get("name").count(".") == 2
                    and f.get("name").split(".")[1] in ATTR_PREFIX.values()
                )
            ]
            assert len(attr_names) == 5, f"{where} record {i}: {attr_names}"
            for seg in range(1, 6):
                if seg in named:
                    want = f"bee.{ATTR_PREFIX[record.bee_type]}.{named[seg][0]}"
                else:
                    want = f"bee.attr{seg}"
                assert attr_names[seg - 1] == want, f"{where} record {i}"


def test_every_field_matches_scapy(sample_pcap):
    path, frames = sample_pcap
    packets, _ = pdml_packets(path)
    assert len(packets) == len(frames)
    cmp = Comparer()
    kinds = set()
    for i, (pkt_elem, frame) in enumerate(zip(packets, frames, strict=True)):
        compare_packet(cmp, pkt_elem, frame, f"packet {i + 1}")
        scapy_pkt = Ether(frame)
        if EnergyControl in scapy_pkt:
            kinds.add(("control", scapy_pkt[EnergyControl].type))
        layer = scapy_pkt[EnergyIP].payload
        while layer:
            kinds.add(type(layer).__name__)
            if isinstance(layer, BEE):
                kinds.add(("bee", layer.bee_type))
            layer = layer.payload
    # Every message and record kind, every BEE type, all shown and compared.
    for kind in (
        "EnergyTCP",
        "BEE",
        "BEEPoolOrder",
        "BEEPoolFill",
        "BEESignature",
        "BEEReceipt",
        "EnergyStaticLimit",
        "EnergyPrice",
        "EnergyFee",
        "EnergyQuote",
    ):
        assert kind in kinds
    assert {("control", t) for t in c.CONTROL_TYPES} <= kinds
    assert {("bee", t) for t in c.BEE_TYPES} <= kinds
    assert cmp.count > 30 * len(frames), cmp.count
    every = set(ENERGY_IP) | set(ENERGY_TCP) | set(CONTROL) | set(STATIC) | set(PRICE)
    every |= set(QUOTE_IP)
    every |= set(BEE_FIELDS) | set(ORDER_FIELDS) | set(FILL_FIELDS) | set(SIG_FIELDS)
    every |= set(RCPT_FIELDS)
    every |= set(OPTION) - {"energytcp.option.data"}
    every -= {"energyip.options", "energyctl.value"} - cmp.seen  # not in every sample
    missing = every - cmp.seen - {"energyip.options"}
    assert not missing, f"fields never compared: {sorted(missing)}"


EXPECTED_INFO = (
    "Static limit period=",
    "Price period=5 buy=0.556 sell=0.540 /kWh",
    "Price period=5 buy=0.556 sell=-0.012 /kWh",  # the local frame's negative sell price
    "Request ",
    "Offer 500 BEE flexibility",
    "Accept offer 500 BEE flexibility",
    "Accept ",
    "Ack ack=",
    "RCPT [5001,6001)",
    "Data seq=",
    "+SIG [5001,6001)",
    "Window update wnd=",
    "Schedule store",
    "Reject reason=static-limit",
    "Emergency Request",
    "Order place ask",
    "Fill order 17",
    "Limit exceeded (dynamic) limit=",
    "Unreachable (islanded)",
    "Close seq=",
)


def test_info_column_names_every_message_class(sample_pcap):
    path, _ = sample_pcap
    proc = run_tshark(path, "-T", "fields", "-e", "_ws.col.Info", "-e", "_ws.col.Protocol")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for fragment in EXPECTED_INFO:
        assert fragment in text, f"no Info column with {fragment!r}:\n{text}"
    assert "Energy-TCP" in text and "Energy-Ctl" in text


@pytest.mark.parametrize(
    ("display_filter", "predicate"),
    [
        ("energytcp.flags.syn == 1", lambda p: EnergyTCP in p and p[EnergyTCP].flags.SYN),
        (
            "bee.type == 2",
            lambda p: any(isinstance(x, BEE) and x.bee_type == 2 for x in p.iterpayloads()),
        ),
        ("energyip.static_limit < 1000", lambda p: p[EnergyIP].static_limit < 1000),
        ("energyctl.type == 1", lambda p: EnergyStaticLimit in p),
        ("energyctl.type == 4", lambda p: EnergyPrice in p),
        ("energyctl.type == 5", lambda p: EnergyFee in p),
        ("energyctl.usage > 1000", lambda p: EnergyFee in p and p[EnergyFee].usage_bee > 1000),
        (
            "energyctl.sell_price < 0",
            lambda p: EnergyPrice in p and p[EnergyPrice].sell_price_micro_per_kbee < 0,
        ),
        ("energyip.flags.isp == 1", lambda p: p[EnergyIP].flags.ISP),
        (
            "energytcp.port == 2",
            lambda p: EnergyTCP in p and 2 in (p[EnergyTCP].sport, p[EnergyTCP].dport),
        ),
        ("energytcp.checksum.status == 1", lambda p: EnergyTCP in p),
    ],
)
def test_display_filters_select_what_scapy_selects(sample_pcap, display_filter, predicate):
    path, frames = sample_pcap
    proc = run_tshark(path, "-Y", display_filter, "-T", "fields", "-e", "frame.number")
    assert proc.returncode == 0, proc.stderr
    got = [int(n) for n in proc.stdout.split()]
    want = [i + 1 for i, f in enumerate(frames) if predicate(Ether(f))]
    assert got == want
    assert want or display_filter == "energyip.static_limit < 1000"
