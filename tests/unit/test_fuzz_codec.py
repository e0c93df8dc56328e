"""Fuzz the fast codec: 20,000 mutated datagrams, only DecodeError or a packet that re-encodes."""

from eip.reliability import fuzz


def test_mutations_are_deterministic_and_varied():
    a = fuzz.Mutator(fuzz.seed_datagrams(), seed=5)
    b = fuzz.Mutator(fuzz.seed_datagrams(), seed=5)
    pairs = [(a.next(), b.next()) for _ in range(500)]
    assert all(x == y for x, y in pairs)
    assert len({op for (op, _d), _ in pairs}) == 7  # every operation is used


def test_repair_makes_a_mutated_field_reach_the_decoder():
    import pytest

    from eip.errors import DecodeError
    from eip.protocol import codec

    for seed in fuzz.seed_datagrams():
        assert bytes(fuzz.repair(bytearray(seed))) == seed  # the seeds' checksums are right
        buf = bytearray(seed)
        buf[29] ^= 0x02  # a bit of the last MAC byte: caught by the Energy-IP checksum...
        with pytest.raises(DecodeError, match="checksum"):
            codec.decode(bytes(buf))
        assert (
            codec.decode(bytes(fuzz.repair(buf))).eip.origin_mac
            != codec.decode(seed).eip.origin_mac
        )


def test_codec_fuzz_finds_nothing():
    res = fuzz.fuzz_codec(20_000, seed=11)
    d = res.as_dict()
    assert d["findings"] == 0, d["first_findings"]
    assert d["packets"] == 20_000
    assert d["outcomes"]["DecodeError"] > 1000 and d["outcomes"]["packet"] > 1000, d["outcomes"]
    assert d["max_us_per_packet"] < 200_000  # no hang
    assert d["rss_growth_mib"] < 50
