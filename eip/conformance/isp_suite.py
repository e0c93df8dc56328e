"""The ISP-client tests of `eip conformance --dut-cmd`: the tool plays the Energy ISP, the DUT obeys.

The tester's address is the DUT's ISP (EIP_ISP_IP). The tool sends static-limit notices and window
updates as the ISP would (ISP flag, DSCP isp-control), then asks the DUT to deliver to the tester's
card and reads what the DUT sent from its own socket: the period, node and static-limit fields of
its Energy-IP headers (R4.7, R4.8) and the pace of its BEE (R6.10). Negative tests send the same
messages without the ISP flag, from another address, with a wrong body length, or as errors with a
cut quote, and check that nothing the DUT sends afterwards shows it took them.
"""

import random
import time

from eip.conformance.suite import DutTest, silent
from eip.errors import DecodeError
from eip.protocol import codec, mutate
from eip.protocol import constants as c
from eip.protocol.messages import window_update_segment
from eip.protocol.model import Bee, EnergyIp, EnergyTcp, LimitExceeded, Packet, StaticLimitNotice

ISP_NODE = 77  # the grid node the tool's notices name
SEND_BEE = 60  # what the DUT is asked to deliver after a notice
PACED_BEE, RATE_BEE_PER_S = 400, 200  # the window-update test: about 2 s at the rate
TIME_TOL_S = 0.1  # timestamps on the tester's socket, not the DUT's clock: 0.1 s of the rate extra


def isp_packet(bench, payload, flags: int = c.EIP_FLAG_ISP, src: str | None = None) -> Packet:
    """An ISP message to the DUT as the ISP (the tester) sends it (R4.4): ISP flag, the DUT's node."""
    eip = EnergyIp(0, flags, bench.tester_mac, ISP_NODE, 0)
    return Packet(src or bench.tester_ip, bench.dut_ip, eip, payload, dscp=c.DSCP_ISP_CONTROL)


def notice(period: int, export_bee: int = 5000, import_bee: int = 5000) -> StaticLimitNotice:
    return StaticLimitNotice(period, 60, export_bee, import_bee)


def fresh_period() -> int:
    return random.randint(10_000, 1_000_000)


def dut_sends(bench, quantity: int, wait_s: float = 30.0) -> list[tuple[float, Packet]]:
    """Ask the DUT to deliver `quantity` BEE to the tester; (time, packet) of every Energy-TCP
    segment it sent, until it has sent that many BEE units of data or `wait_s` passed."""

    def enough(got) -> bool:
        return data_bee(decoded(got)) >= quantity

    bench.drain()
    bench.hook("offer", to="tester", quantity=quantity)
    return decoded(bench.listen(wait_s, enough))


def decoded(got: list[tuple[float, bytes]]) -> list[tuple[float, Packet]]:
    out = []
    for t, data in got:
        try:
            pkt = codec.decode(data)
        except DecodeError:
            continue
        if type(pkt.payload) is EnergyTcp:
            out.append((t, pkt))
    return out


def bee_of(seg: EnergyTcp) -> int:
    return sum(r.quantity for r in seg.records if type(r) is Bee)


def data_bee(pkts: list[tuple[float, Packet]]) -> int:
    """BEE units in the DUT's data segments, each sequence number counted once."""
    seen = {p.payload.seq: bee_of(p.payload) for _t, p in pkts if bee_of(p.payload)}
    return sum(seen.values())


def _headers(pkts, period: int, what: str) -> str | None:
    if not pkts:
        return f"the DUT sent nothing after {what}"
    wrong = [p.eip for _t, p in pkts if p.eip.period != period]
    if wrong:
        return (
            f"{len(wrong)} of {len(pkts)} segments carry period {wrong[0].period} node "
            f"{wrong[0].node_id}, not the period {period} of {what}"
        )
    return None


def t_notice(bench):
    """R4.7: after a notice, the DUT's headers carry its period and the node it was sent with."""
    period = fresh_period()
    bench.send(codec.encode_transport(isp_packet(bench, notice(period))))
    time.sleep(0.3)
    pkts = dut_sends(bench, SEND_BEE)
    what = f"a notice of period {period} for node {ISP_NODE}"
    problem = _headers(pkts, period, "the notice")
    nodes = {p.eip.node_id for _t, p in pkts}
    if problem is None and nodes != {ISP_NODE}:
        problem = f"the DUT's segments name nodes {sorted(nodes)}, the notice node {ISP_NODE}"
    return problem, what


def t_static_limit(bench):
    """R4.8: the DUT's static-limit field is the notice's export limit."""
    period, export = fresh_period(), random.randint(3000, 9000)
    bench.send(codec.encode_transport(isp_packet(bench, notice(period, export_bee=export))))
    time.sleep(0.3)
    pkts = dut_sends(bench, SEND_BEE)
    what = f"a notice with export limit {export} BEE"
    if not pkts:
        return "the DUT sent nothing after the notice", what
    limits = {p.eip.static_limit for _t, p in pkts}
    if limits != {export}:
        return f"the DUT's segments carry static limit {sorted(limits)}, not {export}", what
    return None, what


def _ignored_notice(bench, send_bad, what: str):
    """A valid notice, then a bad one (sent by `send_bad(period)`): the DUT keeps the first."""
    good, bad = fresh_period(), fresh_period()
    bench.send(codec.encode_transport(isp_packet(bench, notice(good))))
    time.sleep(0.2)
    send_bad(bad)
    time.sleep(0.3)
    pkts = dut_sends(bench, SEND_BEE)
    took = [p for _t, p in pkts if p.eip.period == bad]
    if took:
        return f"the DUT took {what}: {len(took)} segments carry its period {bad}", what
    return _headers(pkts, good, "the valid notice before it"), what


def t_notice_no_flag(bench):
    def send(period):
        bench.send(codec.encode_transport(isp_packet(bench, notice(period), flags=0)))

    return _ignored_notice(bench, send, "a notice without the ISP flag")


def t_notice_forged_source(bench):
    def send(period):
        bench.send_datagram(codec.encode(isp_packet(bench, notice(period), src=bench.forged_ip)))

    return _ignored_notice(bench, send, f"a notice with the ISP flag from {bench.forged_ip}")


def t_notice_bad_length(bench):
    def send(period):
        payload = bytearray(codec.encode_transport(isp_packet(bench, notice(period))))
        payload += bytes(4)  # a 20-byte body: R5.3 says exactly 16
        bench.send(bytes(mutate.fix_transport(payload, bench.tester_ip, bench.dut_ip)))

    return _ignored_notice(bench, send, "a notice with a 20-byte body")


def _wup(bench, rate: int, flags: int = c.EIP_FLAG_ISP) -> None:
    bench.send(codec.encode_transport(isp_packet(bench, window_update_segment(rate), flags=flags)))


def pace_problem(pkts, rate: float) -> str | None:
    """The first data segment that came sooner than `rate` allows, beyond the burst R6.10 grants
    (one record or 0.05 s of the rate, whichever is more) and `TIME_TOL_S` of the rate."""
    data = sorted((t, p.payload.seq, bee_of(p.payload)) for t, p in pkts if bee_of(p.payload))
    first: dict[int, tuple[float, int]] = {}
    for t, seq, bee in data:
        first.setdefault(seq, (t, bee))  # retransmissions are not new BEE
    sends = sorted(first.values())
    if not sends:
        return "the DUT sent no data"
    record = max(r.quantity for _t, p in pkts for r in p.payload.records if type(r) is Bee)
    burst = max(record, 0.05 * rate) + TIME_TOL_S * rate
    t0, total = sends[0][0], 0
    for t, bee in sends:
        total += bee
        allowed = rate * (t - t0) + burst + sends[0][1]
        if total > allowed:
            return (
                f"{total} BEE sent {t - t0:.2f} s after its first data segment: {rate:.0f} BEE/s "
                f"allows {allowed:.0f} with the burst"
            )
    return None


def t_wup(bench):
    """R6.10: under an aggregate window update the DUT sends no faster than its rate."""
    _wup(bench, RATE_BEE_PER_S)
    time.sleep(0.2)
    try:
        pkts = dut_sends(bench, PACED_BEE, wait_s=PACED_BEE / RATE_BEE_PER_S + 20)
    finally:
        _wup(bench, c.NO_LIMIT)  # lift it (R6.10)
    what = f"a window update of {RATE_BEE_PER_S} BEE/s, {PACED_BEE} BEE to send"
    sent = data_bee(pkts)
    if sent < PACED_BEE:
        return f"the DUT sent {sent} of {PACED_BEE} BEE within the time allowed", what
    return pace_problem(pkts, RATE_BEE_PER_S), what


def t_wup_no_flag(bench):
    """R6.10: a window update without the ISP flag changes nothing (the DUT is not slowed)."""
    slow = 50
    _wup(bench, slow, flags=0)
    time.sleep(0.2)
    try:
        pkts = dut_sends(bench, PACED_BEE)
    finally:
        _wup(bench, c.NO_LIMIT)
    what = f"a window update of {slow} BEE/s without the ISP flag, {PACED_BEE} BEE to send"
    times = [t for t, p in pkts if bee_of(p.payload)]
    if data_bee(pkts) < PACED_BEE:
        return f"the DUT sent {data_bee(pkts)} of {PACED_BEE} BEE", what
    span, paced = times[-1] - times[0], PACED_BEE / slow
    if span > paced / 2:
        return f"the DUT took {span:.1f} s: it obeyed the update ({paced:.0f} s at its rate)", what
    return None, what


def t_short_quote(bench):
    """R5.4/R5.5: a limit-exceeded whose quote is cut to 3 bytes is taken without an answer."""
    err = LimitExceeded(code=0, limit=100, quoted=bytes([0x45, 0x00, 0x00]))
    payload = codec.encode_transport(isp_packet(bench, err))
    return silent(bench, payload, None, "a limit-exceeded quoting 3 bytes")


ISP_TESTS = (
    DutTest("dut.isp.notice", "R4.7", "the DUT sends the period and node of the ISP's latest "
            "notice", "isp-client", False, t_notice),
    DutTest("dut.isp.static-limit", "R4.8", "the DUT sends its export limit from the notice",
            "isp-client", False, t_static_limit),
    DutTest("dut.isp.notice-no-flag", "R4.4", "a notice without the ISP flag is ignored",
            "isp-client", True, t_notice_no_flag),
    DutTest("dut.isp.notice-forged-source", "R4.4", "a notice from another address than the ISP's "
            "is ignored", "isp-client", True, t_notice_forged_source),
    DutTest("dut.isp.notice-bad-length", "R5.3", "a notice whose body is not 16 bytes is "
            "discarded", "isp-client", True, t_notice_bad_length),
    DutTest("dut.isp.window-update", "R6.10", "the DUT sends no faster than the ISP's rate",
            "isp-client", False, t_wup),
    DutTest("dut.isp.window-update-no-flag", "R6.10", "a window update without the ISP flag "
            "changes nothing", "isp-client", True, t_wup_no_flag),
    DutTest("dut.isp.short-quote", "R5.4", "an error with a cut quote is taken, not answered, "
            "and the DUT goes on", "isp-client", True, t_short_quote),
)  # fmt: skip
