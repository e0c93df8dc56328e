"""Conformance, section 7: BEE, pool order and pool fill records; SIG and RCPT delivery records."""

import hashlib
import struct

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eip.errors import DecodeError, EncodeError
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.describe import bee_attributes
from eip.protocol.messages import classify, seq_units
from eip.protocol.model import (
    Bee,
    PoolFill,
    PoolOrder,
    Receipt,
    RejectOption,
    Signature,
    UnknownOption,
)
from eip.protocol.signing import delivery_message, receipt_message, records_digest
from tests.conformance.helpers import REC, TCP, bee, data_packet, fix_checksums, wire


def _error(buf) -> DecodeError:
    with pytest.raises(DecodeError) as err:
        codec.decode(bytes(fix_checksums(buf)))
    return err.value


def test_r7_1_record_kind_and_length():
    buf = wire(data_packet())
    assert (buf[REC], int.from_bytes(buf[REC + 2 : REC + 4], "big")) == (1, 48)
    bad = bytearray(buf)
    bad[REC] = 9
    assert _error(bad).offset == REC
    bad = bytearray(buf)
    bad[REC + 2 : REC + 4] = (44).to_bytes(2, "big")
    assert _error(bad).field.endswith("length")


def test_r7_2_bee_type_1_to_6():
    buf = wire(data_packet(bee(bee_type=1)))
    for bad_type in (0, 7):
        bad = bytearray(buf)
        bad[REC + 4] = bad_type
        bad[21] = 0  # energy type none, so only the record is wrong
        err = _error(bad)
        assert err.field == "bee[0].bee_type" and err.offset == REC + 4


def test_r7_3_green_ratio_at_most_10000():
    assert codec.decode(codec.encode(data_packet(bee(green_ratio_bp=10000)))).payload.records[0]
    with pytest.raises(EncodeError, match="green"):
        codec.encode(data_packet(bee(green_ratio_bp=10001)))
    buf = wire(data_packet())
    buf[REC + 6 : REC + 8] = (10001).to_bytes(2, "big")
    assert _error(buf).field == "bee[0].green_ratio_bp"


def test_r7_4_quantity_at_least_one():
    with pytest.raises(EncodeError, match="quantity"):
        codec.encode(data_packet(bee(quantity=0)))
    buf = wire(data_packet())
    buf[REC + 32 : REC + 36] = bytes(4)
    assert _error(buf).field == "bee[0].quantity"
    assert c.BEE_UNITS == {1: "Wh", 2: "Wh", 3: "Wh", 4: "Wh", 5: "g", 6: "W"}


def test_r7_5_tbd_segments_ignored():
    elec = bee(attr1=7, attr5=-1)  # TBD for electricity
    got = codec.decode(codec.encode(data_packet(elec))).payload.records[0]
    assert got == elec  # not rejected
    assert bee_attributes(got) == {}  # and given no meaning
    heat = bee(bee_type=c.BEE_HEAT, attr1=1, attr2=8000, attr3=100, attr4=5)
    assert bee_attributes(heat) == {"media": 1, "temperature": 8000, "mass_flow": 100}
    assert bee_attributes(bee(bee_type=c.BEE_FLEXIBILITY, attr1=20000)) == {"ramp": 20000}


def test_r7_6_bee_time_frame():
    with pytest.raises(EncodeError):
        codec.encode(data_packet(bee(start_s=10, end_s=5)))
    buf = wire(data_packet())
    buf[REC + 40 : REC + 44] = (0xFFFFFFFF).to_bytes(4, "big")
    assert _error(buf).field == "bee[0].end_s"


def test_r7_7_store_flag_and_reserved_flags():
    stored = bee(flags=c.BEE_FLAG_STORE)
    assert codec.decode(codec.encode(data_packet(stored))).payload.records[0].flags == 1
    buf = wire(data_packet(stored))
    buf[REC + 1] |= 0x80
    assert codec.decode(bytes(fix_checksums(buf))).payload.records[0].flags == c.BEE_FLAG_STORE


def test_r7_8_order_and_fill_values():
    order = PoolOrder(0, 17, 2, 1, 1, 800, 450_000, 0, 10, 5000)
    fill = PoolFill(0, 17, "02:00:00:00:01:01", 2, "10.1.0.11", 500, 420_000, 0, 10)
    pkt = data_packet(order, fill)
    assert codec.decode(codec.encode(pkt)) == pkt
    for bad in (
        order._replace(side=3),
        order._replace(action=0),
        order._replace(quantity=0),
        order._replace(min_green_ratio_bp=10001),
    ):
        with pytest.raises(EncodeError):
            codec.encode(data_packet(bad))
    buf = wire(data_packet(order))
    buf[REC + 8] = 3  # side
    assert _error(buf).field.startswith("order[0]")
    buf = wire(data_packet(fill))
    buf[REC + 14] = 9  # status
    assert _error(buf).field.startswith("fill[0]")


# ------------------------------------------------------------------ 7.4 delivery records, SIG, RCPT

PV_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"conformance-pv").digest())
LOAD_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"conformance-load").digest())
PV_MAC, LOAD_MAC, ISN = "02:00:00:00:01:01", "02:00:00:00:02:01", 5000


def _delivery(bees, start=5001, key=PV_KEY) -> tuple[bytes, Signature]:
    end = start + sum(b.quantity for b in bees)
    msg = delivery_message(PV_MAC, LOAD_MAC, 10, 49152, ISN, start, end, records_digest(bees))
    return msg, Signature(0, start, end, key.sign(msg))


def _verifies(key, signature: bytes, message: bytes) -> bool:
    try:
        key.public_key().verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _received_delivery(pkt) -> tuple[tuple, Signature, bytes]:
    """What a receiver rebuilds from a decoded data segment: its BEEs, its SIG, the signed message."""
    seg = pkt.payload
    bees = tuple(r for r in seg.records if isinstance(r, Bee))
    sig = seg.records[-1]
    digest = records_digest(bees)
    msg = delivery_message(PV_MAC, LOAD_MAC, seg.sport, seg.dport, ISN, *sig[1:3], digest)
    return bees, sig, msg


def test_r7_9_sig_last_record_closing_the_segment_range():
    bees = (bee(quantity=300), bee(quantity=200))
    msg, sig = _delivery(bees)
    assert len(msg) == 68 and msg[:8] == c.DELIVERY_TAG
    pkt = data_packet(*bees, sig)
    buf = wire(pkt)
    assert len(buf) == REC + 2 * 48 + 76
    s = REC + 96
    assert buf[s : s + 4] == bytes.fromhex("0400004c")  # kind 4, flags 0, length 76
    assert buf[s + 4 : s + 12] == struct.pack("!II", 5001, 5501) and buf[s + 12 :] == sig.signature
    assert codec.decode(bytes(buf)) == pkt
    assert seq_units(pkt.payload) == 500  # a SIG occupies no sequence numbers (R6.4)
    # A SIG may open earlier (a range over several segments), never after the segment's seq.
    assert codec.decode(codec.encode(data_packet(*bees, sig._replace(start_seq=1)))).payload
    for bad, field in (
        (data_packet(bees[0], sig, bees[1]), "sig[1]"),  # not last
        (data_packet(*bees, sig._replace(end_seq=5500)), "sig[2].end_seq"),
        (data_packet(*bees, sig._replace(start_seq=5002)), "sig[2].start_seq"),
        (data_packet(*bees, sig._replace(start_seq=5501 - 2**31)), "sig[2].start_seq"),
        (data_packet(sig._replace(start_seq=5001, end_seq=5001), energy_type=0), "sig[0]"),
        (data_packet(*bees, sig._replace(signature=bytes(63))), "sig[2].signature"),
    ):
        with pytest.raises(EncodeError) as info:
            codec.encode(bad)
        assert info.value.field == field
    bad = bytearray(buf)
    bad[s + 8 : s + 12] = struct.pack("!I", 5502)
    err = _error(bad)
    assert (err.field, err.offset) == ("sig[2].end_seq", s + 8)
    bad = bytearray(buf)
    bad[s + 2 : s + 4] = struct.pack("!H", 72)
    assert _error(bad).field == "sig[2].length"
    # The SIG moved in front of the last BEE: not last.
    moved = bytearray(buf[:REC]) + buf[REC : REC + 48] + buf[s:] + buf[REC + 48 : s]
    err = _error(moved)
    assert (err.field, err.offset) == ("sig[1]", REC + 48)
    # 27 BEE records and a SIG fit in 1500 bytes with 36 bytes of options.
    opts = (RejectOption(),) * 4 + (UnknownOption(9, b"12"),)  # 36 bytes of options
    many = tuple(bee(quantity=10) for _ in range(27))
    assert len(codec.encode(data_packet(*many, _delivery(many)[1], options=opts))) == 1476
    many += (bee(quantity=10),)
    with pytest.raises(EncodeError, match="1500"):
        codec.encode(data_packet(*many, _delivery(many)[1], options=opts))
    assert len(codec.encode(data_packet(*many, _delivery(many)[1]))) == 1488


def test_r7_10_rcpt_only_on_acknowledgments():
    msg, sig = _delivery((bee(),))
    receipt = receipt_message(msg, sig.signature)
    assert len(receipt) == 132 and receipt[:8] == c.RECEIPT_TAG and receipt[8:68] == msg[8:]
    rcpt = Receipt(0, 5001, 5501, LOAD_KEY.sign(receipt))
    ack = data_packet(rcpt, energy_type=0, sport=49152, dport=10, seq=1001, ack=5501)
    buf = wire(ack)
    assert buf[REC : REC + 4] == bytes.fromhex("0500004c") and len(buf) == REC + 76
    assert codec.decode(bytes(buf)) == ack
    assert classify(ack.payload) == "ack" and seq_units(ack.payload) == 0
    two = ack._replace(payload=ack.payload._replace(records=(rcpt._replace(end_seq=5001), rcpt)))
    assert codec.decode(codec.encode(two)) == two
    for bad, field in (
        (data_packet(bee(), rcpt), "rcpt[1]"),  # with a BEE
        (ack._replace(payload=ack.payload._replace(flags=c.ETCP_PSH)), "rcpt[0]"),  # no ACK
        (ack._replace(payload=ack.payload._replace(ack=5500)), "rcpt[0].end_seq"),
        (ack._replace(payload=ack.payload._replace(records=(rcpt._replace(start_seq=5502),))),
         "rcpt[0].start_seq"),
    ):  # fmt: skip
        with pytest.raises(EncodeError) as info:
            codec.encode(bad)
        assert info.value.field == field
    bad = bytearray(buf)
    bad[TCP + 8 : TCP + 12] = struct.pack("!I", 5000)  # acknowledges less than the receipt's range
    err = _error(bad)
    assert (err.field, err.offset) == ("rcpt[0].end_seq", REC + 8)
    mixed = wire(data_packet(bee(), sig._replace(start_seq=5001, end_seq=5501)))
    mixed[REC + 48] = c.REC_RCPT  # the SIG becomes a RCPT next to a BEE
    err = _error(mixed)
    assert (err.field, err.offset) == ("rcpt[1]", REC + 48)


def test_r7_11_receiver_credits_only_verified_ranges():
    bees = (bee(quantity=300), bee(quantity=200))
    _, sig = _delivery(bees)
    wire_ok = wire(data_packet(*bees, sig))
    got, rsig, msg = _received_delivery(codec.decode(bytes(wire_ok)))
    assert got == bees and _verifies(PV_KEY, rsig.signature, msg)  # may credit [5001, 5501)
    # An altered BEE (valid packet, checksums fixed) changes the digest: the SIG does not verify.
    bad = bytearray(wire_ok)
    bad[REC + 32 : REC + 36] = struct.pack("!I", 301)
    bad[REC + 96 + 8 : REC + 96 + 12] = struct.pack("!I", 5502)  # keep R7.9 so it decodes
    got, rsig, msg = _received_delivery(codec.decode(bytes(fix_checksums(bad))))
    assert got[0].quantity == 301 and not _verifies(PV_KEY, rsig.signature, msg)
    # A SIG made with another key (a forged sender) does not verify with the sender's public key.
    _, forged = _delivery(bees, key=LOAD_KEY)
    got, rsig, msg = _received_delivery(codec.decode(codec.encode(data_packet(*bees, forged))))
    assert not _verifies(PV_KEY, rsig.signature, msg)
    # The message binds the transfer: another ISN or port gives another message.
    digest = records_digest(bees)
    assert msg != delivery_message(PV_MAC, LOAD_MAC, 10, 49152, ISN + 1, 5001, 5501, digest)
    assert msg != delivery_message(PV_MAC, LOAD_MAC, 11, 49152, ISN, 5001, 5501, digest)


def test_r7_12_sender_counts_only_receipted_ranges():
    bees = (bee(quantity=500),)
    msg, sig = _delivery(bees)
    good = Receipt(0, 5001, 5501, LOAD_KEY.sign(receipt_message(msg, sig.signature)))
    ack = data_packet(good, energy_type=0, sport=49152, dport=10, seq=1001, ack=5501)
    rcpt = codec.decode(codec.encode(ack)).payload.records[0]
    assert (rcpt.start_seq, rcpt.end_seq) == (sig.start_seq, sig.end_seq)
    assert _verifies(LOAD_KEY, rcpt.signature, receipt_message(msg, sig.signature))
    # Signed by someone else, or for another range, or over another SIG: not a receipt of this range.
    forged = PV_KEY.sign(receipt_message(msg, sig.signature))
    assert not _verifies(LOAD_KEY, forged, receipt_message(msg, sig.signature))
    other_msg, other_sig = _delivery(bees, start=5501)
    assert not _verifies(LOAD_KEY, rcpt.signature, receipt_message(other_msg, other_sig.signature))
    assert not _verifies(LOAD_KEY, rcpt.signature, receipt_message(msg, bytes(64)))


def _sample_deliveries():
    """(sig, rcpt, delivery message, sender key, receiver key) of each signed range in the sample."""
    from eip.protocol.model import EnergyTcp
    from eip.sample import LOAD, PV, STORAGE, sample_exchange, sample_key

    keys = {PV[0]: sample_key("pv"), LOAD[0]: sample_key("load"), STORAGE[0]: sample_key("storage")}
    isn, sigs, out = {}, {}, []
    for src, dst, pkt in sample_exchange():
        seg = pkt.payload
        if not isinstance(seg, EnergyTcp):
            continue
        if seg.flags & c.ETCP_SYN:
            isn[(src, seg.sport, dst, seg.dport)] = seg.seq
        last = seg.records[-1] if seg.records else None
        if isinstance(last, Signature):
            bees = [r for r in seg.records if isinstance(r, Bee)]
            key = (src, seg.sport, dst, seg.dport)
            msg = delivery_message(
                *key[::2], *key[1::2], isn[key], *last[1:3], records_digest(bees)
            )
            sigs[(dst, seg.dport, src, seg.sport, last.start_seq, last.end_seq)] = (last, msg, src)
        for r in seg.records:
            if isinstance(r, Receipt):
                sig, msg, sender = sigs.pop(
                    (src, seg.sport, dst, seg.dport, r.start_seq, r.end_seq)
                )
                out.append((sig, r, msg, keys[sender], keys[src]))
    assert not sigs, "every signed range of the sample is receipted"
    return out


def test_sample_sigs_and_rcpts_verify():
    deliveries = _sample_deliveries()
    assert len(deliveries) == 3
    for sig, rcpt, msg, sender_key, receiver_key in deliveries:
        assert _verifies(sender_key, sig.signature, msg)  # R7.11: the receiver may credit
        assert _verifies(receiver_key, rcpt.signature, receipt_message(msg, sig.signature))  # R7.12
        assert not _verifies(receiver_key, sig.signature, msg)
