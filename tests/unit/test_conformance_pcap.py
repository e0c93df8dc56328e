"""`eip conformance --pcap` (eip/conformance/): the sample exchange passes every capture test, and each
deliberately broken packet fails the test of the rule it breaks (the tool catches real bugs)."""

import json
import shutil
import xml.etree.ElementTree as ET

import pytest

from eip.cli.main import main
from eip.conformance import report
from eip.conformance.capture import SPECS, check_capture, tshark_flags
from eip.conformance.rules import FAIL, NON_STRICT, PASS, Rule, cited_rule, load_rules
from eip.pcap import LINKTYPE_RAW, write_pcap
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.model import LimitExceeded, RejectOption, StaticLimitNotice
from eip.sample import sample_exchange
from eip.wireshark import dissector_path
from tests.conformance.helpers import fix_checksums

RULES = load_rules()


def packets():
    return [pkt for _s, _d, pkt in sample_exchange()]


def run(tmp_path, datagrams, dissector=None) -> dict:
    path = tmp_path / "c.pcap"
    write_pcap(path, datagrams, linktype=LINKTYPE_RAW)
    return {r["test_id"]: r for r in check_capture(path, dissector)}


def failed(results: dict) -> dict:
    return {
        k: [f["rule"] for f in r["failures"]] for k, r in results.items() if r["outcome"] == FAIL
    }


def test_the_spec_is_read_with_its_levels_and_every_test_names_a_rule_of_it():
    assert len(RULES) >= 50 and RULES["R5.8"].level == "MUST" and RULES["R5.8"].section == 5
    assert "service-fee bill" in RULES["R5.8"].text
    assert all(s.rule in RULES for s in SPECS)
    assert cited_rule("control.checksum: does not verify (R5.2)") == "R5.2"
    assert cited_rule("no rule here") is None


def test_the_sample_exchange_passes_every_capture_test(tmp_path):
    results = run(tmp_path, [codec.encode(p) for p in packets()])
    assert failed(results) == {}
    assert all(r["checked"] > 0 for k, r in results.items() if k != "pcap.dissector")


def _mutate(pkt, change) -> bytes:
    buf = bytearray(codec.encode(pkt))
    change(buf)
    return bytes(fix_checksums(buf))


def test_each_broken_packet_fails_the_test_of_the_rule_it_breaks(tmp_path):
    pkts = packets()
    notice = next(p for p in pkts if type(p.payload) is StaticLimitNotice)
    data = next(p for p in pkts if getattr(p.payload, "records", ()) and p.dscp in c.DSCP_BEE)
    card = next(p for p in pkts if p.src == notice.dst and not p.eip.flags & c.EIP_FLAG_ISP)
    wup = next(p for p in pkts if getattr(p.payload, "flags", 0) & c.ETCP_WUP)
    ev_reject = next(p for p in pkts if any(isinstance(o, RejectOption) and o.retry_after_s
                                            for o in getattr(p.payload, "options", ())))  # fmt: skip
    ev_request = next(p for p in pkts if p.src == ev_reject.dst and p.payload.flags == c.ETCP_SYN)
    ihl = 20
    raw = bytearray(codec.encode(data))
    raw[ihl + 10] ^= 0xFF
    bad_checksum = bytes(raw)
    tcp = ihl + 24  # the Energy-TCP header, after the 24-byte Energy-IP header
    reserved = _mutate(data, lambda b: b.__setitem__(slice(tcp + 22, tcp + 24), b"\x12\x34"))
    broken = {
        "pcap.decode": [bad_checksum],  # the Energy-IP checksum broken
        "pcap.isp-flag.static-limit": [
            codec.encode(notice._replace(eip=notice.eip._replace(flags=0)))
        ],
        "pcap.dscp": [codec.encode(data._replace(dscp=8))],  # BEE marked as no-BEE
        "pcap.df-size": [_mutate(data, lambda b: b.__setitem__(6, b[6] & ~0x40))],  # DF cleared
        "pcap.period-node": [
            codec.encode(notice),
            codec.encode(card._replace(eip=card.eip._replace(period=99))),
        ],
        "pcap.static-limit-field": [
            codec.encode(notice),
            codec.encode(card._replace(eip=card.eip._replace(static_limit=7))),
        ],
        "pcap.no-error-on-control": [
            codec.encode(notice._replace(payload=LimitExceeded(0, 5, codec.encode(notice)[:36])))
        ],
        "pcap.round-trip": [reserved],
        "pcap.wup": [codec.encode(wup._replace(eip=wup.eip._replace(flags=0)))],
        "pcap.retry-after": [codec.encode(ev_reject), codec.encode(ev_request)],  # 1 ms after it
    }
    for test_id, datagrams in broken.items():
        results = run(tmp_path, datagrams)
        assert test_id in failed(results), (test_id, failed(results))
        rule = next(s.rule for s in SPECS if s.test_id == test_id)
        got = failed(results)[test_id]
        assert got == [rule] * len(got) or test_id == "pcap.decode", (test_id, got)
    decode = failed(run(tmp_path, broken["pcap.decode"]))["pcap.decode"]
    assert decode == ["R4.9"]  # the refusal fails the rule the codec cites


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
def test_the_lua_dissector_flags_what_the_codec_refuses(tmp_path):
    pkts = packets()
    good = [codec.encode(p) for p in pkts[:6]]
    bad = bytearray(codec.encode(pkts[6]))
    bad[20 + 10] ^= 0xFF  # the Energy-IP checksum
    results = run(tmp_path, [*good, bytes(bad)], tshark_flags(dissector_path()))
    assert (
        results["pcap.dissector"]["outcome"] == PASS and results["pcap.dissector"]["checked"] == 1
    )
    assert results["pcap.decode"]["outcome"] == FAIL
    assert [f["frame"] for f in results["pcap.decode"]["failures"]] == [7]
    # a dissector that disagrees is caught
    results = run(tmp_path, [*good, bytes(bad)], lambda path: {1})
    assert results["pcap.dissector"]["outcome"] == FAIL


def test_reports_levels_junit_markdown_and_the_cli(tmp_path, capsys):
    path = tmp_path / "bad.pcap"
    notice = next(p for p in packets() if type(p.payload) is StaticLimitNotice)
    write_pcap(path, [codec.encode(notice._replace(eip=notice.eip._replace(flags=0)))],
               linktype=LINKTYPE_RAW)  # fmt: skip
    results = report.apply_levels(check_capture(path), RULES)
    should = {**RULES, "R5.3": Rule("R5.3", 5, "x SHOULD y", "SHOULD")}
    assert [r["outcome"] for r in report.apply_levels(check_capture(path), should)
            if r["rule"] == "R5.3"] == [NON_STRICT]  # fmt: skip
    assert [r["outcome"] for r in report.apply_levels(check_capture(path), should, strict=True)
            if r["rule"] == "R5.3"] == [FAIL]  # fmt: skip
    junit = ET.fromstring(report.to_junit(results, "bad.pcap"))
    assert sum(int(s.get("failures")) for s in junit.iter("testsuite")) == 1
    md = report.to_markdown(results, "bad.pcap", RULES)
    assert "## Rule coverage" in md and f"of {len(RULES)} rules" in md and "| R6.7 |" in md
    assert "> A static-limit notice MUST be sent by the ISP" in md  # the rule's own words
    out_json = tmp_path / "r.json"
    assert (
        main(["conformance", "--pcap", str(path), "--json", str(out_json), "--no-dissector"]) == 1
    )
    assert "FAIL          R5.3" in capsys.readouterr().out
    data = json.loads(out_json.read_text())
    assert data["counts"]["FAIL"] == 1 and len(data["coverage"]) == len(RULES)
    assert main(["conformance", "--pcap", str(tmp_path / "none.pcap"), "--no-dissector"]) == 1
    assert "no such file" in capsys.readouterr().err
