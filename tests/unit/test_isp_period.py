"""The ISP's period loop (OPF -> limits -> reversal -> fees, fail-safe) and its wiring into the controller.

The loop is tested twice: with small stand-ins for the grid code (so the wiring is exact and fast), and
with the real grid code (eip/isp/grids.py, opf.py, limits.py, dynamic.py) on the four-node example.
"""

import dataclasses
import logging
import math
from types import MappingProxyType as MP

import pytest
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from eip.isp.isp import EnergyIsp, IspPeriod
from eip.isp.model import IspError, NodalInjections, OpfResult, StaticLimits
from eip.protocol.codec import decode_frame, encode_frame
from eip.protocol.constants import ETCP_ACK, ETCP_WUP, EXCEEDED_STATIC, NO_LIMIT
from eip.protocol.messages import segment_dscp
from eip.protocol.model import (
    EnergyIp,
    EnergyTcp,
    FeeNotice,
    Packet,
    PriceNotice,
    StaticLimitNotice,
)
from eip.sdn import pipeline as pl
from eip.sdn.controller import K_IMPORT, MARGIN_POLLS
from tests.unit.test_sdn_support import QUANTUM, deliver, e_frame, make_plan, started

PERIOD_S = 60.0


# ------------------------------------------------------------------------------- grid stand-ins


class LineGrid:
    """Bus 1 (the cards of vpp1) feeds bus 2 (vpp2's) over one line of `rating_kw`; bus 3 is a plant."""

    rating_kw = 200.0

    def base_injections_kw(self, period):
        return {1: 50.0, 2: -50.0, 3: 0.0}

    def card_forecast_kw(self, period):  # the base, shared by the two cards of each bus
        return {"vpp1-0": 25.0, "vpp1-1": 25.0, "vpp2-0": -25.0, "vpp2-1": -25.0}


def line_opf(grid, injections):
    p = injections.p_kw
    if p.get(2, 0.0) < -10_000:  # an impossible load: neither AC nor DC converges
        raise IspError("OPF did not converge (AC and DC)")
    flow = abs(p.get(1, 0.0))
    return OpfResult(
        injections.period, "ac", MP({"plant": max(0.0, -sum(p.values()))}), MP({1: 0.5, 2: 0.6, 3: 0.5}),
        0.01 * flow, MP({0: 100 * flow / grid.rating_kw}), 0.4 * max(0.0, -sum(p.values())) + 5,
    )  # fmt: skip


def line_limits(grid, opf, injections, period_s, plan):
    """Bus 1 may export what the line has left after bus 2's own draw; cards share their bus's limit."""
    headroom = max(1.0, grid.rating_kw - max(0.0, -injections.p_kw.get(2, 0.0)))
    export_kw = {1: headroom, 2: grid.rating_kw, 3: 1e6}
    import_kw = {1: grid.rating_kw, 2: grid.rating_kw, 3: 1e6}
    per_card = {}
    for c in plan.cards:
        n = sum(1 for d in plan.cards if d.bus == c.bus)
        per_card[c.mac] = int(export_kw.get(c.bus, 0.0) / n * period_s / 3.6)
    return StaticLimits(
        opf.period, period_s, MP(export_kw), MP(import_kw), MP(per_card),
        MP({m: 10**6 for m in per_card}), MP({}),
    )  # fmt: skip


def line_table(limits, quantum_bee):
    return {
        "period_s": limits.period_s,
        "quantum_bee": quantum_bee,
        "cards": {
            m: {"export_bee": e, "import_bee": limits.card_import_bee[m]}
            for m, e in limits.card_export_bee.items()
        },
        "vpps": {},
    }


class HalfWindow:
    """A dynamic limit stand-in: half the static rate once a card has used half its quota."""

    def __init__(self, static, basis=None, horizon_s=1.0):
        self.static = static

    def update(self, exported, elapsed_s):
        out = {}
        for mac, bee in exported.items():
            quota = self.static.card_export_bee.get(mac, 0)
            if quota and bee >= quota / 2:
                out[mac] = max(1, int(quota / self.static.period_s / 2))
        return out


def bus_plan():
    """The SDN tests' plan with vpp1's cards on bus 1 and vpp2's on bus 2."""
    plan = make_plan()
    cards = tuple(dataclasses.replace(c, bus=int(c.vpp[-1])) for c in plan.cards)
    return dataclasses.replace(plan, cards=cards)


def stub_isp(plan=None, **kw):
    plan = plan or bus_plan()
    return EnergyIsp(
        LineGrid(), plan, PERIOD_S, QUANTUM, run_opf=line_opf, static_limits=line_limits,
        limits_to_table=line_table, dynamic_limits=HalfWindow, **kw,
    )  # fmt: skip


# ------------------------------------------------------------------------------------ the loop


def test_a_period_runs_opf_limits_reversal_and_fees_into_one_frozen_result():
    isp = stub_isp()
    res = isp.run_period(0, NodalInjections(0, {1: 300.0, 2: -50.0, 3: 0.0}))
    assert isinstance(res, IspPeriod) and not res.fail_safe and res.method == "ac"
    assert res.limits.export_kw[1] == 150.0  # 200 - 50
    assert dict(res.reversal.added_kw) == {1: -150.0}  # bus 1 exported 300: the ISP takes 150
    assert res.reversal.corrected.p_kw[1] == 150.0
    assert res.fees.total_cny >= res.reversal.cost_cny > 0
    assert set(res.timings_s) >= {"opf_s", "limits_s", "reversal_s", "fees_s", "total_s"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.fail_safe = True  # type: ignore[misc]
    table = isp.limit_table()
    assert table.period_s == PERIOD_S and table.quantum_bee == QUANTUM
    assert (
        table.card("02:00:00:00:01:00").export_bee
        == res.limits.card_export_bee["02:00:00:00:01:00"]
    )
    assert isp.status()["fail_safe"] is False and isp.status()["lmp_cny_per_kwh"]["2"] == 0.6


def test_limits_change_with_the_injections():
    isp = stub_isp()
    light = isp.run_period(0, NodalInjections(0, {1: 10.0, 2: -20.0})).limits
    heavy = isp.run_period(1, NodalInjections(1, {1: 10.0, 2: -150.0})).limits
    mac = "02:00:00:00:01:00"
    assert heavy.card_export_bee[mac] < light.card_export_bee[mac]
    assert isp.limit_table().card(mac).export_bee == heavy.card_export_bee[mac]


def test_fail_safe_keeps_the_previous_limits_and_says_so(caplog):
    isp = stub_isp()
    good = isp.run_period(0, NodalInjections(0, {1: 10.0, 2: -20.0}))
    with caplog.at_level(logging.ERROR, logger="eip.isp.isp"):
        bad = isp.run_period(1, NodalInjections(1, {1: 10.0, 2: -1e6}))
    assert bad.fail_safe and bad.period == 1 and bad.opf is None and "converge" in bad.error
    assert bad.limits is good.limits and bad.table == good.table
    assert "FAIL-SAFE" in caplog.text and "period 0" in caplog.text
    assert (
        isp.limit_table().card("02:00:00:00:01:00").export_bee
        == (good.limits.card_export_bee["02:00:00:00:01:00"])
    )
    assert isp.status()["fail_safe"] is True and isp.status()["fail_safes"] == 1
    again = isp.run_period(2, NodalInjections(2, {1: 10.0, 2: -100.0}))  # recovers
    assert not again.fail_safe and again.limits.period == 2


def test_fail_safe_with_nothing_to_keep_raises():
    with pytest.raises(IspError, match="no previous limits"):
        stub_isp().run_period(0, NodalInjections(0, {2: -1e6}))


def test_measured_injections_are_per_bus_kw_from_metered_bee():
    isp = stub_isp()
    # vpp1's two cards exported 600 + 400 BEE in 60 s and imported 100: 900 Wh / (1/60 h) = 54 kW
    inj = isp.measured_injections(
        4, {"02:00:00:00:01:00": 600, "02:00:00:00:01:01": 400, "02:00:00:00:09:09": 5},
        {"02:00:00:00:01:01": 100, "02:00:00:00:02:00": 300}, 60.0,
    )  # fmt: skip
    assert inj.period == 4 and dict(inj.p_kw) == {1: pytest.approx(54.0), 2: pytest.approx(-18.0)}
    # the forecast keeps the base profile where nothing was measured
    assert dict(isp.forecast(4, NodalInjections(4, {2: -18.0})).p_kw) == {1: 50.0, 2: -18.0, 3: 0.0}
    # a card that moved no BEE keeps its forecast (-25 kW) next to the measured one
    one = isp.forecast(4, NodalInjections(4, {2: -18.0}), {"02:00:00:00:02:00"})
    assert one.p_kw[2] == pytest.approx(-43.0)


# ----------------------------------------------------------------------- wiring: the controller


class NoDynamic:
    def __init__(self, static, basis=None, horizon_s=1.0):
        pass

    def update(self, exported, elapsed_s):
        return {}


def isp_controller(dynamic=HalfWindow):
    plan = bus_plan()
    isp = stub_isp(plan)
    isp._dynamic_cls = dynamic
    isp.run_period(0, isp.forecast(0))
    ctl, fakes = started(plan, isp.limit_table(), isp=isp)
    return ctl, fakes, isp


def poll_all(ctl, fakes, now):
    """One poll with an ISP: its dynamic-limit messages applied, its stats requests answered."""
    by_dpid = {x.dpid: x for x in fakes.values()}
    out, sent = [], ctl.poll(now)
    for dpid, msg in sent:
        if isinstance(msg, parser.OFPFlowStatsRequest):
            out += ctl.flow_stats(dpid, by_dpid[dpid].flow_stats_reply(msg), now)
        else:
            by_dpid[dpid].apply(msg)
    deliver(fakes, out)
    return sent + out


def meter_mods(items):
    return [
        (dpid, m)
        for dpid, m in items
        if isinstance(m, parser.OFPMeterMod) and m.command == ofp.OFPMC_MODIFY
    ]


def test_the_controller_counts_imports_per_card_with_an_isp():
    ctl, f, _ = isp_controller()
    a, b = ctl.plan.cards[0], ctl.plan.cards[1]
    flows = f["s1"].flows(pl.T_FORWARD, pl.cookie(K_IMPORT, 1))
    assert len(flows) == 1 and flows[0].match["eth_dst"] == b.mac
    for k in range(5):
        assert f["s1"].lookup(a.port, e_frame(a.mac, b.mac, a.ip, b.ip, k), 0.4 * k) == (b.port,)
    poll_all(ctl, f, 0.5)
    cards = ctl.status()["cards"]
    assert (
        cards[a.name]["used_bee"] == 5 * QUANTUM and cards[b.name]["import_used_bee"] == 5 * QUANTUM
    )


def test_at_a_period_boundary_the_isp_limits_reprogram_the_meters_and_the_notices():
    ctl, f, isp = isp_controller(NoDynamic)
    cards = ctl.plan.cards
    a1, c2 = cards[0], cards[2]  # a1 on bus 1 (s1), c2 on bus 2 (s2)
    before = ctl.status()["cards"][a1.name]["rate_pktps"]
    # vpp2's card c2 draws heavily from a1 during period 0: bus 2 imports, bus 1's headroom shrinks
    t, k = 1.0, 0
    while t < 59.0:
        f["s1"].lookup(a1.port, e_frame(a1.mac, c2.mac, a1.ip, c2.ip, k), t)
        f["s0"].lookup(1, e_frame(a1.mac, c2.mac, a1.ip, c2.ip, k), t)
        f["s2"].lookup(1000, e_frame("02:00:00:fe:02:01", c2.mac, a1.ip, c2.ip, k), t)
        if k % 20 == 0:
            poll_all(ctl, f, t)
        t, k = t + 0.05, k + 1
    poll_all(ctl, f, 59.5)
    assert ctl.status()["cards"][c2.name]["import_used_bee"] > 0
    out = ctl.tick(PERIOD_S)
    deliver(f, out)
    res = isp.last
    assert res.period == 1 and not res.fail_safe
    assert res.injections.p_kw[2] < -10  # measured: bus 2 imported
    table = isp.limit_table()
    new_export = table.card(a1.mac).export_bee
    assert new_export < isp.in_force.limits.export_kw[1] * PERIOD_S / 3.6 + 1
    new_rate = table.rate_pktps(new_export)
    assert new_rate != before
    mods = {(dpid, m.meter_id): m for dpid, m in meter_mods(out)}
    m = mods[(1, ctl.topo.card_meter(0))]
    assert m.bands[0].rate == new_rate and m.flags & ofp.OFPMF_PKTPS
    assert f["s1"].meters[ctl.topo.card_meter(0)].rate == new_rate  # the switch has it
    st = ctl.status()
    assert st["cards"][a1.name]["rate_pktps"] == new_rate
    assert st["cards"][a1.name]["quota_bee"] == new_export
    assert st["isp"]["cards"][a1.mac]["export_bee"] == new_export and st["isp"]["period"] == 1
    # meter-modifies come before the notices, and the notice carries the new quota
    kinds = [type(m).__name__ for _, m in out]
    assert kinds.index("OFPMeterMod") < kinds.index("OFPPacketOut")
    notices = [decode_frame(p[1])[2].payload for p in f["s1"].packet_outs if p[0] == a1.port]
    *_, notice, bill = notices
    assert notice == StaticLimitNotice(1, 60, new_export, 10**6)
    # ... then its share of the period's service fees (R5.8), shared by what it moved in period 0
    assert type(bill) is FeeNotice and bill.period == 1
    assert bill.usage_bee == round(res.usage_kwh[a1.mac.lower()] * 1000) > 0
    assert bill.fee_micro / 1e6 == pytest.approx(res.fees.by_card_cny[a1.mac.lower()], rel=1e-3)
    assert res.fees.by_card_cny[a1.mac.lower()] > 0


def test_a_failed_opf_at_the_boundary_keeps_the_meters():
    ctl, _, isp = isp_controller()
    old = ctl.status()["cards"]
    isp.grid.base_injections_kw = lambda period: {1: 10.0, 2: -1e6}  # nothing measured: the base
    out = ctl.tick(PERIOD_S)
    assert isp.last.fail_safe and isp.last.period == 1
    assert meter_mods(out) == []
    assert ctl.status()["cards"] == old  # same quotas and rates
    assert ctl.status()["isp"]["fail_safe"] is True


def test_dynamic_windows_at_each_poll_change_the_meter_when_they_move_more_than_10_percent():
    ctl, f, _ = isp_controller()
    a, b = ctl.plan.cards[0], ctl.plan.cards[1]
    quota = ctl.status()["cards"][a.name]["quota_bee"]
    poll_all(ctl, f, 1.0)
    assert ctl.status()["cards"][a.name]["window_bee"] is None
    ctl.cards[a.mac].period_packets = math.ceil(quota / 2 / QUANTUM)  # half the quota used
    out = ctl.poll(40.0)
    mods = meter_mods(out)
    window = max(1, int(quota / PERIOD_S / 2))
    assert [(d, m.meter_id, m.bands[0].rate) for d, m in mods] == [
        (1, ctl.topo.card_meter(0), max(1, math.ceil(window / QUANTUM)))
    ]
    assert ctl.status()["cards"][a.name]["window_bee"] == window
    assert meter_mods(ctl.poll(41.0)) == []  # unchanged window: nothing re-sent
    # the next period starts from the static rate again
    out = ctl.tick(PERIOD_S)
    assert ctl.status()["cards"][a.name]["window_bee"] is None
    assert any(m.meter_id == ctl.topo.card_meter(0) for _, m in meter_mods(out))
    assert b.name in ctl.status()["cards"]
    # ... and the card is told so: a WUP that lifts its window (R6.10), to it alone
    wups = [
        (po.actions[0].port, pkt.payload.window)
        for _, po in out
        if isinstance(po, parser.OFPPacketOut)
        for _, _, pkt in [decode_frame(po.data)]
        if getattr(pkt.payload, "flags", 0) & ETCP_WUP
    ]
    assert wups == [(a.port, NO_LIMIT)]


def test_the_isp_gets_no_more_export_than_the_meter_can_pass():
    """OVS userspace also counts packets its meter dropped: the ISP's figure is capped by the meter."""
    ctl, _, isp = isp_controller(NoDynamic)
    st = ctl.cards["02:00:00:00:01:00"]
    st.period_packets = 10_000  # a flood, counted as if all had passed
    rate = st.rate_pktps
    ctl.tick(PERIOD_S)
    cap_bee = (math.ceil(rate * PERIOD_S) + ctl.burst(rate)) * QUANTUM
    # bus 1 = the flooding card (capped) + its neighbour, which moved nothing: its forecast, 25 kW
    measured_kw = isp.last.injections.p_kw[1]
    assert measured_kw == pytest.approx(cap_bee / 1000 / (PERIOD_S / 3600) + 25.0)
    assert ctl.status()["cards"]["vpp1-0"]["quota_blocks"] == 0  # the quota check is not touched


def test_each_card_hears_its_nodes_prices_just_before_its_static_limit_notice():
    """R5.7: at a period boundary the ISP's node prices (the OPF's LMP of the card's bus) go to
    every card before its notice, so a card deciding at the notice already knows them."""
    ctl, _, isp = isp_controller(NoDynamic)
    out = ctl.tick(PERIOD_S)
    heard: dict = {}
    for _, po in out:
        if isinstance(po, parser.OFPPacketOut):
            _, _, pkt = decode_frame(po.data)
            heard.setdefault(pkt.dst, []).append(pkt.payload)
    lmp = isp.last.opf.lmp_cny_per_kwh
    for card in ctl.plan.cards:
        price, notice = heard[card.ip]  # and no fee bill: nobody moved BEE in period 0
        assert type(notice) is StaticLimitNotice and notice.period == 1
        sell = round(lmp[card.bus] * 1e6)  # micro-CNY per 1000 BEE at 1 BEE = 1 Wh
        buy = round(lmp[card.bus] * 1.1 * 1e6)  # the grid's charge keeps its 10 % profit rate
        assert price == PriceNotice(1, buy, sell), card.name
    assert {round(lmp[c.bus] * 1e6) for c in ctl.plan.cards} == {500_000, 600_000}


def test_without_an_isp_nothing_changes():
    ctl, f = started()
    assert "isp" not in ctl.status()
    assert f["s1"].flows(pl.T_FORWARD, pl.cookie(K_IMPORT, 0)) == []
    assert meter_mods(ctl.tick(PERIOD_S)) == []
    sent = [decode_frame(po.data)[2].payload for _, po in ctl.tick(2 * PERIOD_S)
            if isinstance(po, parser.OFPPacketOut)]  # fmt: skip
    assert sent and all(type(p) is StaticLimitNotice for p in sent)  # no prices without an ISP


# --------------------------------------------------------------------------- the real grid code

real = pytest.importorskip  # keep the stand-in tests above running even before the grid code lands


@pytest.fixture
def four_node():
    real("eip.isp.grids")
    cases = real("eip.cases")
    real("eip.isp.opf")
    real("eip.isp.limits")
    real("eip.isp.dynamic")
    from eip.net.plan import plan_from_topo
    from topologies.four_node import FourNodeTopo

    plan = plan_from_topo(FourNodeTopo())
    return cases.grid_for_plan(plan), plan


def test_real_grid_limits_change_with_the_injections(four_node):
    grid, plan = four_node
    isp = EnergyIsp(grid, plan, 7200.0, QUANTUM)
    base = isp.forecast(0)
    first = isp.run_period(0, base)
    assert not first.fail_safe and first.method in ("ac", "dc")
    assert set(first.table["cards"]) == {c.mac.lower() for c in plan.cards}
    heavier = dict(base.p_kw)
    load_bus = min(heavier, key=lambda b: heavier[b])  # the bus that draws most
    heavier[load_bus] *= 1.5
    second = isp.run_period(1, NodalInjections(1, heavier))
    assert not second.fail_safe
    assert dict(second.limits.card_export_bee) != dict(first.limits.card_export_bee) or dict(
        second.limits.export_kw
    ) != dict(first.limits.export_kw)
    assert second.fees.profit_rate is None or second.fees.profit_rate >= 0.1 - 1e-9


def test_real_grid_fail_safe_on_an_impossible_load(four_node, caplog):
    grid, plan = four_node
    isp = EnergyIsp(grid, plan, 7200.0, QUANTUM)
    good = isp.run_period(0, isp.forecast(0))
    impossible = dict(isp.forecast(1).p_kw)
    load_bus = min(impossible, key=lambda b: impossible[b])
    impossible[load_bus] = -1e9  # a terawatt load
    with caplog.at_level(logging.ERROR):
        bad = isp.run_period(1, NodalInjections(1, impossible))
    assert bad.fail_safe and bad.limits is good.limits and "FAIL-SAFE" in caplog.text
    table = isp.limit_table()
    for mac, bee in good.limits.card_export_bee.items():
        assert table.card(mac).export_bee == bee


def test_a_card_whose_import_limit_is_used_up_gets_no_more_bee_and_its_sender_is_told():
    """The import rule counts what a card receives; at its static import limit (less the margin of
    MARGIN_POLLS polls at the last poll's rate) its incoming BEE goes to the controller, which
    answers the sender LimitExceeded static with the limit; ACKs still reach it; a new period lifts it."""
    ctl, f, _ = isp_controller(NoDynamic)
    a, b = ctl.plan.cards[0], ctl.plan.cards[1]  # same switch s1
    sb = ctl.cards[b.mac]
    sb.import_bee = 40 * QUANTUM  # a small limit, so the test sends few packets
    frame = e_frame(a.mac, b.mac, a.ip, b.ip)
    passed, t = 0, 0.0
    while not sb.import_blocked and t < 30:
        for _ in range(5):
            passed += f["s1"].lookup(a.port, frame, t) == (b.port,)
        t += 0.5
        poll_all(ctl, f, t)
    assert sb.import_blocked and sb.import_blocks == 1
    assert (
        40 - 5 * MARGIN_POLLS <= passed <= 40
    )  # blocked within the margin, never beyond the limit
    assert f["s1"].lookup(a.port, frame, t) == ("controller",)
    ((dpid, po),) = ctl.packet_in(1, a.port, frame, t)
    assert dpid == 1
    _, _, pkt = decode_frame(po.data)
    assert po.actions[0].port == a.port and pkt.dst == a.ip
    assert pkt.payload.code == EXCEEDED_STATIC and pkt.payload.limit == 40 * QUANTUM
    # a's no-BEE datagrams (its SYN, FIN, ACKs) still reach b, and b's acks reach a
    for src, dst in ((a, b), (b, a)):
        ack = EnergyTcp(10, 49152, 1, 5, ETCP_ACK, 1000)
        pkt = Packet(src.ip, dst.ip, EnergyIp(0, 0, src.mac), ack, dscp=segment_dscp(ack, 8))
        assert f["s1"].lookup(src.port, encode_frame(pkt, src.mac, dst.mac), t) == (dst.port,)
    assert ctl.status()["cards"][b.name]["import_blocked"]
    deliver(f, ctl.tick(PERIOD_S))
    assert not sb.import_blocked
    assert f["s1"].lookup(a.port, frame, PERIOD_S + 1) == (b.port,)
