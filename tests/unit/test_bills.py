"""The ISP's service-fee bills in a card's ledger (eip/card/bills.py, R5.8) and the card booking them."""

import sqlite3

import pytest

from eip.card.ledger import Ledger, LedgerError
from eip.cli.main import main
from eip.etcp.keys import CardKey
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.model import EnergyIp, FeeNotice, Packet
from tests.unit.test_card_agent import IPS, ISP_IP, ISP_MAC, LanBench
from tests.unit.test_card_node import ipv4

MAC = "02:00:00:00:01:01"
KEY = CardKey.from_private_bytes(bytes([1]) * 32)
OTHER = CardKey.from_private_bytes(bytes([3]) * 32)


def ledger(tmp_path) -> Ledger:
    return Ledger.create(tmp_path / "card.db", "pv", "pv", MAC, KEY.public_bytes)


def test_a_bill_is_booked_once_per_isp_and_period_and_counts_in_the_money(tmp_path):
    led = ledger(tmp_path)
    before = led.profile()
    assert before["money_fees"] == 0 and before["fees"] == {
        "bills": 0,
        "usage_bee": 0,
        "by_period": {},
    }
    assert led.bill(ISP_IP, 8, 1200, 3800, 10.0, KEY.sign) is True
    assert led.bill(ISP_IP, 8, 9999, 9999, 11.0, KEY.sign) is False  # a repeat changes nothing
    assert led.bill("10.9.0.254", 8, 100, 1000, 12.0, KEY.sign) is True  # another ISP's period 8
    assert led.bill(ISP_IP, 9, 0, 5000, 13.0, KEY.sign) is True
    p = led.profile()
    assert {k: p["fees"][k] for k in ("bills", "usage_bee")} == {"bills": 3, "usage_bee": 1300}
    assert p["fees"]["by_period"] == {"8": pytest.approx((1200 * 3800 + 100 * 1000) / 1e9), "9": 0}
    assert p["money_fees"] == pytest.approx((1200 * 3800 + 100 * 1000) / 1e9)
    assert p["money_net"] == pytest.approx(p["money_balance"] - p["money_fees"])
    assert led.verify().ok


def test_bad_bill_fields_are_refused_and_write_nothing(tmp_path):
    led = ledger(tmp_path)
    for args, what in (((ISP_IP, -1, 1, 1), "period"), ((ISP_IP, 1, 2**32, 1), "usage_bee"),
                       ((ISP_IP, 1, 1, 0.5), "rate"), (("isp", 1, 1, 1), "IPv4")):  # fmt: skip
        with pytest.raises(LedgerError, match=what):
            led.bill(*args, 1.0, KEY.sign)
    assert led.profile()["fees"]["bills"] == 0


@pytest.mark.parametrize(
    "tamper, reason",
    [
        ("UPDATE bills SET usage_bee = 1 WHERE bill_no = 2", "bill #2: hash does not match"),
        ("DELETE FROM bills WHERE bill_no = 1", "bill #2: bill numbers jump"),
        ("UPDATE bills SET prev_hash = zeroblob(32) WHERE bill_no = 2", "bill #2: broken chain"),
    ],
)
def test_verify_finds_an_altered_or_deleted_bill(tmp_path, tamper, reason):
    led = ledger(tmp_path)
    for period in (1, 2, 3):
        led.bill(ISP_IP, period, 100 * period, 3800, float(period), KEY.sign)
    assert led.verify().ok
    db = sqlite3.connect(tmp_path / "card.db")
    db.execute(tamper)
    db.commit()
    db.close()
    result = led.verify()
    assert not result.ok and result.reason.startswith(reason), result


def test_a_bill_signed_by_another_key_does_not_verify_and_the_cli_names_it(tmp_path, capsys):
    led = ledger(tmp_path)
    led.bill(ISP_IP, 1, 100, 3800, 1.0, OTHER.sign)
    assert led.verify().reason == "bill #1: bad card signature on the bill"
    led.close()
    assert main(["ledger", "verify", str(tmp_path / "card.db")]) == 1
    assert capsys.readouterr().out == "bad bill #1: bad card signature on the bill\n"


def fee(bench: LanBench, name: str, bill: FeeNotice, src: str = ISP_IP, flags=c.EIP_FLAG_ISP):
    pkt = Packet(src, IPS[name], EnergyIp(0, flags, ISP_MAC, 1, bill.period), bill,
                 dscp=c.DSCP_ISP_CONTROL)  # fmt: skip
    data = ipv4(src, IPS[name], c.DSCP_ISP_CONTROL, codec.encode_transport(pkt))
    return bench.nodes[name].on_datagram(data, bench.now)


def test_the_card_books_its_isps_bills_once_and_ignores_anyone_elses(tmp_path):
    bench = LanBench(tmp_path)
    node = bench.nodes["pv"]
    assert fee(bench, "pv", FeeNotice(8, 1200, 3800)) == []
    fee(bench, "pv", FeeNotice(8, 1200, 3800))  # the same bill again (a retransmission, a replay)
    fee(bench, "pv", FeeNotice(9, 50, 3800), src=IPS["load"])  # a card posing as the ISP
    fee(bench, "pv", FeeNotice(9, 50, 3800), flags=0)  # from the ISP's address without its flag
    assert node.event_counts.get("fee") == 1 and node.event_counts.get("fee-repeated") == 1
    assert node.stats["ignored"] == 2
    profile = node.ledger.profile()
    assert profile["fees"]["bills"] == 1 and profile["fees"]["usage_bee"] == 1200
    assert profile["money_fees"] == pytest.approx(1200 * 3800 / 1e9)
    assert node.ledger.verify().ok


def test_the_isp_bills_only_the_cards_that_moved_bee_at_their_share():
    from types import MappingProxyType

    from eip.isp.fees import Fees, fee_bills

    by_card = {"a": 0.003, "b": 0.001, "c": 0.002, "d": 0.0}
    fees = Fees(9, MappingProxyType(by_card), 0.006, 0.006, 0.0, 0.0, 1.0, 1.0, 0.1, 0.1)
    bills = fee_bills(fees, {"a": 0.75, "b": 0.25, "c": 0.0, "d": 1.0})  # kWh metered
    # 750 BEE owing 0.003 -> 4000 micro per 1000 BEE; c moved nothing, d owes nothing: no bill
    assert bills == {"a": (750, 4000), "b": (250, 4000)}
    for mac, (usage, rate) in bills.items():
        assert FeeNotice(9, usage, rate).fee_micro / 1e6 == pytest.approx(by_card[mac])
