"""The eip command line: every subcommand works, and bad input gives one clear line, never a traceback."""

import json
import subprocess
import sys

import pytest

from eip.cli.main import main
from eip.pcap import write_pcap
from eip.sample import sample_exchange


def run_eip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eip.cli.main", *args], capture_output=True, text=True, timeout=120
    )


def test_help_lists_the_subcommands():
    out = run_eip("--help").stdout
    for name in ("demo", "sample-pcap", "decode", "wireshark", "bench"):
        assert name in out


def test_sample_pcap_then_decode_shows_every_message_kind(tmp_path):
    pcap = tmp_path / "s.pcap"
    assert main(["sample-pcap", str(pcap)]) == 0
    done = run_eip("decode", str(pcap))
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert len(lines) == len(sample_exchange())
    text = done.stdout
    for kind in (
        "static-limit",
        " price period=5 buy=0.556 sell=0.540 /kWh",
        " request ",
        " accept ",
        " reject ",
        " data ",
        " ack ",
        "window-update",
        "emergency-request",
        " close ",
        "limit-exceeded",
        "unreachable",
        "schedule",
    ):
        assert kind in text, kind
    verbose = run_eip("decode", "-v", str(pcap)).stdout
    assert "record[4] Bee:" in verbose and "price_micro_per_kbee=420000" in verbose


def test_decode_reports_malformed_packets_and_skips_other_traffic(tmp_path):
    from eip.protocol import codec

    frames = [codec.encode_frame(p, s, d) for s, d, p in sample_exchange()]
    bad = bytearray(next(f for f in frames if f[14 + 20 + 3] == 6))  # the first Energy-TCP segment
    bad[-1] ^= 0xFF  # breaks the Energy-TCP checksum
    udp = bytes(12) + b"\x08\x00" + bytes([0x45]) + bytes(8) + bytes([17]) + bytes(10)
    pcap = tmp_path / "mixed.pcap"
    write_pcap(pcap, [frames[0], udp, bytes(bad)])
    done = run_eip("decode", str(pcap))
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert "malformed: energy_tcp.checksum at byte" in lines[1]


@pytest.mark.parametrize("content", [None, b"not a capture", b"\xd4\xc3\xb2\xa1" + bytes(10)])
def test_decode_bad_file_is_one_clear_error(tmp_path, content):
    path = tmp_path / "x.pcap"
    if content is not None:
        path.write_bytes(content)
    done = run_eip("decode", str(path))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("eip decode: error:") and str(path) in done.stderr


def test_bench_codec_json_reports_rates_and_goals():
    done = run_eip("bench", "codec", "--seconds", "0.05", "--json")
    result = json.loads(done.stdout)
    assert result["benchmark"] == "codec"
    for key in ("scapy_build_pps", "scapy_dissect_pps", "fast_encode_pps", "fast_decode_pps"):
        assert result[key] > 0
    assert set(result["goals"]) == {"encode_vs_scapy_build", "decode_vs_scapy_dissect"}
    assert done.returncode in (0, 3)  # 3 only when a goal is missed on a loaded machine


def test_demo_writes_pcap_and_prints_the_exchange(tmp_path):
    done = run_eip("demo", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sample.pcap").stat().st_size > 1000
    assert "static-limit" in done.stdout and "window-update" in done.stdout
