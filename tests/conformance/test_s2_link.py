"""Conformance, section 2: the EIC MAC as identity on the link."""

import pytest

from eip.errors import EncodeError
from eip.protocol import codec
from eip.protocol.identity import check_eic_mac, origin_matches_source
from eip.sample import sample_exchange
from tests.conformance.helpers import MAC_PV, data_packet


def test_r2_1_frame_source_is_the_eic_mac():
    frame = codec.encode_frame(data_packet(), MAC_PV, "02:00:00:00:02:01")
    assert frame[6:12] == bytes.fromhex(MAC_PV.replace(":", ""))
    assert codec.decode_frame(frame)[1] == MAC_PV
    # In the sample exchange every card-originated frame on its first hop carries its own MAC.
    for src, _dst, pkt in sample_exchange():
        assert pkt.eip.origin_mac == src


def test_r2_2_eic_mac_unicast_and_not_zero():
    assert check_eic_mac("02:00:00:00:01:0A") == "02:00:00:00:01:0a"
    for bad in ("01:00:5e:00:00:01", "00:00:00:00:00:00", "02:00:00:00:01", "zz:00:00:00:00:00"):
        with pytest.raises(EncodeError, match="eic_mac"):
            check_eic_mac(bad)


def test_r2_3_origin_mac_equals_source_on_first_hop():
    pkt = data_packet()
    assert origin_matches_source(codec.encode_frame(pkt, MAC_PV, "02:00:00:00:02:01"))
    spoofed = codec.encode_frame(pkt, "02:00:00:00:09:09", "02:00:00:00:02:01")
    assert not origin_matches_source(spoofed)
