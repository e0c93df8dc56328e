"""Fuzz a card's receive path (CardNode.on_datagram, no socket): never raises, counts every rejection."""

from eip.protocol import constants as c
from eip.reliability import fuzz


def test_card_fuzz_finds_nothing_and_counts_every_rejection(tmp_path):
    d = fuzz.fuzz_card(20_000, seed=13, state_dir=tmp_path).as_dict()
    assert d["findings"] == 0, d["first_findings"]
    assert d["counters"]["packets_in"] == 20_000
    assert d["counters"]["malformed"] == d["expected_malformed"] > 1000
    assert d["counters_consistent"] and d["ledger_verifies"]
    assert d["counters"]["errors"] == 0
    assert (
        d["outcomes"]["accepted_in"] > 0 and d["outcomes"]["rejected_in"] > 0
    )  # deep code was reached
    assert d["rss_growth_mib"] < 50


def test_error_quoting_a_long_ipv4_header_does_not_raise(tmp_path):
    """Regression: a LimitExceeded quoting a datagram with IHL > 5 read past the quote."""
    from eip.protocol import codec
    from eip.protocol.model import EnergyIp, LimitExceeded, Packet
    from eip.sample import LOAD

    card = fuzz.offline_card(tmp_path)
    quoted = bytes([0x4F]) + bytes(51)  # IHL 15 words, only 52 bytes quoted
    pkt = Packet(
        "10.2.0.254",
        LOAD[1],
        EnergyIp(0, c.EIP_FLAG_ISP, "02:00:00:00:02:fe"),
        LimitExceeded(c.EXCEEDED_QUOTA, 300, quoted),
    )
    assert card.on_datagram(codec.encode(pkt), 1.0) == []
    assert card.events[-1]["kind"] == "limit-exceeded"
    card.ledger.close()


def test_a_card_ignores_isp_flagged_notices_from_another_card(tmp_path):
    """Regression: any card could set another card's window (WUP) or static limit to 0."""
    from eip.protocol import codec
    from eip.protocol.model import EnergyIp, EnergyTcp, Packet, StaticLimitNotice
    from eip.sample import LOAD, PV

    card = fuzz.offline_card(tmp_path)
    wup = EnergyTcp(0, 0, 0, 0, c.ETCP_WUP, 0)  # window 0 for every transfer of the card
    pkt = Packet(PV[1], LOAD[1], EnergyIp(0, c.EIP_FLAG_ISP, PV[0]), wup)
    card.on_datagram(codec.encode(pkt), 1.0)
    notice = Packet(
        PV[1], LOAD[1], EnergyIp(0, c.EIP_FLAG_ISP, PV[0]), StaticLimitNotice(1, 60, 0, 0)
    )
    card.on_datagram(codec.encode(notice), 1.0)
    try:
        assert card.isp_window is None and card.notice is None
        assert card.stats["ignored"] == 2
        isp = Packet("10.0.0.254", LOAD[1], EnergyIp(0, c.EIP_FLAG_ISP, "02:00:00:00:00:fe"), wup)
        card.on_datagram(codec.encode(isp), 1.0)
        assert card.isp_window == 0  # the real ISP still can
    finally:
        card.ledger.close()
