"""Conformance, section 8: receivers reject bad input with DecodeError only, and round-trip good input."""

import random

from eip.errors import DecodeError
from eip.protocol import codec
from eip.sample import sample_exchange, sample_frames


def test_r8_1_untrusted_input_only_raises_decode_error():
    rng = random.Random(8)
    datagrams = [codec.encode(pkt) for _s, _d, pkt in sample_exchange()]
    outcomes = {"packet": 0, "error": 0}
    for _ in range(3000):
        buf = bytearray(rng.choice(datagrams))
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        if rng.random() < 0.3:
            buf = buf[: rng.randrange(len(buf))]
        try:
            codec.decode(bytes(buf))
            outcomes["packet"] += 1
        except DecodeError as exc:
            assert exc.field and 0 <= exc.offset <= len(buf)
            assert f"at byte {exc.offset}" in str(exc)
            outcomes["error"] += 1
    assert outcomes["error"] > 2000  # checksums catch nearly every mutation


def test_r8_2_decode_then_encode_gives_the_same_bytes():
    for frame in sample_frames():
        dst, src, pkt = codec.decode_frame(frame)
        assert codec.encode_frame(pkt, src, dst) == frame
