"""The fast codec and the Scapy layers agree byte for byte, in both directions, on random valid packets."""

from hypothesis import HealthCheck, given, settings
from scapy.layers.inet import IP

from eip.protocol import codec
from eip.protocol.layers.convert import from_scapy, to_scapy
from tests.strategies import control_messages, data_packets, packets

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(m):
    wire = codec.encode(m)
    assert bytes(to_scapy(m)) == wire
    assert from_scapy(IP(wire)) == m
    assert codec.decode(bytes(to_scapy(m))) == m


@SETTINGS
@given(packets())
def test_scapy_equivalence_any_packet(m):
    _check(m)


@SETTINGS
@given(data_packets)
def test_scapy_equivalence_data_segments(m):
    _check(m)


@SETTINGS
@given(packets(payload=control_messages))
def test_scapy_equivalence_control(m):
    _check(m)
