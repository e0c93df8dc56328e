"""`eip conformance --dut-cmd` against eip's own card in a namespace: the card passes every device test,
and each deliberately broken card (`eip card run --fault`) fails exactly the rule its fault breaks."""

import json
import shlex
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

EIP = f"{shlex.quote(sys.executable)} -m eip.cli.main"
CARD = (
    f"{EIP} card run --name dut --kind storage --mac $EIP_DUT_MAC --state-dir $EIP_DUT_DIR "
    "--interface $EIP_DUT_IFACE --peer $EIP_PEER --window-bee 2000 --quantum-bee 10"
)


def conformance(tmp_path, dut_cmd: str, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "eip.cli.main", "conformance", "--dut-cmd", dut_cmd,
         "--workdir", str(tmp_path / "work"), "--json", str(out), *args],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.exists() or done.returncode != 0, done.stderr[-2000:]
    return done, json.loads(out.read_text()) if out.exists() else {}


def outcomes(report: dict) -> dict[str, tuple[str, str]]:
    return {r["test_id"]: (r["outcome"], r["rule"]) for r in report["results"]}


def test_eips_card_passes_every_device_test_with_a_pcap_each(tmp_path):
    junit, md = tmp_path / "junit.xml", tmp_path / "report.md"
    done, report = conformance(tmp_path, CARD, "--junit", str(junit), "--markdown", str(md))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    got = outcomes(report)
    device = {t: o for t, o in got.items() if not t.startswith("dut.sent.")}
    assert len(device) == 12 and all(o == "PASS" for o, _rule in device.values()), device
    sent = {t: o for t, (o, _r) in got.items() if t.startswith("dut.sent.")}
    assert sent and "FAIL" not in sent.values(), sent
    for r in report["results"]:
        if not r["test_id"].startswith("dut.sent."):
            assert (tmp_path / "work" / "pcaps" / f"{r['test_id']}.pcap").stat().st_size > 24
    assert "<testsuite" in junit.read_text() and "dut.forged-signature" in md.read_text()


@pytest.mark.parametrize(
    "fault, test_id, rule",
    [
        ("accept-bad-checksum", "dut.checksum", "R6.3"),
        ("accept-any-version", "dut.version", "R4.1"),
        ("credit-unmarked", "dut.unmarked-bee", "R3.6"),
    ],
)
def test_a_broken_card_fails_the_rule_it_breaks(tmp_path, fault, test_id, rule):
    only = "dut.offer.valid" if fault != "credit-unmarked" else "dut.transfer"
    # the failing test and a positive one of the same role, which the broken card still passes
    done, report = conformance(tmp_path, f"{CARD} --fault {fault}", "--test", "dut.")
    assert done.returncode == 1, done.stdout[-3000:]
    got = outcomes(report)
    assert got[test_id] == ("FAIL", rule)
    assert got[only][0] == "PASS"
    failed = {t for t, (o, _r) in got.items() if o == "FAIL"}
    assert failed == {test_id}, failed


def test_a_dut_that_does_not_start_is_reported_by_name_not_with_a_traceback(tmp_path):
    done, _ = conformance(tmp_path, "echo 'no such card' >&2; exit 3")
    assert done.returncode == 1
    assert "the DUT exited with 3" in done.stderr and "no such card" in done.stderr
    assert "Traceback" not in done.stderr
