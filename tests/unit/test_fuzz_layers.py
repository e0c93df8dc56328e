"""Fuzz the Scapy layers + from_scapy: only DecodeError or a packet (docs/reliability.md)."""

import pytest

from eip.errors import DecodeError
from eip.reliability import fuzz


def test_scapy_garbage_becomes_decode_error():
    for data in (b"", b"E", b"E@\x00", bytes(19)):
        with pytest.raises(DecodeError):
            fuzz.scapy_decode(data)


def test_layers_fuzz_finds_nothing():
    d = fuzz.fuzz_layers(3_000, seed=12).as_dict()
    assert d["findings"] == 0, d["first_findings"]
    assert d["outcomes"]["DecodeError"] > 100 and d["outcomes"]["packet"] > 100, d["outcomes"]
    assert d["max_us_per_packet"] < 500_000
    assert d["rss_growth_mib"] < 50
