"""Mutation fuzzers of the Energy Internet receive paths, seeded from the sample exchange.

Three targets take the same mutated IPv4 datagrams (eip/reliability/mutate.py):

- `codec`: `eip.protocol.codec.decode`. Accepted: a `Packet` (which must then re-encode and decode to
  the same packet, or fail to encode with `EncodeError`), or `DecodeError`. Anything else is a finding.
- `layers`: the Scapy layers, `scapy_decode(data)` = `IP(data)` + `convert.from_scapy`. Accepted: a
  `Packet` or `DecodeError`. Scapy's dissector itself turns what it cannot parse into `Raw` (with
  `conf.debug_dissector` off, its default); an exception escaping `IP(data)` or `from_scapy` is a
  finding.
- `card`: a real `CardNode` through its public methods, without sockets (eip/reliability/fuzz_card.py).

Every run records packets, outcomes, the slowest packet (µs) and the process RSS before and after.
"""

import random
import time
from pathlib import Path

from eip.errors import DecodeError, EncodeError
from eip.proc import rss_kib
from eip.protocol import codec
from eip.reliability.fuzz_card import fuzz_card, offline_card
from eip.reliability.mutate import (
    FuzzResult,
    Mutator,
    record_finding,
    repair,
    seed_datagrams,
)

__all__ = [
    "FuzzResult", "Mutator", "fuzz_card", "fuzz_codec", "fuzz_layers", "fuzzed_frames",
    "offline_card", "repair", "rss_kib", "scapy_decode", "seed_datagrams", "tshark_fuzz",
]  # fmt: skip


# ---------------------------------------------------------------------------------------- codec


def fuzz_codec(n: int, seed: int = 1, seeds: list[bytes] | None = None) -> FuzzResult:
    """Decode `n` mutated datagrams; accepted ones must survive encode -> decode unchanged."""
    mut = Mutator(seeds or seed_datagrams(), seed)
    res = FuzzResult("codec", rss_before_kib=rss_kib())
    decode, encode, clock = codec.decode, codec.encode, time.perf_counter
    start = clock()
    for _ in range(n):
        _op, data = mut.next()
        t0 = clock()
        try:
            pkt = decode(data)
        except DecodeError:
            res.outcomes["DecodeError"] += 1
        except Exception as exc:
            record_finding(res, exc, data)
        else:
            res.outcomes["packet"] += 1
            try:
                again = decode(encode(pkt))
                if again != pkt:
                    record_finding(res, AssertionError("decode(encode(p)) != p"), data)
            except EncodeError:
                res.outcomes["packet_not_reencodable"] += 1
            except Exception as exc:
                record_finding(res, exc, data)
        dt = clock() - t0
        if dt > res.max_us:
            res.max_us = dt
        res.packets += 1
    res.seconds = clock() - start
    res.max_us *= 1e6
    res.rss_after_kib = rss_kib()
    return res


# --------------------------------------------------------------------------------------- layers


def scapy_decode(data: bytes):
    """The Scapy path: dissect with the eip layers, then convert; raises DecodeError on bad input.

    Scapy's own IPv4 layer raises `struct.error` on fewer than 20 bytes (its fixed fields cannot be
    read); that, and any other exception raised while dissecting outside eip's layers, is Scapy's
    rejection of garbage and becomes `DecodeError("ipv4", 0, ...)`. An exception raised in eip's own
    layers (`eip/protocol/layers/`) or in `from_scapy` is not converted: it is a bug.
    """
    from scapy.layers.inet import IP as ScapyIP

    import eip.protocol.layers  # noqa: F401 - binds the layers
    from eip.protocol.layers.convert import from_scapy

    try:
        dissected = ScapyIP(data)
    except Exception as exc:
        if _raised_in_eip(exc):
            raise
        raise DecodeError("ipv4", 0, f"Scapy cannot dissect: {type(exc).__name__}: {exc}") from exc
    return from_scapy(dissected)


def _raised_in_eip(exc: BaseException) -> bool:
    import traceback

    return any("eip/protocol/layers" in f.filename for f in traceback.extract_tb(exc.__traceback__))


def fuzz_layers(n: int, seed: int = 2, seeds: list[bytes] | None = None) -> FuzzResult:
    """Dissect `n` mutated datagrams with Scapy + from_scapy; compare with the codec when it accepts."""
    scapy_decode(seed_datagrams()[0])  # import and bind outside the timing
    mut = Mutator(seeds or seed_datagrams(), seed)
    res = FuzzResult("layers", rss_before_kib=rss_kib())
    clock = time.perf_counter
    disagree = 0
    start = clock()
    for _ in range(n):
        _op, data = mut.next()
        t0 = clock()
        try:
            pkt = scapy_decode(data)
        except DecodeError:
            res.outcomes["DecodeError"] += 1
        except Exception as exc:
            record_finding(res, exc, data)
        else:
            res.outcomes["packet"] += 1
            try:
                fast = codec.decode(data)
            except DecodeError:
                fast = None  # the codec checks rules (checksums, ranges) the layers do not
            if fast is not None and fast != pkt:
                disagree += 1
        dt = clock() - t0
        if dt > res.max_us:
            res.max_us = dt
        res.packets += 1
    res.seconds = clock() - start
    res.max_us *= 1e6
    res.rss_after_kib = rss_kib()
    res.extra["codec_accepted_but_layers_differ"] = disagree
    return res


# --------------------------------------------------------------------------------------- tshark


def fuzzed_frames(n: int, seed: int = 4) -> list[bytes]:
    """`n` mutated Ethernet frames (the sample exchange's Ethernet headers on mutated datagrams)."""
    from eip.sample import sample_frames

    frames = [f for f in sample_frames() if f[12:14] == b"\x08\x00"]
    mut = Mutator([f[14:] for f in frames], seed)
    rng = random.Random(seed)
    return [rng.choice(frames)[:14] + mut.next()[1] for _ in range(n)]


def tshark_fuzz(workdir: Path, n_frames: int = 3000, copies: int = 20, seed: int = 4) -> dict:
    """tshark + eip.lua on (a) `editcap -E 0.02` corruptions of the sample pcap and (b) fuzzed frames.

    Returns per capture the exit code, frames and whether "Lua Error" appeared; `ok` if all passed.
    """
    import shutil
    import subprocess

    from eip.sample import sample_frames, write_pcap

    tshark, editcap = shutil.which("tshark"), shutil.which("editcap")
    if tshark is None or editcap is None:
        return {"ok": None, "skipped": "tshark/editcap not installed"}
    lua = Path(__file__).resolve().parents[1] / "wireshark" / "eip.lua"
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    sample = workdir / "sample.pcap"
    write_pcap(sample, sample_frames() * copies)
    edited = workdir / "editcap.pcap"
    subprocess.run([editcap, "-E", "0.02", "-S", "0", sample, edited], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    mutated = workdir / "mutated.pcap"
    write_pcap(mutated, fuzzed_frames(n_frames, seed))
    out: dict = {"captures": {}}
    ok = True
    for label, path, frames in (("editcap_E_0.02", edited, len(sample_frames()) * copies),
                                ("mutated", mutated, n_frames)):  # fmt: skip
        proc = subprocess.run([tshark, "-n", "-X", f"lua_script:{lua}", "-r", str(path), "-V"],
                              capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
        lua_errors = (proc.stdout + proc.stderr).count("Lua Error")
        passed = proc.returncode == 0 and lua_errors == 0
        ok = ok and passed
        out["captures"][label] = {"frames": frames, "returncode": proc.returncode,
                                  "lua_errors": lua_errors, "ok": passed,
                                  "stderr": proc.stderr[-500:]}  # fmt: skip
    out["ok"] = ok
    out["frames"] = sum(c["frames"] for c in out["captures"].values())
    return out
