"""The SDEN energy server (eip.sden.server): admission, classification, policies, emergencies."""

import json

import pytest

from eip.protocol.model import RequestOption
from eip.sden.agents import Buffer, Client, Source
from eip.sden.packets import PacketSpec, Profile
from eip.sden.server import MODE_DELIVER, MODE_DRAW, MODE_STORE, EnergyServer, merge_allocations

SP = PacketSpec()  # 10 Wh, 10 min, slot 0 at t = 0
S = SP.slot_s


def req(packets, first=0, last=5, priority=0, bee_type=1):
    """A Request for `packets` packets in slots first..last (deadline = end of slot `last`)."""
    return RequestOption(
        SP.wh_of(packets), SP.slot_start_s(first), 0, SP.slot_end_s(last), bee_type, priority
    )


def server(supply, *, buffers=(), **kw):
    return EnergyServer(SP, sources=(Source("pv", Profile(supply)),), buffers=buffers, **kw)


def delivered_order(srv, n_slots):
    """Client served in each slot (capacity 1 packet a slot)."""
    out = []
    for slot in range(n_slots):
        out += [a.agent_id for a in srv.allocate(slot * S) if a.mode == MODE_DELIVER]
    return out


# ------------------------------------------------------------------------------ admission


def test_admits_what_fits_and_rejects_short_supply_with_reason_1_and_a_retry():
    srv = server((2,) * 12, horizon_slots=12)
    assert srv.request(0, "a", req(10, 0, 5)).accepted  # 12 packets over slots 0..5
    d = srv.request(0, "b", req(4, 0, 5))
    assert (d.accepted, d.reason) == (False, 1)
    # a takes slots 0..4; moved 1 slot later (slots 1..6), b fits into slots 5..6.
    assert d.retry_after_s == S
    assert srv.rejects["b"] == 1


def test_deadline_infeasible_is_reason_4():
    srv = server(
        (5,) * 12, horizon_slots=12, clients=(Client("ev", "ev", rate_packets_per_slot=2),)
    )
    d = srv.request(0, "ev", req(10, 0, 2))  # 3 slots x 2 packets < 10
    assert (d.accepted, d.reason, d.retry_after_s) == (False, 4, 0)
    past = srv.request(3 * S, "x", req(1, 0, 1))  # deadline already gone
    assert (past.accepted, past.reason) == (False, 4)
    alone = srv.request(0, "y", req(16, 0, 2))  # 15 packets of supply in its window, whatever else
    assert (alone.accepted, alone.reason, alone.retry_after_s) == (
        False,
        4,
        0,
    )  # no later window helps


def test_deadline_infeasible_on_the_forecast_suggests_when_a_later_window_works():
    srv = server((1, 1, 1, 5, 5, 5), horizon_slots=6)
    d = srv.request(0, "a", req(10, 0, 2))
    assert (d.accepted, d.reason) == (False, 4)
    assert d.retry_after_s == 2 * S  # slots 2..4 hold 1 + 5 + 5 = 11 packets


def test_busy_when_the_queue_is_full_retry_when_the_first_deadline_passes():
    srv = server((9,) * 12, horizon_slots=12, max_queue=1)
    assert srv.request(0, "a", req(2, 0, 3)).accepted
    d = srv.request(0, "b", req(2, 0, 5))
    assert (d.accepted, d.reason, d.retry_after_s) == (False, 7, 4 * S)


def test_unserved_bee_type_and_empty_quantity():
    srv = server((9,) * 6, horizon_slots=6)
    assert srv.request(0, "a", req(1, bee_type=2)).reason == 5
    assert srv.request(0, "a", RequestOption(0, 0, 0, 600)).reason == 8


def test_quantity_is_rounded_up_to_whole_packets_and_granted_in_full():
    srv = server((9,) * 6, horizon_slots=6)
    d = srv.request(0, "a", RequestOption(15, 0, 0, 1200))
    assert (d.accepted, d.packets, d.granted_bee) == (True, 2, 15)


# ------------------------------------------------------------------------------ classification


@pytest.mark.parametrize(
    ("kind", "hint", "router_class", "expected"),
    [
        ("heating", 0, None, 1),  # by kind
        ("ev", 0, None, 2),
        ("toaster", 0, None, 2),  # unknown kind: lowest class
        ("ev", 1, None, 1),  # the request's hint
        ("heating", 2, None, 2),
        ("ev", 1, 2, 2),  # the household router's class wins
        ("ev", 0, 9, 2),  # clamped to the server's classes
    ],
)
def test_classification_rules(kind, hint, router_class, expected):
    srv = server((9,) * 6, horizon_slots=6, clients=(Client("c", kind),))
    d = srv.request(0, "c", req(1, priority=hint), router_class=router_class)
    assert (d.accepted, d.priority_class) == (True, expected)


# ------------------------------------------------------------------------------ policies


def _policy_case(policy, seed=0):
    srv = server((1,) * 8, horizon_slots=8, classes=1, policy=policy, seed=seed)
    for cid, last in (("a", 5), ("b", 4), ("c", 3), ("d", 6)):  # arrival order a, b, c, d
        assert srv.request(0, cid, req(1, 0, last)).accepted
    return delivered_order(srv, 8), srv


def test_edf_fcfs_and_random_give_different_orders_all_within_capacity():
    edf, _ = _policy_case("edf")
    fcfs, _ = _policy_case("fcfs")
    rnd, srv = _policy_case("random", seed=3)
    assert edf == ["c", "b", "a", "d"]
    assert fcfs == ["a", "b", "c", "d"]
    assert rnd == ["c", "a", "d", "b"]
    assert all(h.served <= h.capacity for h in srv.history)
    assert [h.served for h in srv.history] == [1, 1, 1, 1, 0, 0, 0, 0]


def test_random_policy_is_reproducible_from_its_seed():
    assert _policy_case("random", seed=3)[0] == _policy_case("random", seed=3)[0]


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="policy"):
        EnergyServer(SP, policy="lifo")


# ------------------------------------------------------------------------------ emergencies


def test_emergency_jumps_the_queue():
    srv = server((2,) * 6, horizon_slots=6)
    assert srv.request(0, "a", req(2, 0, 5, priority=1)).accepted
    assert srv.request(0, "b", req(2, 0, 5, priority=2)).accepted
    d = srv.request(0, "e", req(2, 0, 5, priority=2), emergency_code=1)
    assert (d.accepted, d.priority_class, d.emergency_code, d.displaced) == (True, 0, 1, ())
    first = srv.allocate(0)
    assert [(a.agent_id, a.packets) for a in first if a.mode == MODE_DELIVER] == [("e", 2)]


def test_emergency_displaces_the_lowest_class_when_supply_is_full():
    srv = server((1,) * 4, horizon_slots=4)
    a = srv.request(0, "a", req(2, 0, 3, priority=1))
    b = srv.request(0, "b", req(2, 0, 3, priority=2))
    assert a.accepted and b.accepted
    d = srv.request(0, "e", req(2, 0, 3), emergency_code=3)
    assert (d.accepted, d.priority_class, d.displaced) == (True, 0, (b.request_id,))
    assert [(m.request_id, m.reason) for m in srv.misses] == [(b.request_id, "displaced")]
    served = [a.agent_id for s in range(4) for a in srv.allocate(s * S)]
    assert sorted(served) == ["a", "a", "e", "e"]


def test_emergency_that_cannot_fit_is_rejected_and_displaces_nobody():
    srv = server((1,) * 4, horizon_slots=4)
    assert srv.request(0, "a", req(4, 0, 3), emergency_code=1).accepted
    d = srv.request(0, "e", req(1, 0, 3), emergency_code=1)
    assert (d.accepted, d.reason, d.displaced) == (False, 1, ())
    assert len(srv.status()["queue"]) == 1


def test_escalation_is_accepted_as_emergency_after_three_rejects():
    srv = server((1,) * 6, horizon_slots=6)
    assert srv.request(0, "a", req(6, 0, 5, priority=2)).accepted
    for i in range(3):
        d = srv.request(0, "b", req(2, 0, 5), emergency_code=2 if i == 2 else 0)
        assert (d.accepted, d.reason) == (False, 1)
    assert "escalation needs 3 rejects" in d.note  # the 3rd was an escalation too early
    assert srv.rejects["b"] == 3
    d = srv.request(0, "b", req(2, 0, 5), emergency_code=2)
    assert (d.accepted, d.priority_class, d.emergency_code, d.displaced) == (True, 0, 2, (1,))
    assert srv.rejects["b"] == 0


# ------------------------------------------------------------------------------ buffer, non-interruptible


def test_buffer_fills_the_gap_and_stores_the_surplus():
    buf = Buffer(
        "bat",
        capacity_packets=10,
        charge_packets_per_slot=3,
        discharge_packets_per_slot=2,
        soc_packets=1,
    )
    srv = server((5, 1), buffers=(buf,), horizon_slots=2)
    assert srv.request(0, "a", req(1, 0, 0)).accepted
    assert srv.request(0, "b", req(3, 1, 1, priority=1)).accepted
    slot0 = srv.allocate(0)
    assert {(a.mode, a.agent_id, a.packets) for a in slot0} == {
        (MODE_DELIVER, "a", 1),
        (MODE_STORE, "bat", 3),
    }
    slot1 = srv.allocate(S)
    assert {(a.mode, a.agent_id, a.packets, a.from_storage) for a in slot1} == {
        (MODE_DELIVER, "b", 3, 2),
        (MODE_DRAW, "bat", 2, 0),
    }
    assert srv.status()["storage"] == [{"id": "bat", "soc_packets": 2, "capacity_packets": 10}]
    assert srv.history[0].curtailed == 1


def test_lower_classes_draw_storage_only_for_urgent_packets():
    buf = Buffer("bat", 10, 5, 5, soc_packets=10)
    srv = server((0, 0, 0), buffers=(buf,), horizon_slots=3, clients=(Client("ev", "ev", 2),))
    assert srv.request(0, "ev", req(4, 0, 2)).accepted
    srv.allocate(2 * S)
    got = [h.delivered[2] for h in srv.history]
    assert got == [0, 2, 2]  # slot 0 could wait; from slot 1 on the packets are urgent


def test_running_non_interruptible_load_is_pinned_before_slicing():
    washer = Client("w", "washing_machine", 2, non_interruptible=True)
    srv = server((2, 2, 2, 2), horizon_slots=4, clients=(washer,))
    assert srv.request(0, "w", req(6, 0, 3)).accepted
    srv.allocate(0)
    assert srv.request(S, "e", req(1, 1, 1), emergency_code=1).reason == 4  # the washer cannot stop
    for slot in (1, 2, 3):
        srv.allocate(slot * S)
    assert [h.pinned for h in srv.history] == [0, 2, 2, 0]
    assert [h.slices[2] for h in srv.history] == [2, 0, 0, 0]


def test_merge_allocations_joins_consecutive_slots_into_one_schedule():
    srv = server((1,) * 6, horizon_slots=6)
    srv.request(0, "a", req(3, 0, 5))
    allocs = [a for s in range(6) for a in srv.allocate(s * S)]
    merged = merge_allocations(allocs)
    assert [(m.agent_id, m.slot, m.n_slots, m.packets) for m in merged] == [("a", 0, 3, 1)]


def test_status_is_json_serialisable():
    srv = server((1,) * 6, horizon_slots=6)
    srv.request(0, "a", req(2, 0, 5))
    srv.request(0, "b", req(9, 0, 5))
    srv.allocate(0)
    st = json.loads(json.dumps(srv.status()))
    assert st["next_slot"] == 1
    assert st["queue"][0]["remaining_packets"] == 1
    assert st["rejects"] == {"a": 0, "b": 1}
    assert st["served_packets_by_class"] == [0, 0, 1]


def test_availability_reports_the_slices_of_a_future_slot():
    srv = server((3, 3, 3), horizon_slots=3, base_load=Profile((1, 1, 1)))
    srv.request(0, "a", req(2, 0, 2, priority=1))
    srv.request(0, "b", req(4, 0, 2, priority=2))
    av = srv.availability(0)
    assert (av.generation, av.base_load, av.supply, av.slices) == (3, 1, 2, (0, 2, 0))
    assert srv.availability(1).slices == (0, 0, 2)
