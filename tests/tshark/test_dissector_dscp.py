"""The dissector names DSCP values as registry 9.8 does (priority class, BEE or not; R3.3)."""

import re

import pytest
from tshark_helpers import DISSECTOR, pdml_packets, requires_tshark

from eip.protocol import constants as c


def lua_table(name: str) -> dict[int, str]:
    text = DISSECTOR.read_text()
    start = text.index(f"local {name} = {{")
    block = text[start : text.index("}", start)]
    return {int(k): v for k, v in re.findall(r'\[(\d+)\] = "([^"]+)"', block)}


def test_the_dissector_has_the_dscp_registry():
    assert lua_table("DSCP_NAMES") == c.DSCP_NAMES


@pytest.mark.tshark
@requires_tshark
def test_a_quoted_datagram_shows_its_dscp_meaning(sample_pcap):
    path, _frames = sample_pcap
    packets, _proc = pdml_packets(path)
    shown = [
        f for p in packets for f in p.iter("field") if f.get("name") == "energyctl.quote.ip.dscp"
    ]
    assert shown, "the sample has no error message quoting a datagram"
    for f in shown:
        value = int(f.get("show"))
        assert c.DSCP_NAMES.get(value, "other") in f.get("showname"), f.attrib
