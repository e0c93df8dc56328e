"""Malformed Energy packets: tshark never shows a Lua error and flags each one with an expert info."""

import random
import struct
import xml.etree.ElementTree as ET

import pytest
from frames import fix_checksums, write_pcap
from tshark_helpers import pdml_packets, requires_tshark, sample_frames

pytestmark = [pytest.mark.tshark, requires_tshark]

ETH, IP_LEN = 14, 20
EIP = ETH + IP_LEN  # offset of the Energy-IP header in a frame
TRANSPORT = EIP + 24

BROKEN = {"energyip.truncated", "energyip.malformed", "energyip.unknown", "energyip.bad_checksum"}
MALFORMED_GROUP = 0x07000000
CHECKSUM_GROUP = 0x01000000


def _set(frame: bytes, offset: int, fmt: str, value: int) -> bytes:
    buf = bytearray(frame)
    struct.pack_into(fmt, buf, offset, value)
    return bytes(buf)


def _is_tcp(frame: bytes) -> bool:
    return frame[EIP + 3] == 6


def _cases() -> list[tuple[str, bytes, int | None, set[str] | None]]:
    """(label, frame, original length or None, expert names of which one must appear or None)."""
    base = sample_frames()
    cases = []
    for n, frame in enumerate(base):
        # Datagrams cut at every length, IPv4 length and checksum fixed: a short Energy payload.
        for cut in range(EIP + 1, len(frame)):
            cases.append(
                (f"frame {n} cut to {cut}", fix_checksums(frame[:cut], energy=False), None, BROKEN)
            )
        # Cut without fixing the IPv4 header, and cut by the capture's snap length.
        for cut in range(EIP + 1, len(frame), 7):
            cases.append((f"frame {n} raw cut {cut}", frame[:cut], None, None))
            cases.append((f"frame {n} snaplen {cut}", frame[:cut], len(frame), None))
        # Corrupted checksums and a corrupted byte under a checksum.
        bad = {"energyip.bad_checksum"}
        cases.append(
            (f"frame {n} bad eip checksum", _set(frame, EIP + 10, "!H", 0x1234), None, bad)
        )
        ck = TRANSPORT + (14 if _is_tcp(frame) else 2)
        cases.append(
            (f"frame {n} bad transport checksum", _set(frame, ck, "!H", 0x1234), None, bad)
        )
        last = bytearray(frame)
        last[-1] ^= 0x5A
        cases.append((f"frame {n} flipped last byte", bytes(last), None, bad))
        # Unknown or bad header values, checksums fixed.
        fixed = {
            "version 2": (EIP, "!B", 0x26, {"energyip.unknown"}),
            "hlen 5": (EIP, "!B", 0x15, {"energyip.malformed"}),
            "hlen 15": (EIP, "!B", 0x1F, None),  # options area or too long: flagged below
            "next header 9": (EIP + 3, "!B", 9, {"energyip.unknown"}),
        }
        if _is_tcp(frame):
            fixed.update(
                {
                    "data offset 5": (TRANSPORT + 12, "!B", 0x50, {"energyip.malformed"}),
                    "data offset 15": (TRANSPORT + 12, "!B", 0xF0, None),
                }
            )
            if len(frame) > TRANSPORT + 24 and (frame[TRANSPORT + 12] >> 4) == 6:
                rec = TRANSPORT + 24
                fixed.update(
                    {
                        "record kind 9": (rec, "!B", 9, {"energyip.unknown"}),
                        "record length 40": (rec + 2, "!H", 40, {"energyip.malformed"}),
                        "record length 0": (rec + 2, "!H", 0, {"energyip.malformed"}),
                    }
                )
            if (frame[TRANSPORT + 12] >> 4) > 6:
                opt = TRANSPORT + 24
                fixed.update(
                    {
                        "option length 1": (opt + 1, "!B", 1, {"energyip.malformed"}),
                        "option length 250": (opt + 1, "!B", 250, {"energyip.malformed"}),
                        "option length 18": (opt + 1, "!B", 18, {"energyip.malformed"}),
                        "option kind 9": (opt, "!B", 9, {"energyip.undecoded"}),
                    }
                )
        else:
            fixed.update(
                {
                    "control type 7": (TRANSPORT, "!B", 7, {"energyip.unknown"}),
                    "control code 9": (TRANSPORT + 1, "!B", 9, {"energyip.unknown"}),
                }
            )
        last = len(frame) - 76  # a SIG or RCPT ending the segment (section 7.4)
        if _is_tcp(frame) and last >= TRANSPORT + 24 and frame[last + 2 : last + 4] == b"\x00\x4c":
            end = struct.unpack_from("!I", frame, last + 8)[0]
            violation = {"energyip.violation"}
            fixed.update(
                {
                    "SIG/RCPT kind swapped": (last, "!B", 9 - frame[last], violation),
                    "SIG/RCPT end moved": (last + 8, "!I", (end + 1) % 2**32, violation),
                    "SIG/RCPT start after end": (last + 4, "!I", (end + 5) % 2**32, violation),
                }
            )
        for label, (off, fmt, value, expect) in fixed.items():
            edited = fix_checksums(_set(frame, off, fmt, value))
            cases.append((f"frame {n} {label}", edited, None, expect or BROKEN))
        # Extra bytes: a partial record after the last one, or a longer static-limit body.
        cases.append(
            (
                f"frame {n} 10 extra bytes",
                fix_checksums(frame + bytes(10)),
                None,
                BROKEN | {"energyip.violation"},
            )
        )
    # Random mutations of 1 to 6 bytes after the IPv4 header, with and without fixed checksums.
    rng = random.Random(253)
    for i in range(400):
        frame = bytearray(rng.choice(base))
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(EIP, len(frame))
            frame[pos] = rng.randrange(256)
        data = bytes(frame)
        if i % 2:
            data = fix_checksums(data)
        cut = rng.randrange(EIP + 1, len(data) + 1)
        cases.append((f"random {i}", data[:cut] if i % 3 == 0 else data, None, None))
    return cases


def _experts(pkt: ET.Element) -> tuple[set[str], set[int]]:
    names, groups = set(), set()
    for exp in pkt.iter("field"):
        if exp.get("name") != "_ws.expert":
            continue
        for child in exp:
            name = child.get("name", "")
            if name == "_ws.expert.group":
                groups.add(int(child.get("show"), 0))
            elif not name.startswith("_ws.expert"):
                names.add(name)
    return names, groups


def test_malformed_packets_are_flagged_without_lua_errors(tmp_path):
    cases = _cases()
    path = tmp_path / "malformed.pcap"
    write_pcap(path, [c[1] for c in cases], [c[2] for c in cases])
    packets, proc = pdml_packets(path)
    assert "Lua Error" not in proc.stdout and "Lua Error" not in proc.stderr
    assert "internal error" not in proc.stdout
    assert len(packets) == len(cases)
    flagged = 0
    for (label, _, _, expect), pkt in zip(cases, packets, strict=True):
        names, groups = _experts(pkt)
        assert "energyip.internal_error" not in names, label
        if expect is None:
            continue
        assert names & expect, (
            f"{label}: expert infos {sorted(names)}, want one of {sorted(expect)}"
        )
        if names & BROKEN:
            assert groups & {MALFORMED_GROUP, CHECKSUM_GROUP}, label
        flagged += 1
    assert flagged > 1000


def test_valid_sample_has_no_error_expert(sample_pcap):
    path, _ = sample_pcap
    packets, proc = pdml_packets(path)
    assert "Lua Error" not in proc.stdout + proc.stderr
    for i, pkt in enumerate(packets):
        names, groups = _experts(pkt)
        assert not names & (BROKEN | {"energyip.internal_error", "energyip.violation"}), (
            i + 1,
            names,
        )
        assert not groups & {MALFORMED_GROUP, CHECKSUM_GROUP}, (i + 1, groups)
