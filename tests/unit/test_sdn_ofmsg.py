"""ofmsg builds well-formed OpenFlow 1.3 messages; LimitTable validates strictly and gives pktps rates."""

import pytest
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser
from os_ken.ofproto.ofproto_protocol import ProtocolDesc

from eip.sdn import ofmsg
from eip.sdn.limits import LimitsError, LimitTable
from tests.unit.test_sdn_support import make_limits, make_plan, started


def serialise(msg) -> bytes:
    """What the app does: set the datapath, then send_msg serialises."""
    msg.datapath = ProtocolDesc(ofp.OFP_VERSION)
    msg.set_xid(7)
    msg.serialize()
    return bytes(msg.buf)


def test_meter_add_is_pktps_burst_with_one_drop_band():
    mm = ofmsg.meter_add(5, 12, 3)
    assert mm.command == ofp.OFPMC_ADD and mm.meter_id == 5
    assert mm.flags == ofp.OFPMF_PKTPS | ofp.OFPMF_BURST
    (band,) = mm.bands
    assert isinstance(band, parser.OFPMeterBandDrop) and (band.rate, band.burst_size) == (12, 3)
    assert ofmsg.meter_modify(5, 40, 10).command == ofp.OFPMC_MODIFY
    assert ofmsg.meter_delete().meter_id == ofp.OFPM_ALL
    assert len(serialise(mm)) == 16 + 16  # meter-mod header + one band


def test_flow_add_puts_meter_before_actions_and_goto_and_adds_ipv4_prerequisite():
    fm = ofmsg.flow_add(0, 300, {"in_port": 1, "ip_proto": 253, "ipv4_dst": ("10.1.0.0", "255.255.255.0")},
                        actions=[ofmsg.output(2)], goto=1, meter_id=9, cookie=0xAB)  # fmt: skip
    kinds = [type(i).__name__ for i in fm.instructions]
    assert kinds == ["OFPInstructionMeter", "OFPInstructionActions", "OFPInstructionGotoTable"]
    assert ofmsg.match_fields(fm.match)["eth_type"] == 0x0800
    assert ofmsg.match_fields(fm.match)["ipv4_dst"] == ("10.1.0.0", "255.255.255.0")
    assert (fm.cookie, fm.priority, fm.table_id, ofmsg.meter_of(fm), ofmsg.goto_of(fm)) == (
        0xAB,
        300,
        0,
        9,
        1,
    )
    assert ofmsg.flow_add(0, 0, {}).instructions == []  # no instruction: drop
    assert len(serialise(fm)) > 56


def test_packet_out_and_controller_output():
    po = ofmsg.packet_out(b"\x01" * 60, 4)
    assert po.in_port == ofp.OFPP_CONTROLLER and po.buffer_id == ofp.OFP_NO_BUFFER
    assert po.actions[0].port == 4 and po.data == b"\x01" * 60
    assert ofmsg.output(ofmsg.CONTROLLER).max_len == ofp.OFPCML_NO_BUFFER
    assert len(serialise(po)) == 24 + 16 + 60


def test_every_message_a_controller_sends_serialises():
    ctl, _ = started()
    items = []
    for dpid in (1, 2, 16):
        items += ctl.switch_up(dpid, 1.0)
    items += (
        ctl.poll(1.0)
        + ctl.set_dynamic_limit("vpp1-0", 500, 1.0)
        + ctl.port_status(16, 1, False, 1.0)
    )
    items += ctl.port_status(16, 1, True, 2.0) + ctl.tick(60.0)
    kinds = {type(m).__name__ for _, m in items}
    assert {"OFPFlowMod", "OFPMeterMod", "OFPBarrierRequest", "OFPPacketOut", "OFPFlowStatsRequest",
            "OFPPortDescStatsRequest"} <= kinds  # fmt: skip
    for _, msg in items:
        assert msg.datapath is None
        assert len(serialise(msg)) >= 8


def test_rate_is_ceil_of_limit_over_period_and_quantum_with_minimum_one():
    lim = make_limits(period_s=60.0)
    assert lim.rate_pktps(6000) == 10  # 6000 BEE / 60 s / 10 BEE
    assert lim.rate_pktps(6001) == 11
    assert lim.rate_pktps(0) == 1
    assert lim.period(59.9) == 0 and lim.period(60.0) == 1 and lim.period(-5) == 0


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"quantum_bee": 1}, "period_s: missing"),
        ({"period_s": 0, "quantum_bee": 1}, "must be > 0"),
        ({"period_s": 1, "quantum_bee": 0}, "quantum_bee: must be >= 1"),
        ({"period_s": 1, "quantum_bee": 1, "extra": 1}, "unknown key(s) extra"),
        (
            {
                "period_s": 1,
                "quantum_bee": 1,
                "cards": {"nomac": {"export_bee": 1, "import_bee": 1}},
            },
            "not a MAC",
        ),
        (
            {"period_s": 1, "quantum_bee": 1, "cards": {"02:00:00:00:01:00": {"export_bee": 1}}},
            "import_bee: missing",
        ),
        (
            {"period_s": 1, "quantum_bee": 1, "default": {"export_bee": -1, "import_bee": 1}},
            "expected an integer",
        ),
        ({"period_s": 1, "quantum_bee": True}, "expected an integer"),
        (
            {"period_s": 1, "quantum_bee": 1, "vpps": {"vpp1": {"export": 1}}},
            "unknown key(s) export",
        ),
        ([], "expected a mapping"),
    ],
)
def test_limit_table_rejects_bad_mappings_naming_the_key(mapping, message):
    with pytest.raises(LimitsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LimitTable.from_mapping(mapping)


def test_limit_table_card_lookup_and_default():
    t = LimitTable.from_mapping({"period_s": 10, "quantum_bee": 5,
                                 "cards": {"02:00:00:00:01:0A": {"export_bee": 100, "import_bee": 50}}})  # fmt: skip
    assert t.card("02:00:00:00:01:0a").export_bee == 100
    assert t.card("02:00:00:00:01:0b") is None


def test_controller_refuses_a_plan_with_cards_without_limits():
    from eip.errors import EipError
    from eip.sdn.controller import EnergyController

    with pytest.raises(EipError, match="no limits for card"):
        EnergyController(make_plan(), LimitTable.from_mapping({"period_s": 1, "quantum_bee": 1}))
