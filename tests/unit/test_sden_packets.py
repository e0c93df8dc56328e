"""Packetized energy (eip.sden.packets) and the Table I agents (eip.sden.agents)."""

import pytest

from eip.protocol.model import RequestOption
from eip.sden.agents import Buffer, Cache, Client, Forward, LocalGrant, Router, Server, Source
from eip.sden.packets import PacketSpec, Profile


def test_packet_conversions():
    sp = PacketSpec()
    assert (sp.slot_s, sp.kw_per_packet_per_slot) == (600, pytest.approx(0.06))
    assert (sp.packets_of_kwh(1.0), sp.packets_of_kwh(0.001), sp.packets_of_wh(25)) == (100, 1, 3)
    assert (sp.packets_of_bee(0), sp.wh_of(7), sp.kwh_of(250)) == (0, 70, 2.5)
    big = PacketSpec(wh=50, minutes=15, epoch_s=1000)
    assert (big.slot_s, big.packets_of_kwh(1), big.wh_of(3)) == (900, 20, 150)


def test_time_to_slot():
    sp = PacketSpec(epoch_s=1000)
    assert (sp.slot(1000), sp.slot(1599), sp.slot(1600), sp.slot(999)) == (0, 0, 1, -1)
    assert (sp.first_slot_from(1000), sp.first_slot_from(1001)) == (0, 1)
    assert (sp.last_slot_by(1600), sp.last_slot_by(2199)) == (0, 0)
    assert (sp.slot_start_s(2), sp.slot_end_s(2)) == (2200, 2800)


def test_bad_specs_and_profiles_are_refused():
    with pytest.raises(ValueError):
        PacketSpec(wh=0)
    with pytest.raises(ValueError):
        Profile((1, -1))
    with pytest.raises(ValueError):
        Buffer("b", 10, 1, 1, soc_packets=11)
    with pytest.raises(ValueError, match="needs a rate"):
        Client("w", non_interruptible=True)


def test_profile_source_and_storage_values():
    src = Source("pv", Profile((1, 2, 3), start_slot=10))
    assert [src.packets_at(s) for s in (9, 10, 12, 13)] == [0, 1, 3, 0]
    b = Buffer("b", 10, 3, 2, soc_packets=9)
    assert (b.can_draw(), b.can_store()) == (2, 1)
    assert b.after(1, 0).soc_packets == 10 and b.soc_packets == 9
    assert isinstance(Cache("h2", 1000, 1, 1), Buffer)


def test_router_serves_from_own_packets_or_forwards_with_its_class():
    sp = PacketSpec()
    srv = Server("main", "10.1.0.1")
    r = Router("home", sp, own=Profile((0, 3, 3, 3)), server=srv)
    ev = Client("ev", "ev", rate_packets_per_slot=2)
    heat = Client("heat", "heating")
    got = r.handle(0, ev, RequestOption(40, 0, 0, 4 * 600))
    assert got == LocalGrant("home", "ev", ((1, 2), (2, 2)))
    assert r.free_at(1) == 1
    fwd = r.handle(0, heat, RequestOption(100, 0, 0, 4 * 600))  # 10 packets > 5 left
    assert fwd == Forward("home", "heat", srv, 1)
    assert srv.port == 1
    washer = Client("w", "washing_machine", 3, non_interruptible=True)
    assert r.handle(0, washer, RequestOption(60, 0, 0, 4 * 600)) == Forward("home", "w", srv, 2)
