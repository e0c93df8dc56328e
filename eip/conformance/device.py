"""Run the device suite against a DUT: its feature file, the tests, a pcap per test, and the capture
checks of everything the DUT sent during the session.

The feature file is a small YAML mapping, `roles: [receiver, sender]` (docs/conformance.md); a role
it does not declare gives NOT-DECLARED results, not failures.
"""

import logging
import subprocess
from pathlib import Path

from eip import yamlconf
from eip.conformance.capture import check_capture
from eip.conformance.isp_suite import ISP_TESTS
from eip.conformance.suite import TESTS, run_tests
from eip.errors import DecodeError
from eip.pcap import energy_datagrams
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.model import StaticLimitNotice

log = logging.getLogger(__name__)

ALL_TESTS = TESTS + ISP_TESTS  # receiver and sender, then the ISP's client
ROLES = tuple(sorted({t.role for t in ALL_TESTS}))


def load_features(path: str | Path | None) -> set[str]:
    """The roles a DUT declares; every role when no feature file is given."""
    if path is None:
        return set(ROLES)
    data, where = yamlconf.load(path)
    data = yamlconf.mapping(data or {}, where, {"roles"}, {"roles"})
    roles = yamlconf.typed(data["roles"], where.at("roles"), list, "a list of roles")
    for i, role in enumerate(roles):
        if role not in ROLES:
            raise (
                where.at("roles").at(i).error(f"unknown role {role!r} (known: {', '.join(ROLES)})")
            )
    return set(roles)


def run_device(bench_factory, roles: set[str], only: str | None = None, dissector=None):
    """Run the suite on the bench `bench_factory()` gives; the results, each with its pcap, then
    the capture checks of the DUT's own datagrams (ids `dut.sent.*`)."""
    with bench_factory() as bench:
        results = run_tests(bench, roles, only, on_result=_log_result, tests=ALL_TESTS)
        session = bench.stop_capture()
        workdir = bench.workdir
    if session is None:
        log.warning("no session capture (tcpdump did not run): no per-test pcaps")
        return results
    pcaps = workdir / "pcaps"
    pcaps.mkdir(exist_ok=True)
    for r in results:
        if r["outcome"] == "NOT-DECLARED":
            continue
        out = pcaps / f"{r['test_id']}.pcap"
        start, end = r["start_s"], r["start_s"] + r["duration_s"] + 0.5
        done = subprocess.run(["editcap", "-A", f"{start:.6f}", "-B", f"{end:.6f}", str(session),
                               str(out)], capture_output=True, text=True)  # fmt: skip
        if done.returncode == 0:
            r["pcap"] = str(out)
    return results + sent_checks(session, workdir, bench.dut_ip, bench.tester_ip, dissector)


def sent_checks(
    session: Path, workdir: Path, dut_ip: str, isp_ip: str, dissector=None
) -> list[dict]:
    """The capture tests (eip/conformance/capture.py) on what the DUT (`dut_ip`) sent in the
    session, beside the notices its ISP (`isp_ip`) sent it."""
    sent = workdir / "dut-sent.pcap"
    keep = f"ip.src == {dut_ip}"
    notices = isp_notice_frames(session, isp_ip)
    if notices:  # so that R4.7 and R4.8 are checked against what the DUT's ISP told it
        keep += f" or frame.number in {{{', '.join(map(str, notices))}}}"
    done = subprocess.run(["tshark", "-r", str(session), "-Y", keep, "-w", str(sent)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        log.warning("tshark could not filter the session capture: %s", done.stderr.strip()[-200:])
        return []
    out = []
    for r in check_capture(sent, dissector):
        r = {**r, "test_id": "dut.sent." + r["test_id"].removeprefix("pcap."), "side": "sender",
             "negative": False, "pcap": str(sent)}  # fmt: skip
        out.append(r)
    return out


def isp_notice_frames(session: Path, isp_ip: str) -> list[int]:
    """Frame numbers of the valid static-limit notices the DUT's ISP (`isp_ip`) sent it."""
    out = []
    for number, _ts, ip in energy_datagrams(session):
        try:
            pkt = codec.decode(ip[: int.from_bytes(ip[2:4], "big")])
        except DecodeError:
            continue
        if (pkt.src == isp_ip and type(pkt.payload) is StaticLimitNotice
                and pkt.eip.flags & c.EIP_FLAG_ISP):  # fmt: skip
            out.append(number)
    return out


def _log_result(r: dict) -> None:
    log.info(
        "%s %s %s", r["outcome"], r["test_id"], r["failures"][0]["problem"] if r["failures"] else ""
    )
