"""Property tests of the fast codec: round trips of random valid packets, and robustness to garbage."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eip.errors import DecodeError
from eip.protocol import codec
from eip.protocol.model import Packet
from tests.strategies import control_messages, data_packets, fix_checksums, packets

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decode_or_error(data: bytes):
    try:
        return codec.decode(data)
    except DecodeError as exc:
        assert exc.field and 0 <= exc.offset <= max(len(data), 20), exc
        return exc


@SETTINGS
@given(packets())
def test_round_trip_any_packet(m):
    wire = codec.encode(m)
    assert codec.decode(wire) == m
    assert codec.encode(codec.decode(wire)) == wire  # R8.2
    assert len(wire) <= 1500


@SETTINGS
@given(data_packets)
def test_round_trip_data_segments(m):
    assert codec.decode(codec.encode(m)) == m


@SETTINGS
@given(packets(payload=control_messages))
def test_round_trip_control(m):
    assert codec.decode(codec.encode(m)) == m


@SETTINGS
@given(packets(), st.binary(max_size=8), st.sampled_from(("b", "ba", "mv")))
def test_padding_ignored_and_buffer_types(m, pad, kind):
    wire = codec.encode(m) + pad
    data = {"b": wire, "ba": bytearray(wire), "mv": memoryview(wire)}[kind]
    assert codec.decode(data) == m


@SETTINGS
@given(packets(), st.binary(min_size=14, max_size=14).map(lambda b: b[:12] + b"\x08\x00"))
def test_frame_round_trip(m, eth):
    dst, src = eth[:6].hex(":"), eth[6:12].hex(":")
    frame = codec.encode_frame(m, src, dst)
    assert frame[:6] == eth[:6] and frame[12:14] == b"\x08\x00"
    assert codec.decode_frame(frame) == (dst, src, m)
    assert codec.encode_transport(m) == codec.encode(m)[20:]


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes_give_packet_or_decode_error(data):
    got = _decode_or_error(data)
    assert isinstance(got, Packet | DecodeError)


@SETTINGS
@given(
    packets(),
    st.lists(st.tuples(st.integers(0, 1499), st.integers(0, 255)), min_size=1, max_size=4),
    st.booleans(),
    st.integers(0, 1500),
)
def test_mutations_give_packet_or_decode_error(m, edits, fix, cut):
    buf = bytearray(codec.encode(m))
    for pos, value in edits:
        buf[pos % len(buf)] = value
    if fix:  # so the mutation reaches the parsers behind the checksums
        fix_checksums(buf)
    got = _decode_or_error(bytes(buf[: max(cut, 0)] if cut < len(buf) else buf))
    assert isinstance(got, Packet | DecodeError)
    if isinstance(got, Packet):
        assert codec.decode(codec.encode(got)) == got
