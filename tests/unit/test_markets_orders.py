"""Order validation and the wire records PoolOrder / PoolFill; the market benchmark's command."""

import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eip.markets import ASK, SEND, BeePool, MarketError, Order
from eip.markets.orders import (
    FILL_COMPLETE,
    FILL_PARTIAL,
    FILL_RESTING,
    fills_for,
)
from eip.protocol import codec
from eip.protocol.model import PoolOrder
from tests.strategies import macs

T0 = 1_780_300_800


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("quantity", {"quantity": 0}),
        ("quantity", {"quantity": 2**32}),
        ("side", {"side": 3}),
        ("bee_type", {"bee_type": 99}),
        ("end_s", {"end_s": T0}),
        ("min_green_ratio_bp", {"min_green_ratio_bp": 10_001}),
        ("price_micro_per_kbee", {"price_micro_per_kbee": 2**31}),
        ("owner", {"owner": ""}),
        ("order_id", {"order_id": True}),
    ],
)
def test_strict_validation_names_the_field(field, change):
    good = {"order_id": 1, "owner": "x", "side": 1, "bee_type": 1, "quantity": 1,
            "price_micro_per_kbee": 1, "start_s": T0, "end_s": T0 + 60}  # fmt: skip
    Order(**good)
    with pytest.raises(MarketError, match=field):
        Order(**{**good, **change})
    with pytest.raises(MarketError, match=field):
        Order(**good)._replace(**change)


@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from((SEND, ASK)),
    st.integers(1, 2**32 - 1),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(0, 2**32 - 2),
    st.integers(0, 10_000),
)
def test_order_wire_round_trip(oid, side, qty, price, start, green):
    rec = PoolOrder(0, oid, side, 1, 1, qty, price, start, start + 1, green)
    o = Order.from_wire(rec, "02:00:00:00:00:01")
    assert o.to_wire() == rec
    pkt_rec = codec.decode(codec.encode(_packet(rec))).payload.records[0]
    assert Order.from_wire(pkt_rec, "x") == o._replace(owner="x")


def _packet(rec):
    from eip.protocol import constants as c
    from eip.protocol.model import EnergyIp, EnergyTcp, Packet

    seg = EnergyTcp(49152, c.PORT_BEE_POOL, 1, 1, c.ETCP_ACK | c.ETCP_PSH, 100, records=(rec,))
    return Packet("10.1.0.1", "10.1.0.2", EnergyIp(0, 0, "02:00:00:00:00:01"), seg)


def test_cancel_record_is_not_an_order():
    with pytest.raises(MarketError, match="action"):
        Order.from_wire(PoolOrder(0, 1, 1, 1, 2, 1, 1, T0, T0 + 1, 0), "x")


@given(macs, macs)
def test_fills_answer_a_placed_order(seller, buyer):
    pool = BeePool()
    pool.place(Order(1, seller, SEND, 1, 300, 100, T0, T0 + 60), T0)
    ask = Order(2, buyer, ASK, 1, 500, 120, T0, T0 + 60)
    trades = pool.place(ask, T0) if seller != buyer else []
    fills = fills_for(ask, trades, {seller: "10.1.0.11"})
    if seller == buyer:
        assert [f.status for f in fills] == [FILL_RESTING]
        return
    assert [(f.status, f.quantity, f.peer_mac, f.peer_ip) for f in fills] == [
        (FILL_PARTIAL, 300, seller, "10.1.0.11"),
        (FILL_RESTING, 200, "00:00:00:00:00:00", "0.0.0.0"),
    ]
    assert trades[0].fill_for(SEND).status == FILL_COMPLETE
    assert trades[0].fill_for(SEND).peer_mac == buyer
    assert trades[0].value_micro == 300 * 100 // 1000


def test_bench_market_json_reports_rates_and_goals():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "eip.cli.main",
            "bench",
            "market",
            "--orders",
            "5000",
            "--json",
            "--network-orders",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = json.loads(done.stdout)
    assert result["benchmark"] == "market"
    for key in ("pool_orders_per_s", "auction_orders_per_s", "heapq_baseline_pool_orders_per_s"):
        assert result[key] > 0
    assert 0.3 < result["pool_crossing_fraction"] < 0.7
    assert set(result["goals"]) == {"pool_orders_per_s", "auction_orders_per_s"}
    assert done.returncode in (0, 3)
