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
    "--interface $EIP_DUT_IFACE --isp-ip $EIP_ISP_IP --peer $EIP_PEER --window-bee 2000 --quantum-bee 10"
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
    assert len(device) == 20 and all(o == "PASS" for o, _rule in device.values()), device
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
        ("isp-flag-ignored", "dut.isp.notice-no-flag", "R4.4"),
        ("window-update-ignored", "dut.isp.window-update", "R6.10"),
    ],
)
def test_a_broken_card_fails_the_rule_it_breaks(tmp_path, fault, test_id, rule):
    only = {"credit-unmarked": "dut.transfer", "isp-flag-ignored": "dut.isp.notice",
            "window-update-ignored": "dut.isp.notice"}.get(fault, "dut.offer.valid")  # fmt: skip
    # the failing test and a positive one of the same role, which the broken card still passes
    done, report = conformance(tmp_path, f"{CARD} --fault {fault}", "--test", "dut.")
    assert done.returncode == 1, done.stdout[-3000:]
    got = outcomes(report)
    assert got[test_id] == ("FAIL", rule)
    assert got[only][0] == "PASS"
    failed = {t for t, (o, _r) in got.items() if o == "FAIL"}
    # a card that takes an unflagged notice then sends a period its ISP never gave: the capture
    # check of R4.7 on what it sent sees that too
    also = {"isp-flag-ignored": {"dut.sent.period-node"}}.get(fault, set())
    assert failed == {test_id} | also, failed


def test_a_dut_that_does_not_start_is_reported_by_name_not_with_a_traceback(tmp_path):
    done, _ = conformance(tmp_path, "echo 'no such card' >&2; exit 3")
    assert done.returncode == 1
    assert "the DUT exited with 3" in done.stderr and "no such card" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_dut_already_running_is_tested_on_its_interface(tmp_path):
    """--iface: eip's card runs in a namespace of its own, started by hand; the tool, in another,
    reaches it over the veth with the DUT's address, MAC, key and hook given on the command line."""
    from eip.netns import link, namespaces

    work, state = tmp_path / "work", tmp_path / "dut"
    tester_key = subprocess.run([sys.executable, "-m", "eip.cli.main", "card", "key",
                                 str(work / "tester")], capture_output=True, text=True, check=True)  # fmt: skip
    dut_key = subprocess.run([sys.executable, "-m", "eip.cli.main", "card", "key", str(state)],
                             capture_output=True, text=True, check=True)  # fmt: skip
    with namespaces("eipift", "eipifd") as (ns_t, ns_d):
        link(ns_t, "ct-if0", "10.78.0.1/24", ns_d, "dut-if0", "10.78.0.2/24")
        card_log = open(tmp_path / "dut.log", "w")  # noqa: SIM115 (closed below)
        card = subprocess.Popen(
            ["ip", "netns", "exec", ns_d.name, *shlex.split(EIP), "card", "run", "--name", "dut",
             "--kind", "storage", "--mac", "02:00:00:00:78:02", "--state-dir", str(state),
             "--interface", "dut-if0", "--isp-ip", "10.78.0.1", "--peer",
             f"tester,10.78.0.1,02:00:00:00:77:01,{tester_key.stdout.strip()}",
             "--window-bee", "2000", "--quantum-bee", "10"],
            stdout=card_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        out = tmp_path / "r.json"
        try:
            done = subprocess.run(
                ["ip", "netns", "exec", ns_t.name, *shlex.split(EIP), "conformance",
                 "--iface", "ct-if0", "--dut-ip", "10.78.0.2", "--dut-mac", "02:00:00:00:78:02",
                 "--dut-key", dut_key.stdout.strip(),
                 "--dut-ctl", f"{EIP} card ctl {state}/ctl.sock",
                 "--workdir", str(work), "--json", str(out), "--test", "dut."],
                capture_output=True, text=True, timeout=600,
            )  # fmt: skip
        finally:
            card.terminate()
            card.wait(10)
            card_log.close()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    got = outcomes(json.loads(out.read_text()))
    device = {t: o for t, (o, _r) in got.items() if not t.startswith("dut.sent.")}
    assert len(device) == 20 and set(device.values()) == {"PASS"}, device
    assert got["dut.sent.period-node"][0] == "PASS"  # checked against the tool's notices


def test_iface_without_what_it_needs_names_the_missing_options(tmp_path):
    done = subprocess.run([sys.executable, "-m", "eip.cli.main", "conformance", "--iface", "lo",
                           "--dut-ip", "10.0.0.9"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "--dut-mac, --dut-key, --dut-ctl" in done.stderr
