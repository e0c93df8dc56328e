"""Hostile participants inside a running `Emulation`: each attack is a small script run in a host.

- `spoof`: frames with another card's MAC (spoofed MAC) or another card's IP (spoofed IP) from a card's
  port, and from a host that is no registered card: dropped by the firewall, counted per port.
- `replay`: a real transfer's segments captured on the sender's port, replayed later from that port:
  the receiver books nothing new (its counters say why: reset, ignored or duplicate).
- `forged`: a card's port sends a whole transfer signed with a key that is not the card's: the receiver
  books nothing (`forged` in its connection stats, no credit).
- `window_flood`: a card ignoring its window floods BEE segments: policed to its quota by the meters.
- `server_flood`: raw SYN requests to the energy server 10.0.0.253 as fast as the host can send.

`honest_transfer` times a transfer between two honest cards, with and without attacks running.
"""

import json
import subprocess
import sys
import time

from eip.card.harness import wait_for

SPOOF = r"""
import socket, sys
from eip.protocol import codec
from eip.protocol.model import Bee, EnergyIp, EnergyTcp, Packet
iface, src_mac, dst_mac, src_ip, dst_ip, n = sys.argv[1:6] + [int(sys.argv[6])]
pkt = Packet(src_ip, dst_ip, EnergyIp(1, 0, src_mac, 0, 0),
             EnergyTcp(49998, 10, 1, 1, 0x10, 1000, records=(Bee(bee_type=1, quantity=10),)))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
for _ in range(n):
    s.send(codec.encode_frame(pkt, src_mac, dst_mac))
print(n, flush=True)
"""

FLOOD = r"""
import socket, sys, time
from eip.protocol import codec
from eip.protocol.model import Bee, EnergyIp, EnergyTcp, Packet
src, dst, mac, pps, seconds, quantum = sys.argv[1:4] + [float(v) for v in sys.argv[4:7]]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
sent, seq, end = 0, 1000, time.monotonic() + seconds
while time.monotonic() < end:
    pkt = Packet(src, dst, EnergyIp(1, 0, mac, 0, 0), EnergyTcp(49999, 10, seq, 1, 0x10, 10**6,
                 records=(Bee(bee_type=1, quantity=int(quantum)),)))
    try:
        s.sendto(codec.encode_transport(pkt), (dst, 0))
    except OSError:
        pass
    sent, seq = sent + 1, seq + int(quantum)
    time.sleep(1 / pps)
print(sent, flush=True)
"""

SYN_FLOOD = r"""
import random, socket, sys, time
from eip.protocol import codec
from eip.protocol.model import EnergyIp, EnergyTcp, Packet, RequestOption
src, dst, mac, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
sent, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    opt = RequestOption(100, 0, 0, 0, 1, 1)
    pkt = Packet(src, dst, EnergyIp(0, 0, mac, 0, 0),
                 EnergyTcp(random.randint(49152, 65535), 1, random.getrandbits(32), 0, 0x02, 1000,
                           options=(opt,)))
    try:
        s.sendto(codec.encode_transport(pkt), (dst, 0))
        sent += 1
    except OSError:
        time.sleep(0.001)
print(sent, flush=True)
"""

CAPTURE = r"""
import json, socket, sys, time
iface, seconds = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((iface, 0))
s.settimeout(0.2)
print("ready", flush=True)
got, end = [], time.monotonic() + seconds
while time.monotonic() < end:
    try:
        frame, addr = s.recvfrom(65535)
    except TimeoutError:
        continue
    if addr[2] == socket.PACKET_OUTGOING and len(frame) > 34 and frame[23] == 253:
        got.append(frame.hex())
print(json.dumps(got), flush=True)
"""

REPLAY = r"""
import json, socket, sys, time
iface, path, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
frames = [bytes.fromhex(h) for h in json.load(open(path))]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
n = 0
for _ in range(rounds):
    for f in frames:
        s.send(f); n += 1
    time.sleep(0.05)
print(n, flush=True)
"""

FORGED = r"""
import random, select, socket, sys, time
from eip.etcp.connection import Connection
from eip.etcp.keys import CardKey
from eip.etcp.model import Endpoint, Send
from eip.protocol import codec
from eip.protocol.messages import segment_dscp
from eip.protocol.model import Bee, EnergyIp, Packet
my_ip, my_mac, peer_ip, peer_mac, peer_key, qty = sys.argv[1:6] + [int(sys.argv[6])]
forger = CardKey.generate()  # not the key the receiver knows for my_mac
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
s.bind((my_ip, 0))
now = time.monotonic()
tmpl = Bee(0, 1, 0, 0, quantity=1, price_micro_per_kbee=1, start_s=int(time.time()),
           end_s=int(time.time()))
conn, effects = Connection.open_offer(now, Endpoint(my_mac, my_ip, random.randint(49152, 65535)),
    Endpoint(peer_mac, peer_ip, 10), tmpl, qty, 10, random.getrandbits(32), forger.sign,
    bytes.fromhex(peer_key), 100000)
sent = 0
end = now + 8
while time.monotonic() < end and conn.state != "CLOSED":
    for e in effects:
        if type(e) is Send:
            seg = e.seg
            types = {r.bee_type for r in seg.records if type(r) is Bee}
            etype = types.pop() if len(types) == 1 else 0
            pkt = Packet(my_ip, peer_ip, EnergyIp(etype, 0, my_mac, 0, 0), seg)
            # the kernel writes the IPv4 header: marked as a card marks it (R3.3), else R3.6 drops it
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, segment_dscp(seg, 8) << 2)
            s.sendto(codec.encode_transport(pkt), (peer_ip, 0)); sent += 1
    effects = []
    r, _, _ = select.select([s], [], [], 0.05)
    now = time.monotonic()
    if r:
        data = s.recv(65535)
        try:
            p = codec.decode(data)
        except Exception:
            continue
        if p.src == peer_ip and type(p.payload).__name__ == "EnergyTcp":
            effects = conn.on_segment(now, p.payload, p.src)
    elif conn.next_deadline is not None and conn.next_deadline <= now:
        effects = conn.on_timer(now)
print(sent, conn.state, flush=True)
"""


def run_in(emu, host: str, script: str, *args, timeout: float = 120) -> str:
    proc = emu.net.host(host).popen([sys.executable, "-c", script, *map(str, args)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{host}: script failed: {err.decode()[-800:]}")
    return out.decode()


def start_in(emu, host: str, script: str, *args) -> subprocess.Popen:
    return emu.net.host(host).popen([sys.executable, "-c", script, *map(str, args)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def firewall_drops(status: dict) -> dict:
    """Dropped protocol-253 packets per switch port (spoofed + unregistered), from the status."""
    out = {}
    for sw_name, sw in status.get("switches", {}).items():
        for kind in ("dropped_spoofed", "dropped_unregistered"):
            for port, n in sw.get(kind, {}).items():
                out[f"{sw_name}:{port}"] = out.get(f"{sw_name}:{port}", 0) + n
    return out


def card_of(emu, name: str):
    return next(c for c in emu.plan.cards if c.name == name)


def honest_transfer(emu, sender: str, receiver: str, quantity: int = 20_000) -> dict:
    t0 = time.perf_counter()
    result = emu.net.card(sender, timeout=180).call("transfer", to=receiver, quantity=quantity,
                                                    timeout=180)  # fmt: skip
    return {"seconds": round(time.perf_counter() - t0, 3), "reason": result["reason"],
            "delivered": result.get("delivered")}  # fmt: skip


def spoof(emu, attacker: str, victim: str, target: str, n: int = 50) -> dict:
    """Spoofed MAC then spoofed IP from `attacker`'s port, aimed at `target`."""
    a, v, t = card_of(emu, attacker), card_of(emu, victim), card_of(emu, target)
    router_mac = next(r.lan.mac for r in emu.plan.routers if r.vpp == a.vpp)
    before = sum(firewall_drops(emu.status()).values())
    run_in(emu, attacker, SPOOF, f"{attacker}-eth0", v.mac, router_mac, a.ip, t.ip, n)  # MAC
    run_in(emu, attacker, SPOOF, f"{attacker}-eth0", a.mac, router_mac, v.ip, t.ip, n)  # IP
    status = wait_for(lambda: (s := emu.status()) and
                      sum(firewall_drops(s).values()) - before >= 2 * n and s, 20,
                      "the firewall counters")  # fmt: skip
    return {"attack": "spoofed MAC and IP", "sent": 2 * n,
            "dropped": sum(firewall_drops(status).values()) - before}  # fmt: skip


def window_flood(emu, attacker: str, target: str, seconds: float = 6.0, pps: int = 400) -> dict:
    a, t = card_of(emu, attacker), card_of(emu, target)
    q = emu.limits["quantum_bee"]
    out = start_in(emu, attacker, FLOOD, a.ip, t.ip, a.mac, pps, seconds, q)
    return {"attack": "window flood", "proc": out}


def server_flood(emu, attacker: str, seconds: float = 6.0) -> dict:
    from eip.sdn.sden_service import SERVER_IP

    a = card_of(emu, attacker)
    return {"attack": "SYN flood at the energy server",
            "proc": start_in(emu, attacker, SYN_FLOOD, a.ip, SERVER_IP, a.mac, seconds)}  # fmt: skip


def finish(attack: dict) -> dict:
    proc = attack.pop("proc")
    out, err = proc.communicate(timeout=120)
    attack["sent"] = int(out.decode().split()[0]) if out.strip() else 0
    attack["returncode"] = proc.returncode
    if proc.returncode:
        attack["stderr"] = err.decode()[-500:]
    return attack


def replay(emu, sender: str, receiver: str, quantity: int = 3000) -> dict:
    """Capture a real transfer's segments on the sender's port; replay them after it closed."""
    from eip.reliability.faults import credited

    cap = start_in(emu, sender, CAPTURE, f"{sender}-eth0", 6)
    assert cap.stdout.readline().strip() == b"ready"
    result = emu.net.card(sender).call("transfer", to=receiver, quantity=quantity, timeout=60)
    out, _ = cap.communicate(timeout=60)
    frames = json.loads(out.decode().splitlines()[-1])
    path = emu.state_root / "replay.json"
    path.write_text(json.dumps(frames))
    before_credit = credited(emu, receiver)
    before = emu.net.card(receiver).call("status")["counters"]
    sent = int(run_in(emu, sender, REPLAY, f"{sender}-eth0", path, 3).split()[0])
    time.sleep(1.0)
    after = emu.net.card(receiver).call("status")["counters"]
    return {"attack": "replayed segments", "transfer": result["reason"], "captured": len(frames),
            "sent": sent, "credited_extra_bee": credited(emu, receiver) - before_credit,
            "receiver_counters_delta": {k: after[k] - before[k] for k in after}}  # fmt: skip


def forged(emu, attacker: str, target: str, quantity: int = 500) -> dict:
    """The attacker's port sends a transfer signed with a key that is not the attacker card's."""
    from eip.etcp.keys import CardKey
    from eip.reliability.faults import credited

    a, t = card_of(emu, attacker), card_of(emu, target)
    key = CardKey.load_or_create(emu.net.card_dir(target) / "key.pem").public_hex
    host = emu.net.host(attacker)
    host.stop_card()  # the real card would reset the forger's connection
    try:
        before = credited(emu, target)
        out = run_in(emu, attacker, FORGED, a.ip, a.mac, t.ip, t.mac, key, quantity, timeout=60)
        time.sleep(0.5)
        credit = credited(emu, target) - before
        stats = emu.net.card(target).call("status")
        events = emu.net.card(target).call("events")["events"]
    finally:
        state = emu.net.card_dir(attacker)
        host.start_card(state, config=state / "card.yaml", extra_args=emu.net.card_args)
        emu.net.wait_cards([attacker], 30)
    return {"attack": "forged signatures", "segments_sent": int(out.split()[0]),
            "forger_state": out.split()[1], "credited_bee": credit,
            "receiver_forged_events": sum(1 for e in events if e["kind"] == "forged"),
            "receiver_resets": sum(1 for e in events if e["kind"] == "reset"),
            "receiver_counters": stats["counters"]}  # fmt: skip


SNIFF = r"""
import json, socket, sys, time
iface, src_ip, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((iface, 0))
s.settimeout(0.2)
print("ready", flush=True)
got, end = [], time.monotonic() + seconds
while time.monotonic() < end:
    try:
        frame, addr = s.recvfrom(65535)
    except TimeoutError:
        continue
    if addr[2] == socket.PACKET_OUTGOING or len(frame) < 34 or frame[23] != 253:
        continue
    if socket.inet_ntoa(frame[26:30]) == src_ip:
        got.append(time.monotonic())
print(json.dumps(got), flush=True)
"""


def policed_flood(emu, attacker: str, target: str, quota_bee: int, seconds: float = 9.0,
                  pps: int = 200) -> dict:  # fmt: skip
    """A card ignoring its window: BEE reaching the target per period against the quota."""
    a, t = card_of(emu, attacker), card_of(emu, target)
    q, period_s = emu.limits["quantum_bee"], emu.limits["period_s"]
    sniffer = start_in(emu, target, SNIFF, f"{target}-eth0", a.ip, seconds + 2)
    assert sniffer.stdout.readline().strip() == b"ready"
    sent = int(run_in(emu, attacker, FLOOD, a.ip, t.ip, a.mac, pps, seconds, q).split()[0])
    out, _ = sniffer.communicate(timeout=60)
    per: dict[int, int] = {}
    for ts in json.loads(out.decode().splitlines()[-1]):
        per[int(ts // period_s)] = per.get(int(ts // period_s), 0) + q
    worst = max(per.values(), default=0)
    return {"attack": "window ignored (flood)", "sent_bee": sent * q, "quota_bee": quota_bee,
            "max_bee_per_period": worst,
            "overshoot_segments": max(0, (worst - quota_bee + q - 1) // q)}  # fmt: skip
