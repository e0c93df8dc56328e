"""Properties of the energy server on random supplies, storage and requests (hypothesis)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from eip.protocol.model import RequestOption
from eip.sden.agents import Buffer, Client, Source
from eip.sden.packets import PacketSpec, Profile
from eip.sden.server import MODE_DELIVER, MODE_DRAW, MODE_STORE, EnergyServer

SP = PacketSpec()
H = 10  # horizon and run length, slots

request_st = st.tuples(
    st.integers(0, H - 1),  # arrival slot
    st.integers(1, 12),  # packets
    st.integers(0, 4),  # window start, slots after arrival
    st.integers(0, 6),  # window length - 1
    st.integers(0, 4),  # rate (0 = none)
    st.booleans(),  # non-interruptible
    st.integers(0, 2),  # priority hint
    st.sampled_from([0, 0, 0, 1, 2]),  # emergency code
)


@settings(max_examples=200, deadline=None)
@given(
    supply=st.lists(st.integers(0, 6), min_size=H, max_size=H),
    base=st.lists(st.integers(0, 3), min_size=H, max_size=H),
    buf=st.tuples(st.integers(0, 12), st.integers(0, 4), st.integers(0, 4), st.integers(0, 12)),
    reqs=st.lists(request_st, max_size=8),
    policy=st.sampled_from(["edf", "fcfs", "random"]),
    floor2=st.integers(0, 2),
)
def test_never_overbooks_and_serves_every_admitted_request_by_its_deadline(
    supply, base, buf, reqs, policy, floor2
):
    cap, ch, dis, soc = buf
    battery = Buffer("bat", cap, ch, dis, min(soc, cap))
    srv = EnergyServer(
        SP, H, 2, policy, seed=1, sources=(Source("pv", Profile(supply)),), buffers=(battery,),
        base_load=Profile(base), escalation_rejects=1, floors=(0, floor2),
    )  # fmt: skip
    admitted, allocs = {}, []
    for slot in range(2 * H):  # requests arrive in the first H slots; run until all deadlines
        for i, (arr, n, off, length, rate, ni, prio, code) in enumerate(reqs):
            if arr != slot:
                continue
            cid = f"c{i}"
            srv.set_client(Client(cid, "ev", rate or (rate + 1 if ni else 0), ni and rate > 0))
            first, last = slot + off, slot + off + length
            t = SP.slot_start_s(slot)
            opt = RequestOption(
                SP.wh_of(n),
                SP.slot_start_s(first),
                SP.slot_end_s(last),
                SP.slot_end_s(last),
                1,
                prio,
            )
            d = srv.request(t, cid, opt, emergency_code=code)
            assert (d.reason == 0) == d.accepted
            assert d.retry_after_s >= 0
            if d.accepted:
                assert d.granted_bee == opt.quantity
                admitted[d.request_id] = (cid, n, first, min(last, slot + H - 1))
            else:
                assert d.reason in (1, 4, 7)
                assert d.reason != 1 or d.retry_after_s > 0
        allocs += srv.allocate(SP.slot_start_s(slot))
    soc = battery.soc_packets
    for h in srv.history:
        assert h.served <= h.supply + h.storage_can_draw  # never overbook supply + storage
        assert h.storage_can_draw <= min(soc, dis)
        assert h.storage_draw <= min(soc, dis) and h.storage_store <= min(ch, cap - soc)
        assert min(h.slices + h.from_supply + h.waiting) >= 0 and h.curtailed >= 0
        soc += h.storage_store - h.storage_draw
        assert 0 <= soc <= cap and (soc,) == h.soc_after
    assert all(a.packets > 0 and 0 <= a.from_storage <= a.packets for a in allocs)
    assert len(srv.history) == 2 * H
    for slot in range(2 * H):
        delivered = sum(a.packets for a in allocs if a.slot == slot and a.mode == MODE_DELIVER)
        drawn = sum(a.packets for a in allocs if a.slot == slot and a.mode == MODE_DRAW)
        stored = sum(a.packets for a in allocs if a.slot == slot and a.mode == MODE_STORE)
        h = srv.history[slot]
        assert delivered == h.served and drawn == h.storage_draw and stored == h.storage_store
    # Forecasts never changed, so the only admitted requests not served in full are those an
    # emergency displaced, and the server says so.
    missed = {m.request_id: m.reason for m in srv.misses}
    assert set(missed.values()) <= {"displaced"}
    for rid, (cid, n, first, last) in admitted.items():
        assert all(a.agent_id == cid for a in allocs if a.request_id == rid)
        got = [a for a in allocs if a.request_id == rid]
        if rid in missed:
            assert sum(a.packets for a in got) < n
            continue
        assert sum(a.packets for a in got) == n, (rid, srv.status())
        assert all(first <= a.slot <= last for a in got)
