"""Deliveries paced as power (docs/card.md): a transfer's BEEs leave at its power x the card's time
scale, capped by the ISP's rate (WUP, R6.10), with the aggregate WUP capping the sum over transfers.

Two CardNodes back to back on a virtual clock (tests/unit/test_card_node.py `Bench`); the times are
those at which the sender's node handed each data segment to the wire.
"""

import pytest

from eip.card.control import ControlError
from eip.card.ops import fill_power, frame_power, order_pacing, parse_transfer
from eip.etcp.window import PACE_BURST_S, TokenBucket, fair_shares
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.messages import window_update_segment
from eip.protocol.model import Bee, EnergyIp, Packet, PoolFill
from tests.unit.etcp_sim import max_burst_bee
from tests.unit.test_card_node import IPS, WALL_S, Bench, ipv4

ISP_IP = "10.0.0.254"  # CardConfig.isp_ip's default


def data_sends(bench: Bench, name: str = "a", tid: str | None = None) -> list[tuple[float, int]]:
    """(now, BEE units) of every data segment `name` sent (of transfer `tid`'s local port, if given)."""
    node = bench.nodes[name]
    port = None if tid is None else int(tid.split(">")[0].rsplit(":", 1)[1])
    out = []
    for t, who, tx in bench.sent_at:
        if who != name:
            continue
        seg = codec.decode(ipv4(node.energy_ip, tx.dst_ip, tx.dscp, tx.data)).payload
        units = sum(r.quantity for r in seg.records if type(r) is Bee)
        if units and (port is None or seg.sport == port):
            out.append((t, units))
    return out


def wup(bench: Bench, name: str, window: int, sport: int = 0, dport: int = 0) -> None:
    """The ISP's window update (R6.10) reaching node `name`."""
    isp = EnergyIp(0, c.EIP_FLAG_ISP, "02:00:00:00:00:fe")
    pkt = Packet(ISP_IP, IPS[name], isp, window_update_segment(window, sport, dport))
    node = bench.nodes[name]
    bench.perform(name, node.on_datagram(ipv4(ISP_IP, IPS[name], 0, codec.encode_transport(pkt)),
                                         bench.now))  # fmt: skip


def transfer(bench: Bench, client: str, quantity: int, **kw) -> None:
    bench.control("a", client, op="offer", to="b", quantity=quantity, wait=1, **kw)


def tid_of(bench: Bench, index: int) -> str:
    return list(bench.nodes["a"].by_id)[index]


def test_1000_bee_at_100_bee_per_s_with_time_scale_10_takes_1_s(tmp_path):
    bench = Bench(tmp_path, time_scale=10.0)  # 100 BEE per emulated s = 1000 BEE per wall s
    t0 = bench.now
    transfer(bench, "c1", 1000, power_bee_per_s=100)
    status = bench.nodes["a"].status()
    assert status["quantum_bee"] == 10 and status["time_scale"] == 10.0
    assert status["transfers"][0]["power_bee_per_s"] == 100
    assert status["transfers"][0]["rate_bee_per_s"] == 1000
    bench.run(until=lambda: "c1" in bench.answers)
    assert bench.answers["c1"].payload["delivered"] == 1000
    sends = data_sends(bench)
    assert sum(n for _t, n in sends) == 1000  # no loss: each BEE once
    # 100 segments of 10 BEE, one every 10 ms: the last leaves 0.99 s after the first.
    assert sends[-1][0] - sends[0][0] == pytest.approx(0.99, abs=0.03)
    assert sends[0][0] - t0 < 0.01  # it starts at once
    assert max_burst_bee(sends, 1000) <= max(10, 1000 * PACE_BURST_S) + 1e-6  # the bucket's depth
    assert bench.debited("a") == bench.credited("b") == 1000
    bench.close()


def test_the_time_frame_of_an_offer_gives_its_power(tmp_path):
    bench = Bench(tmp_path, time_scale=10.0)
    start = int(WALL_S + bench.now)
    transfer(bench, "c1", 500, start_s=start, end_s=start + 10)  # 50 BEE/s emulated, 500 wall
    assert bench.nodes["a"].status()["transfers"][0]["rate_bee_per_s"] == 500
    bench.run(until=lambda: "c1" in bench.answers)
    sends = data_sends(bench)
    assert sends[-1][0] - sends[0][0] == pytest.approx(0.98, abs=0.03)
    bench.close()


def test_without_a_rate_a_transfer_goes_as_fast_as_the_windows_allow(tmp_path):
    bench = Bench(tmp_path, time_scale=10.0)
    transfer(bench, "c1", 1000)
    assert bench.nodes["a"].status()["transfers"][0]["rate_bee_per_s"] is None
    bench.run(until=lambda: "c1" in bench.answers)
    sends = data_sends(bench)
    assert sends[-1][0] - sends[0][0] < 0.1
    bench.close()


def test_an_isp_rate_below_the_own_power_caps_it(tmp_path):
    bench = Bench(tmp_path, time_scale=10.0)
    wup(bench, "a", 250)  # BEE per second, below the transfer's 1000 BEE per wall s
    assert bench.nodes["a"].isp_window == 250
    transfer(bench, "c1", 1000, power_bee_per_s=100)
    assert bench.nodes["a"].status()["transfers"][0]["rate_bee_per_s"] == 250
    bench.run(until=lambda: "c1" in bench.answers)
    sends = data_sends(bench)
    assert sends[-1][0] - sends[0][0] == pytest.approx(3.96, abs=0.05)  # 99 segments at 25/s
    assert max_burst_bee(sends, 250) <= max(10, 250 * PACE_BURST_S) + 1e-6
    bench.close()


def test_an_isp_rate_for_one_connection_caps_that_one(tmp_path):
    bench = Bench(tmp_path, time_scale=10.0)
    transfer(bench, "c1", 600, power_bee_per_s=100)
    tid = tid_of(bench, 0)
    local_port = int(tid.split(">")[0].rsplit(":", 1)[1])
    wup(bench, "a", 200, sport=c.PORT_DELIVERY, dport=local_port)  # the peer's port, then ours
    assert bench.nodes["a"].by_id[tid].rate_bee_per_s == 200
    assert bench.nodes["a"].isp_window is None
    bench.run(until=lambda: "c1" in bench.answers)
    sends = data_sends(bench)
    assert sends[-1][0] - sends[0][0] == pytest.approx(2.95, abs=0.05)
    bench.close()


def test_the_aggregate_wup_caps_the_sum_of_two_connections_and_lifting_it_restores_them(tmp_path):
    bench = Bench(tmp_path, time_scale=10.0, window_bee=10_000)
    transfer(bench, "c1", 3000, power_bee_per_s=100)  # 1000 BEE per wall s each
    transfer(bench, "c2", 3000, power_bee_per_s=100)
    t_wup = bench.now
    wup(bench, "a", 500)  # both ports 0: the card's aggregate
    a = bench.nodes["a"]
    assert [conn.rate_bee_per_s for conn in a.by_id.values()] == [250, 250]  # max-min fair
    bench.run(until=lambda: bench.now >= t_wup + 2.0)
    capped = [(t, n) for t, n in data_sends(bench) if t < t_wup + 2.0]
    sent = sum(n for _t, n in capped)
    assert sent == pytest.approx(1000, abs=40)  # 500 BEE/s for 2 s, both together
    assert max_burst_bee(capped, 500) <= 2 * max(10, 250 * PACE_BURST_S) + 1e-6
    per = [sum(n for t, n in data_sends(bench, tid=tid) if t < t_wup + 2.0) for tid in a.by_id]
    assert abs(per[0] - per[1]) <= 20  # split evenly
    t_lift = bench.now
    wup(bench, "a", c.NO_LIMIT)  # lifted: each back at its own power
    assert a.isp_window is None
    assert [conn.rate_bee_per_s for conn in a.by_id.values()] == [1000, 1000]
    bench.run(until=lambda: "c1" in bench.answers and "c2" in bench.answers)
    after = [(t, n) for t, n in data_sends(bench) if t >= t_lift]
    assert sum(n for _t, n in after) == 6000 - sent
    assert after[-1][0] - t_lift == pytest.approx((6000 - sent) / 2000, abs=0.1)
    bench.close()


def test_an_aggregate_share_goes_to_the_others_when_one_is_capped_or_done(tmp_path):
    bench = Bench(tmp_path, time_scale=1.0, window_bee=10_000)
    transfer(bench, "slow", 100, power_bee_per_s=50)
    transfer(bench, "fast", 2000, power_bee_per_s=5000)
    wup(bench, "a", 1000)
    a = bench.nodes["a"]
    assert sorted(conn.rate_bee_per_s for conn in a.by_id.values()) == [50, 950]
    bench.run(until=lambda: "slow" in bench.answers)
    bench.run(until=lambda: len(a.by_id) == 1)
    assert [conn.rate_bee_per_s for conn in a.by_id.values()] == [1000]  # the whole aggregate
    bench.close()


def test_pacing_arguments_are_checked():
    assert parse_transfer("offer", {"to": "b", "quantity": 10}).power_bee_per_s is None
    t = parse_transfer("offer", {"to": "b", "quantity": 1000, "power_bee_per_s": 100}, 5000)
    assert (t.power_bee_per_s, t.start_s, t.end_s) == (100, 5000, 5010)  # the BEEs' time frame
    for bad in (0, -1, "fast", float("nan"), float("inf")):
        with pytest.raises((ControlError, ValueError)):
            parse_transfer("offer", {"to": "b", "quantity": 10, "power_bee_per_s": bad})
    with pytest.raises(ControlError, match="paces what this card delivers"):
        parse_transfer("ask", {"peer": "b", "quantity": 10, "power_bee_per_s": 5})
    assert frame_power(600, 100, 160) == 10 and frame_power(600, 100, 100) is None
    fill = PoolFill(order_id=1, quantity=900, start_s=1000, end_s=1090)
    assert fill_power(order_pacing({"pace": "frame"}), fill) == 10
    assert fill_power(order_pacing({"power_bee_per_s": 3}), fill) == 3
    assert fill_power(order_pacing({}), fill) is None
    with pytest.raises(ControlError):
        order_pacing({"pace": "soon"})


def test_the_token_bucket_never_bursts_and_waits_at_rate_zero():
    b = TokenBucket(100.0, 0.0, 10)
    assert b.fits(10) and not b.fits(11)  # one record at once, no initial burst
    b.take(10)
    assert b.ready_at(10, 0.0) == pytest.approx(0.1)
    assert b.refill(10.0) == 10  # depth max(record, 0.05 s of rate) = 10
    b.set_rate(0.0, 10.0)
    b.take(10)
    assert b.ready_at(10, 20.0) is None  # nothing ever: no busy wake-ups
    assert fair_shares(90, {1: None, 2: None, 3: None}) == {1: 30, 2: 30, 3: 30}
    assert fair_shares(90, {}) == {}


def test_a_paced_sender_resumes_paced_after_a_crash(tmp_path):
    bench = Bench(tmp_path, time_scale=10.0)
    transfer(bench, "c1", 2000, power_bee_per_s=100)  # 1000 BEE per wall s: 2 s
    t0 = bench.now
    bench.run(until=lambda: bench.now >= t0 + 0.5)
    done = bench.debited("a")
    assert 0 < done < 1000
    bench.nodes["a"].ledger.close()  # kill -9: the node and what it had in flight are gone
    bench.wire = [(dst, data) for dst, data in bench.wire if dst != "a"]
    bench.nodes["a"] = bench.node("a")
    t_restart = bench.now
    assert bench.nodes["a"].resume(bench.now) == []
    conn = next(iter(bench.nodes["a"].by_id.values()))
    assert (conn.power_bee_per_s, conn.rate_bee_per_s) == (100, 1000)  # from pacing.json
    bench.perform("a", bench.nodes["a"].flush())
    bench.run()
    assert bench.debited("a") == bench.credited("b") == 2000
    after = [(t, n) for t, n in data_sends(bench) if t >= t_restart]
    assert max_burst_bee(after, 1000) <= 50 + 1e-6
    assert after[-1][0] - t_restart == pytest.approx((2000 - done) / 1000, abs=0.1)
    assert bench.nodes["a"].powers.powers == {}  # forgotten once the transfer closed
    bench.close()
