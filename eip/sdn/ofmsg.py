"""The only module that builds OpenFlow 1.3 messages (Faucet's valve_of): flow-mods, meter-mods and the rest.

Every message is built with ``datapath=None``: the os-ken app sets ``msg.datapath = dp`` just before
``dp.send_msg(msg)`` (serialising needs the datapath's ofproto). Matches are OFPMatch keyword fields
(in_port, eth_src, eth_dst, eth_type, ip_proto, ip_dscp, ipv4_src, ipv4_dst, metadata; a masked field is
a (value, mask) pair; ip_dscp is exact, OpenFlow 1.3 has no mask for it). ``barrier()`` returns an
OFPBarrierRequest: in a controller's message list it is also the ordering marker (see ``is_barrier``).
"""

from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

ETH_TYPE_IPV4 = 0x0800
ETH_TYPE_ARP = 0x0806
IP_PROTO_ENERGY = 253
CONTROLLER = ofp.OFPP_CONTROLLER
ALL_TABLES = ofp.OFPTT_ALL
ALL_METERS = ofp.OFPM_ALL
NO_BUFFER = ofp.OFP_NO_BUFFER


def match(**fields) -> parser.OFPMatch:
    """An OFPMatch; adds the eth_type that IPv4 fields need (OpenFlow prerequisites)."""
    if "eth_type" not in fields and fields.keys() & {"ip_proto", "ip_dscp", "ipv4_src", "ipv4_dst"}:
        fields["eth_type"] = ETH_TYPE_IPV4
    return parser.OFPMatch(**fields)


def output(port: int) -> parser.OFPActionOutput:
    """Output to a port; to the controller the whole packet is sent (max_len NO_BUFFER)."""
    return parser.OFPActionOutput(port, ofp.OFPCML_NO_BUFFER if port == CONTROLLER else 0)


def instructions(
    actions=(),
    goto: int | None = None,
    meter_id: int | None = None,
    metadata: tuple[int, int] | None = None,
) -> list:
    """Meter, apply-actions, write-metadata (value, mask), goto-table: OpenFlow 1.3 order. No actions
    and no goto = drop."""
    inst = []
    if meter_id is not None:
        inst.append(parser.OFPInstructionMeter(meter_id))
    if actions:
        inst.append(parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, list(actions)))
    if metadata is not None:
        inst.append(parser.OFPInstructionWriteMetadata(metadata[0], metadata[1]))
    if goto is not None:
        inst.append(parser.OFPInstructionGotoTable(goto))
    return inst


def flow_add(
    table: int,
    priority: int,
    match_fields: dict,
    *,
    actions=(),
    goto: int | None = None,
    meter_id: int | None = None,
    metadata: tuple[int, int] | None = None,
    cookie: int = 0,
    idle_timeout: int = 0,
    hard_timeout: int = 0,
) -> parser.OFPFlowMod:
    """Add (or replace, same match and priority) a flow entry. No actions and no goto = drop."""
    return parser.OFPFlowMod(
        None,
        cookie=cookie,
        table_id=table,
        command=ofp.OFPFC_ADD,
        idle_timeout=idle_timeout,
        hard_timeout=hard_timeout,
        priority=priority,
        buffer_id=NO_BUFFER,
        match=match(**match_fields),
        instructions=instructions(actions, goto, meter_id, metadata),
    )


def flow_delete(
    *,
    cookie: int = 0,
    cookie_mask: int = 0,
    match_fields: dict | None = None,
    table: int = ALL_TABLES,
) -> parser.OFPFlowMod:
    """Delete every flow whose cookie matches under the mask (mask 0: all) and that the match covers."""
    return parser.OFPFlowMod(
        None,
        cookie=cookie,
        cookie_mask=cookie_mask,
        table_id=table,
        command=ofp.OFPFC_DELETE,
        out_port=ofp.OFPP_ANY,
        out_group=ofp.OFPG_ANY,
        match=match(**(match_fields or {})),
    )


def _meter(command: int, meter_id: int, rate_pktps: int, burst: int) -> parser.OFPMeterMod:
    band = parser.OFPMeterBandDrop(rate=int(rate_pktps), burst_size=int(burst))
    flags = ofp.OFPMF_PKTPS | ofp.OFPMF_BURST
    return parser.OFPMeterMod(None, command=command, flags=flags, meter_id=meter_id, bands=[band])


def meter_add(meter_id: int, rate_pktps: int, burst: int) -> parser.OFPMeterMod:
    """A packets-per-second meter with one drop band (all OVS userspace supports)."""
    return _meter(ofp.OFPMC_ADD, meter_id, rate_pktps, burst)


def meter_modify(meter_id: int, rate_pktps: int, burst: int) -> parser.OFPMeterMod:
    return _meter(ofp.OFPMC_MODIFY, meter_id, rate_pktps, burst)


def meter_delete(meter_id: int = ALL_METERS) -> parser.OFPMeterMod:
    return parser.OFPMeterMod(None, command=ofp.OFPMC_DELETE, flags=0, meter_id=meter_id, bands=[])


def barrier() -> parser.OFPBarrierRequest:
    return parser.OFPBarrierRequest(None)


def is_barrier(msg) -> bool:
    """In a controller's message list: send it, and hold the later messages for that dpid until its reply."""
    return isinstance(msg, parser.OFPBarrierRequest)


def packet_out(data: bytes, out_port: int) -> parser.OFPPacketOut:
    """Send a whole frame (no buffer) out of a port, as from the controller."""
    return parser.OFPPacketOut(
        None, buffer_id=NO_BUFFER, in_port=CONTROLLER, actions=[output(out_port)], data=bytes(data)
    )


def flow_stats_request(cookie: int, cookie_mask: int) -> parser.OFPFlowStatsRequest:
    return parser.OFPFlowStatsRequest(
        None, 0, ALL_TABLES, ofp.OFPP_ANY, ofp.OFPG_ANY, cookie, cookie_mask, match()
    )


def port_desc_request() -> parser.OFPPortDescStatsRequest:
    return parser.OFPPortDescStatsRequest(None, 0)


# --------------------------------------------------------------------------- reading messages back


def match_fields(msg_match) -> dict:
    """The fields of an OFPMatch as a plain dict (used by the fake switch and tests)."""
    return dict(msg_match.items())


def meter_of(flow_mod) -> int | None:
    for inst in flow_mod.instructions or ():
        if isinstance(inst, parser.OFPInstructionMeter):
            return inst.meter_id
    return None


def actions_of(flow_mod) -> list:
    for inst in flow_mod.instructions or ():
        if isinstance(inst, parser.OFPInstructionActions):
            return list(inst.actions)
    return []


def metadata_of(flow_mod) -> tuple[int, int] | None:
    """The (value, mask) a flow's write-metadata instruction writes, if it has one."""
    for inst in flow_mod.instructions or ():
        if isinstance(inst, parser.OFPInstructionWriteMetadata):
            return inst.metadata, inst.metadata_mask
    return None


def goto_of(flow_mod) -> int | None:
    for inst in flow_mod.instructions or ():
        if isinstance(inst, parser.OFPInstructionGotoTable):
            return inst.table_id
    return None
