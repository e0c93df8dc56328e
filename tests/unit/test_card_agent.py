"""The card hosts its behaviour (eip/card/agent_host.py): two CardNodes and the pool service in memory.

A pv card and an elastic_load card of one Energy LAN, the BEE pool's plain logic
(eip/apps/pool_service.py `PoolService`) on the router's address. The ISP's static-limit notice for a
period makes each card place exactly its behaviour's orders for that period (once: not again on a
duplicate notice); the pool matches them; the fill reaches both behaviours and the sale is delivered
paced over the period. No socket, no root; the clock is virtual (wall time = now + the real start,
because the pool checks frames against the real time).
"""

import dataclasses
import time

import pytest

from eip.agents.host import HostedAgent
from eip.apps.pool_service import PoolService
from eip.card.actions import Answer, Transmit
from eip.card.agent_host import slot_start
from eip.card.config import BehaviourConfig, CardConfig, Peer, from_mapping
from eip.card.harness import ledger_rows
from eip.card.node import CardNode, open_ledger
from eip.errors import EipError
from eip.etcp.keys import CardKey
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.model import EnergyIp, Packet, PriceNotice, StaticLimitNotice
from eip.yamlconf import ConfigError, load_text
from tests.unit.test_card_node import ipv4

IPS = {"pv": "10.1.0.1", "load": "10.1.0.2"}
MACS = {"pv": "02:00:00:00:01:01", "load": "02:00:00:00:01:02"}
POOL_IP, POOL_MAC = "10.1.0.254", "02:00:00:00:01:fe"
ISP_IP, ISP_MAC = "10.0.0.254", "02:00:00:00:00:fe"
PERIOD_S = 7200.0  # emulated
TIME_SCALE = 100.0  # a period is 72 wall seconds
BEHAVIOURS = {
    # 0.5 kW for 2 h: 1000 Wh per period, asked at 0.30 CNY/kWh
    "pv": BehaviourConfig("pv", {"forecast_kw": 0.5, "marginal_cost_cny_per_kwh": 0.3}, PERIOD_S),
    # 0.4 kW at 0.6 CNY/kWh: 800 Wh bid at the reference price (one block)
    "load": BehaviourConfig("elastic_load", {"base_demand_kw": 0.4, "elasticity": -0.5,
                                             "reference_price_cny_per_kwh": 0.6, "blocks": 1},
                            PERIOD_S),
}  # fmt: skip


class LanBench:
    """Two cards and the pool service; carries datagrams between them on a virtual clock."""

    def __init__(self, tmp_path):
        self.keys = {n: CardKey.load_or_create(tmp_path / n / "key.pem") for n in IPS}
        self.t0 = time.time()
        self.now = 100.0
        self.nodes = {n: self.node(tmp_path, n) for n in IPS}
        self.pool = PoolService(POOL_MAC, POOL_IP)
        self.wire: list[tuple[str, bytes]] = []  # (destination ip, IPv4 datagram)
        self.to_pool: list[Packet] = []

    def node(self, tmp_path, name: str) -> CardNode:
        other = "load" if name == "pv" else "pv"
        peer = Peer(other, IPS[other], MACS[other], self.keys[other].public_bytes)
        cfg = CardConfig(name=name, kind="pv" if name == "pv" else "load", mac=MACS[name],
                         state_dir=tmp_path / name, energy_ip=IPS[name], interface="lo",
                         vpp="vpp1", peers=(peer,), window_bee=200, time_scale=TIME_SCALE,
                         isp_ip=ISP_IP, behaviour=BEHAVIOURS[name])  # fmt: skip
        key = self.keys[name]
        return CardNode(cfg, key, open_ledger(cfg, key), IPS[name], lambda: self.t0 + self.now)

    def perform(self, name: str, actions: list) -> list:
        sent = []
        for action in actions:
            if type(action) is Transmit:
                sent.append(action)
                data = ipv4(IPS[name], action.dst_ip, action.dscp, action.data)
                self.wire.append((action.dst_ip, data))
            else:
                assert type(action) is Answer
        return sent

    def notice(self, name: str, period: int) -> list:
        """The ISP's static-limit notice for `period` to card `name`: the Transmits it answers with."""
        notice = StaticLimitNotice(period, 72, 1_000_000, 1_000_000)
        pkt = Packet(ISP_IP, IPS[name], EnergyIp(0, c.EIP_FLAG_ISP, ISP_MAC, 1, period), notice,
                     dscp=c.DSCP_ISP_CONTROL)  # fmt: skip
        data = ipv4(ISP_IP, IPS[name], c.DSCP_ISP_CONTROL, codec.encode_transport(pkt))
        node = self.nodes[name]
        sent = self.perform(name, node.on_datagram(data, self.now))
        return sent + self.perform(name, node.flush())

    def price(self, name: str, period: int, buy: int, sell: int, src: str = ISP_IP) -> list:
        """A price notice (R5.7) for card `name`, from `src` (the ISP unless told otherwise)."""
        pkt = Packet(src, IPS[name], EnergyIp(0, c.EIP_FLAG_ISP, ISP_MAC, 1, period),
                     PriceNotice(period, buy, sell), dscp=c.DSCP_ISP_CONTROL)  # fmt: skip
        data = ipv4(src, IPS[name], c.DSCP_ISP_CONTROL, codec.encode_transport(pkt))
        return self.perform(name, self.nodes[name].on_datagram(data, self.now))

    def run(self, until=lambda: False, max_steps: int = 50_000) -> None:
        by_ip = {ip: n for n, ip in IPS.items()}
        for _ in range(max_steps):
            if until():
                return
            if self.wire:
                dst, data = self.wire.pop(0)
                if dst == POOL_IP:
                    for pkt in self.pool.on_packet(codec.decode(data), self.now):
                        raw = codec.encode_transport(pkt)
                        self.wire.append((pkt.dst, ipv4(POOL_IP, pkt.dst, pkt.dscp, raw)))
                    continue
                name = by_ip[dst]
                node = self.nodes[name]
                self.perform(name, node.on_datagram(data, self.now))
                self.perform(name, node.flush())
                self.now += 0.0001
                continue
            deadlines = [d for d in (n.next_deadline() for n in self.nodes.values()) if d]
            if not deadlines:
                return
            self.now = max(self.now, min(deadlines))
            for name, node in self.nodes.items():
                self.perform(name, node.on_timer(self.now))
                self.perform(name, node.flush())

    def credited(self, name: str) -> int:
        rows = ledger_rows(self.nodes[name].config.ledger_path, "credit")
        return sum(q for _tid, _seq, q in rows)

    def close(self) -> None:
        for node in self.nodes.values():
            node.ledger.close()


@pytest.fixture
def lan(tmp_path):
    bench = LanBench(tmp_path)
    yield bench
    bench.close()


def expected_orders(name: str, node: CardNode, period: int) -> list[tuple]:
    """What a fresh behaviour of the same config decides for `period`, framed as the card frames it."""
    hosted = HostedAgent(BEHAVIOURS[name].build(), PERIOD_S, node.agent.hosted.epoch_s)
    view = hosted.view(hosted.epoch_s + period * PERIOD_S)
    return [(o.side, o.quantity, o.price_micro_per_kbee, o.start_s, o.end_s)
            for o in hosted.orders(view)]  # fmt: skip


def placed(node: CardNode) -> list[tuple]:
    side = {"send": 1, "ask": 2}
    return [(side[o["side"]], o["quantity"], o["price_micro_per_kbee"], o["start_s"], o["end_s"])
            for o in node.pool.orders.values()]  # fmt: skip


def test_a_notice_places_exactly_the_behaviours_orders_for_its_period_once(lan):
    pv, load = lan.nodes["pv"], lan.nodes["load"]
    assert pv.next_deadline() is None and pv.pool.orders == {}  # nothing before a period starts
    sent = lan.notice("pv", 8)
    assert [tx.dst_ip for tx in sent] == [POOL_IP]
    start_s = slot_start(lan.t0 + 100, PERIOD_S)  # the next 2 h boundary of the wall clock
    assert (
        placed(pv) == expected_orders("pv", pv, 8) == [(1, 1000, 300_000, start_s, start_s + 7200)]
    )
    assert pv.order_pacing == {next(iter(pv.pool.orders)): "frame"}
    # a duplicate (or an older) notice decides nothing again
    assert lan.notice("pv", 8) == [] and lan.notice("pv", 7) == []
    assert len(pv.pool.orders) == 1
    lan.notice("load", 8)
    assert placed(load) == expected_orders("load", load, 8) and len(placed(load)) == 1
    assert placed(load)[0][:3] == (2, 800, 600_000)
    status = pv.status()["agent"]
    assert status["clock"] == "isp" and status["last_period"] == 8
    assert status["behaviour"]["kind"] == "pv" and status["behaviour"]["last_period"] == 8
    assert [o["period"] for o in status["orders"]] == [8]


def test_a_fill_reaches_both_behaviours_and_the_sale_is_delivered_over_the_period(lan):
    pv, load = lan.nodes["pv"], lan.nodes["load"]
    lan.notice("pv", 8)
    lan.run()  # the sell order rests in the pool
    assert pv.status()["agent"]["orders"][0]["state"] == "resting"
    assert pv.status()["agent"]["behaviour"]["sold_wh"] == 0
    lan.notice("load", 8)
    start = lan.now
    lan.run(until=lambda: lan.credited("load") >= 800)
    assert lan.credited("load") == 800
    # paced over the period: 800 BEE over the 7200 emulated s of the frame, at x100: ~72 wall s
    assert 60 < lan.now - start < 80, lan.now - start
    sold, bought = pv.status()["agent"], load.status()["agent"]
    assert sold["fills"] == 1 and bought["fills"] == 1
    assert sold["behaviour"]["sold_wh"] == 800 and bought["behaviour"]["bought_wh"] == 800
    # matched at the resting ask, 0.30 CNY/kWh: within both bounds (>= 0.30 ask, <= 0.60 bid)
    assert sold["behaviour"]["money_cny"] == pytest.approx(0.24)
    assert bought["behaviour"]["money_cny"] == pytest.approx(-0.24)
    assert load.ledger.profile()["money_balance"] == pytest.approx(-0.24)
    lan.run()
    assert pv.ledger.verify().ok and load.ledger.verify().ok
    # the next period's notice places the next period's orders, framed on the next period
    lan.notice("pv", 9)
    frames = sorted((o["start_s"], o["end_s"]) for o in pv.pool.orders.values())
    assert frames[1][0] == frames[0][1]  # back to back, never overlapping


def test_without_notices_the_card_runs_its_own_periods(lan):
    pv = lan.nodes["pv"]
    assert lan.perform("pv", pv.on_timer(lan.now)) == []  # a grace period for the first notice
    grace_end = pv.next_deadline()
    assert grace_end == pytest.approx(lan.now + PERIOD_S / TIME_SCALE)
    lan.now = grace_end
    assert len(lan.perform("pv", pv.on_timer(lan.now))) == 1
    assert pv.status()["agent"]["clock"] == "own" and pv.status()["agent"]["last_period"] == 0
    assert pv.agent.next_deadline() == pytest.approx(grace_end + 72)  # (the pool retries sooner)
    pv.on_timer(lan.now + 1)  # still period 0 (only the pool's retransmission is due)
    assert len(pv.pool.orders) == 1


def test_a_card_without_a_behaviour_hosts_none(tmp_path):
    cfg = from_mapping({"name": "c", "kind": "load", "mac": "02:00:00:00:01:03",
                        "state_dir": str(tmp_path / "c")}, load_text("{}")[1])  # fmt: skip
    assert cfg.behaviour is None and cfg.pool == ""
    key = CardKey.load_or_create(tmp_path / "c" / "key.pem")
    node = CardNode(cfg, key, open_ledger(cfg, key), "10.1.0.3", time.time)
    assert node.agent is None and node.status()["agent"] is None
    assert node.default_pool() == "10.1.0.254"
    node.ledger.close()
    pooled = dataclasses.replace(cfg, pool="10.9.0.254")
    assert pooled.pool == "10.9.0.254"


CARD = "name: pv1\nkind: pv\nmac: '02:00:00:00:01:01'\n"


def config(text: str) -> CardConfig:
    data, where = load_text(CARD + text, "card.yaml")
    return from_mapping(data, where)


def test_what_did_not_trade_in_its_period_is_withdrawn_from_the_pool(lan):
    pv = lan.nodes["pv"]
    lan.notice("pv", 8)
    lan.run()
    first = next(iter(pv.pool.orders))
    assert pv.pool.orders[first]["state"] == "resting"
    lan.notice("pv", 9)  # no buyer came in period 8: its sell is cancelled, period 9's placed
    lan.run()
    assert pv.pool.orders[first]["state"] == "cancelled"
    assert sorted(o["state"] for o in pv.pool.orders.values()) == ["cancelled", "resting"]
    assert len(lan.pool.pool) == 1  # the pool holds period 9's order only
    assert pv.cancel_order(first, lan.now) == []  # over: nothing more to send


def test_the_isps_price_notice_is_the_behaviours_price_signal(lan):
    """R5.7: a price notice from the ISP sets the signal; the PV then asks the grid's sell price."""
    pv = lan.nodes["pv"]
    assert lan.price("pv", 8, 700_000, 650_000, src="10.1.0.12") == []  # not the ISP: ignored
    assert pv.status()["price"] is None and pv.agent.price_signal is None
    assert lan.price("pv", 8, 700_000, 650_000) == []
    assert pv.status()["price"]["sell_price_micro_per_kbee"] == 650_000
    assert pv.status()["event_counts"]["price"] == 1
    lan.notice("pv", 8)
    assert placed(pv)[0][:3] == (1, 1000, 650_000)  # its ask: max(marginal 0.30, sell 0.65)
    load = lan.nodes["load"]
    load.agent.config = dataclasses.replace(BEHAVIOURS["load"], isp_prices=False)
    lan.price("load", 8, 700_000, 650_000)
    assert load.agent.price_signal is None and load.status()["price"] is not None  # kept, not used


def test_cards_hearing_one_notice_ms_apart_frame_its_period_alike():
    t = 1_765_000_000.0
    assert slot_start(t + 0.999, 7200.0) == slot_start(t + 0.001, 7200.0) >= t
    assert slot_start(t, 7200.0) - t < 7200  # at most a period ahead: the whole frame to come
    assert slot_start(0.0001, 7200.0) == 7200 and slot_start(7200.0, 7200.0) == 7200


def test_a_behaviour_trades_only_its_periods(lan):
    """first_period..last_period bound what a card decides: a run of N periods ends on its own."""
    pv = lan.nodes["pv"]
    pv.agent.config = dataclasses.replace(BEHAVIOURS["pv"], first_period=8, last_period=9)
    assert lan.notice("pv", 7) == []  # before its first period: no order, no anchor
    assert [tx.dst_ip for tx in lan.notice("pv", 8)] == [POOL_IP]
    assert [tx.dst_ip for tx in lan.notice("pv", 9)] == [POOL_IP] * 2  # 8's cancelled, 9's placed
    assert [tx.dst_ip for tx in lan.notice("pv", 10)] == [POOL_IP]  # 9's cancelled, no new order
    assert len(pv.pool.orders) == 2
    assert lan.notice("pv", 11) == []
    assert pv.status()["agent"]["last_period"] == 9


def test_the_behaviour_and_pool_keys_of_a_card_yaml():
    cfg = config("pool: 10.1.0.254\nbehaviour: {kind: pv, period_s: 3600, forecast_kw: [1, 2]}\n")
    assert cfg.pool == "10.1.0.254"
    assert cfg.behaviour == BehaviourConfig("pv", {"forecast_kw": [1, 2]}, 3600.0)
    assert cfg.behaviour.build().status()["kind"] == "pv"
    assert config("behaviour: {kind: pv, forecast_kw: 1}\n").behaviour.period_s == 7200.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("behaviour: {kind: solar}\n", "card.yaml:4: behaviour.kind: unknown behaviour 'solar'"),
        ("behaviour: {forecast_kw: 1}\n", "card.yaml:4: behaviour: a behaviour needs a 'kind'"),
        ("behaviour: pv\n", "behaviour: expected a mapping"),
        ("behaviour: {kind: pv}\n", "forecast_kw"),
        ("behaviour: {kind: pv, forecast_kw: 1, sunny: true}\n", "sunny"),
        ("behaviour: {kind: pv, forecast_kw: -1}\n", "behaviour.forecast_kw"),
        ("behaviour: {kind: pv, forecast_kw: 1, period_s: 0}\n", "behaviour.period_s: 0 is out"),
        ("behaviour: {kind: pv, forecast_kw: 1, period_s: true}\n", "behaviour.period_s"),
        ("behaviour: {kind: pv, forecast_kw: 1, first_period: -1}\n", "behaviour.first_period"),
        ("behaviour: {kind: pv, forecast_kw: 1, isp_prices: 1}\n", "behaviour.isp_prices"),
        (
            "behaviour: {kind: pv, forecast_kw: 1, first_period: 5, last_period: 4}\n",
            "behaviour.last_period: 4 is out of range 5..",
        ),
        ("pool: 10.1.0\n", "pool: not an IPv4 address or a DNS label"),
        ("pool: Pool_1\n", "pool: not an IPv4 address or a DNS label"),
        ("isp: isp.energy\n", "isp: not a DNS label"),
        ("pool: 5\n", "pool"),
    ],
)
def test_behaviour_and_pool_errors_name_the_key(text, message):
    with pytest.raises(ConfigError) as err:
        config(text)
    assert message in str(err.value), str(err.value)


class ServiceDns:
    """Energy DNS as the card's resolver sees it: the ISP and vpp1's pool by name."""

    def __init__(self):
        self.asked: list[str] = []
        self.names = {"isp": "10.0.0.200", "pool-vpp1": POOL_IP}

    def resolve(self, name: str):
        from eip.dns.records import make_entry

        self.asked.append(name)
        if name not in self.names:
            raise EipError(f"unknown card {name}")
        return make_entry(name, self.names[name], ISP_MAC, "isp")

    def register(self, entry, sign) -> None:
        pass


def test_a_card_finds_the_isp_and_the_pool_by_name_in_energy_dns(tmp_path):
    bench = LanBench(tmp_path)
    old = bench.nodes["pv"]
    cfg = dataclasses.replace(old.config, isp="isp", pool="pool-vpp1")
    dns = ServiceDns()
    node = CardNode(cfg, old.key, old.ledger, IPS["pv"], old.wall, dns)
    node.announce()  # at start: the ISP's address by name
    assert node.isp_ip == "10.0.0.200" and node.status()["isp_ip"] == "10.0.0.200"
    assert node.default_pool() == POOL_IP and node.default_pool() == POOL_IP
    assert dns.asked == ["isp", "pool-vpp1"]  # the pool once, then remembered
    # ISP messages now count only from the address DNS gave: the configured one is ignored
    bench.nodes["pv"] = node
    bench.price("pv", 3, 500_000, 400_000)  # from ISP_IP, the config's
    assert node.price is None and node.stats["ignored"] == 1
    bench.price("pv", 3, 500_000, 400_000, src="10.0.0.200")
    assert node.price == PriceNotice(3, 500_000, 400_000)
    # a pool name DNS does not know is a clear error naming it
    lost = CardNode(dataclasses.replace(cfg, pool="pool-vpp9"), old.key, old.ledger, IPS["pv"],
                    old.wall, dns)  # fmt: skip
    with pytest.raises(EipError, match="the BEE pool 'pool-vpp9' not found in Energy DNS"):
        lost.default_pool()
    nodns = CardNode(cfg, old.key, old.ledger, IPS["pv"], old.wall)
    nodns.announce()  # no DNS: the configured ISP address stays, said in the log
    assert nodns.isp_ip == ISP_IP
    with pytest.raises(EipError, match="a name needs Energy DNS"):
        nodns.default_pool()
