"""Seed 004 Fig. 5: two priority slices plus a buffer over 30 slots (eip.sden.fig5)."""

import pytest

from eip.sden.fig5 import (
    BASE_LOAD_PACKETS,
    BUFFER,
    FIG5_REQUESTS,
    GENERATION,
    N_SLOTS,
    plot_fig5,
    run_fig5,
)


@pytest.fixture(scope="module")
def fig5():
    return run_fig5()


def test_every_fig5_request_is_admitted_and_served_in_full_within_its_window(fig5):
    assert [d.accepted for d in fig5.decisions] == [True] * 6
    assert [d.priority_class for d in fig5.decisions] == [1, 1, 1, 2, 2, 2]
    for r in FIG5_REQUESTS:
        per_slot = fig5.delivered(r.client.client_id)
        assert sum(per_slot) == r.packets
        assert all(n == 0 for i, n in enumerate(per_slot) if not r.first_slot <= i <= r.last_slot)
        assert max(per_slot) <= r.client.rate_packets_per_slot


def test_fig5_numbers(fig5):
    assert fig5.supply == tuple(g - BASE_LOAD_PACKETS for g in GENERATION)
    assert fig5.priority1 == (
        1,
        1,
        2,
        3,
        4,
        4,
        4,
        4,
        4,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        4,
        3,
        2,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
    )
    assert fig5.priority2 == (
        0,
        0,
        0,
        0,
        0,
        2,
        4,
        6,
        8,
        12,
        10,
        10,
        6,
        6,
        6,
        3,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    )
    assert fig5.buffer_draw == (
        3,
        3,
        2,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
        2,
        3,
        3,
        3,
        3,
        3,
        3,
        3,
        0,
        0,
    )
    assert sum(fig5.buffer_store) == 29
    assert fig5.soc[-1] == 6
    assert sum(s.curtailed for s in fig5.slots) == 13  # the buffer was full at noon


def test_priority_1_is_served_before_priority_2_in_every_slot(fig5):
    """No class-2 packet in a slot while a class-1 packet that could be served there waits."""
    remaining = {r.client.client_id: r.packets for r in FIG5_REQUESTS}
    class1 = [r for r in FIG5_REQUESTS if r.client.kind in ("fridge", "heating")]
    for slot in range(N_SLOTS):
        got = {r.client.client_id: fig5.delivered(r.client.client_id)[slot] for r in FIG5_REQUESTS}
        class2_served = sum(got[r.client.client_id] for r in FIG5_REQUESTS if r not in class1)
        if class2_served:
            for r in class1:
                cid = r.client.client_id
                if r.first_slot <= slot <= r.last_slot and remaining[cid]:
                    assert got[cid] == min(r.client.rate_packets_per_slot, remaining[cid]), (
                        slot,
                        cid,
                    )
        assert fig5.slots[slot].waiting[1] == 0 or class2_served == 0
        for cid, n in got.items():
            remaining[cid] -= n


def test_buffer_fills_the_gaps_of_priority_1(fig5):
    gap_slots = [i for i, s in enumerate(fig5.slots) if s.supply < s.delivered[1]]
    assert gap_slots == [0, 1, 2, 3, *range(19, 28)]
    for i in gap_slots:
        assert fig5.buffer_draw[i] == fig5.slots[i].delivered[1] - fig5.supply[i]
        assert fig5.priority1[i] == fig5.supply[i]


def test_allocation_never_exceeds_supply_plus_buffer(fig5):
    soc = BUFFER.soc_packets
    for i, s in enumerate(fig5.slots):
        can_draw = min(soc, BUFFER.discharge_packets_per_slot)
        assert s.served <= fig5.supply[i] + can_draw
        assert s.served == sum(s.from_supply) + fig5.buffer_draw[i]
        assert sum(s.from_supply) + fig5.buffer_store[i] + s.curtailed == fig5.supply[i]
        assert not (fig5.buffer_draw[i] and fig5.buffer_store[i])
        soc += fig5.buffer_store[i] - fig5.buffer_draw[i]
        assert 0 <= soc <= BUFFER.capacity_packets
        assert soc == fig5.soc[i]


def test_plot_fig5_writes_a_png(fig5, tmp_path):
    path = plot_fig5(fig5, str(tmp_path / "fig5.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
