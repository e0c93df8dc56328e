"""Faults injected into a running `Emulation`, and the books check that follows each one.

Faults (each returns what it did, for the report):

- `kill_card` / `restart_card`: SIGKILL a card daemon (no clean-up, mid-transfer), then start it again
  from the same state directory and YAML config, as `EnergyNetwork` does; the card resumes its open
  transfers from its ledger.
- `kill_controller` / `restart_controller`: SIGKILL the controller (switches are fail-secure: they keep
  the flows and meters they have), then start it again with the same command line. On reconnect the
  controller wipes and reinstalls each switch's flows and meters (`switch_up`).
- `link_down` / `link_up`: a VPP router's WAN link down and up (`EnergyNetwork.island/rejoin`).
- `detach_switch` / `attach_switch`: `ovs-vsctl del-controller` / `set-controller` on one bridge: OVS
  loses its controller connection while its datapath keeps running (the OVS-side counterpart of a
  controller crash). Stopping ovs-vswitchd itself is not done: with the userspace datapath it takes the
  Mininet ports down with it.

`books(emu)` reads every card's ledger: every (transfer, seq, quantity) debited by a sender must be
credited by its receiver and the other way round (BEEs with the energy server, which keeps no ledger
file, are excluded), no (transfer, seq) may be booked twice, and `Ledger.verify()` must pass.
"""

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from eip.card.harness import wait_for
from eip.card.ledger import Ledger
from eip.sdn.sden_service import SERVER_MAC


def ofctl_counts(switch: str) -> dict:
    """Flows and meters installed on a switch (ovs-ofctl -O OpenFlow13)."""
    out = {}
    for what in ("dump-flows", "dump-meters"):
        done = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", what, switch],
                              capture_output=True, text=True, timeout=20, check=False)  # fmt: skip
        lines = done.stdout.splitlines()[1:]
        key = "flows" if what == "dump-flows" else "meters"
        out[key] = sum(1 for ln in lines if ("meter=" in ln if key == "meters" else ln.strip()))
    return out


def all_ofctl_counts(emu) -> dict:
    return {s.name: ofctl_counts(s.name) for s in emu.plan.switches}


# ------------------------------------------------------------------------------------------- cards


def kill_card(emu, name: str) -> dict:
    host = emu.net.host(name)
    pid = host.card_proc.pid
    os.kill(pid, signal.SIGKILL)
    host.card_proc.wait(10)
    return {"fault": "kill -9 card", "card": name, "pid": pid}


def restart_card(emu, name: str, timeout_s: float = 30.0) -> dict:
    host = emu.net.host(name)
    state = emu.net.card_dir(name)
    host.start_card(state, config=state / "card.yaml", extra_args=emu.net.card_args)
    emu.net.wait_cards([name], timeout_s)
    return {"fault": "restart card", "card": name, "pid": host.card_proc.pid}


# -------------------------------------------------------------------------------------- controller


def kill_controller(emu) -> dict:
    pid = emu.controller.pid
    emu.controller.send_signal(signal.SIGKILL)
    emu.controller.wait(10)
    return {"fault": "kill -9 controller", "pid": pid}


def restart_controller(emu, timeout_s: float = 60.0) -> dict:
    """Start the controller again with its command line; wait until every switch is configured."""
    args = emu.controller.args
    log = open(emu.state_root / "controller.log", "ab")  # noqa: SIM115 - kept by the process
    emu.status_path.unlink(missing_ok=True)
    t0 = time.monotonic()
    emu.controller = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    emu.wait_listening()
    emu.wait_switches(timeout_s)
    return {"fault": "restart controller", "pid": emu.controller.pid,
            "resync_s": round(time.monotonic() - t0, 2)}  # fmt: skip


# ---------------------------------------------------------------------------------- links, switches


def link_down(emu, vpp: str) -> dict:
    emu.net.island(vpp)
    return {"fault": "WAN link down", "vpp": vpp}


def link_up(emu, vpp: str) -> dict:
    emu.net.rejoin(vpp)
    return {"fault": "WAN link up", "vpp": vpp}


def detach_switch(emu, switch: str) -> dict:
    subprocess.run(["ovs-vsctl", "del-controller", switch], check=True, timeout=20)
    return {"fault": "ovs del-controller", "switch": switch}


def attach_switch(emu, switch: str) -> dict:
    target = f"tcp:127.0.0.1:{emu.port}"
    subprocess.run(["ovs-vsctl", "set-controller", switch, target], check=True, timeout=20)
    return {"fault": "ovs set-controller", "switch": switch}


# ------------------------------------------------------------------------------------------- books


def _rows(path: Path) -> tuple[list, list]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        debits = db.execute("SELECT transfer_id, seq, quantity FROM bees WHERE direction='debit'")
        debits = debits.fetchall()
        credits = db.execute("SELECT transfer_id, seq, quantity FROM bees WHERE direction='credit'")
        credits = credits.fetchall()
    finally:
        db.close()
    return debits, credits


def books(emu, names=None) -> dict:
    """Cross-check every card's ledger; `ok` when nothing is lost, duplicated or unverifiable."""
    names = names or [c.name for c in emu.plan.cards]
    debits, credits, bad = {}, {}, []
    dup = 0
    server = SERVER_MAC.lower()
    for name in names:
        path = emu.net.card_dir(name) / "ledger.sqlite"
        if not path.exists():
            continue
        d, c = _rows(path)
        for rows, into in ((d, debits), (c, credits)):
            for tid, seq, q in rows:
                if tid.lower().startswith(server):  # the energy server keeps no ledger file
                    continue
                if (tid, seq) in into:
                    dup += 1
                into[(tid, seq)] = q
        ledger = Ledger.open(path)
        try:
            verdict = ledger.verify()
        finally:
            ledger.close()
        if not verdict.ok:
            bad.append(f"{name}: {verdict.reason}")
    lost = [k for k in debits if k not in credits]  # paid for, never received
    phantom = [k for k in credits if k not in debits]  # received, never debited (yet)
    mismatch = [k for k in debits if k in credits and debits[k] != credits[k]]
    transfers = {tid for tid, _s in debits} | {tid for tid, _s in credits}
    return {
        "ok": not lost and not phantom and not mismatch and not dup and not bad,
        "transfers": len(transfers),
        "bee_debited": sum(debits.values()),
        "bee_credited": sum(credits.values()),
        "lost_bee": sum(debits[k] for k in lost),
        "unacknowledged_bee": sum(credits[k] for k in phantom),
        "mismatched": len(mismatch),
        "duplicates": dup,
        "ledgers_bad": bad,
    }


def settled_books(emu, timeout_s: float = 30.0, names=None) -> dict:
    """`books` once every credit is also debited (the last receipts may still be in flight)."""
    last = {}

    def check():
        nonlocal last
        last = books(emu, names)
        return last if last["ok"] else None

    try:
        return wait_for(check, timeout_s, "the books to settle", poll_s=0.5)
    except Exception:
        return last


def credited(emu, name: str, transfer_id: str | None = None) -> int:
    """BEE credited in a card's ledger (to one transfer when `transfer_id` is given)."""
    try:
        _d, c = _rows(emu.net.card_dir(name) / "ledger.sqlite")
    except sqlite3.Error:
        return 0
    return sum(q for t, _s, q in c if transfer_id is None or t == transfer_id)


# ------------------------------------------------------------------------------------ the suite


def _progress(emu, receiver: str, seconds: float, tid: str) -> int:
    """BEE credited to `receiver` for transfer `tid` during `seconds`."""
    before = credited(emu, receiver, tid)
    time.sleep(seconds)
    return credited(emu, receiver, tid) - before


def card_crash(emu, sender: str, receiver: str, victim: str, total: int = 30_000) -> dict:
    """kill -9 `victim` (sender or receiver) mid-transfer, restart it; the transfer completes."""
    tid = emu.net.card(sender).call("offer", to=receiver, quantity=total)["transfer_id"]
    wait_for(lambda: credited(emu, receiver, tid) >= total // 10, 60, "the first credits")
    report = {"transfer": tid, **kill_card(emu, victim)}
    report["credited_at_kill"] = credited(emu, receiver, tid)
    time.sleep(0.5)
    restart_card(emu, victim)
    result = emu.net.card(sender).call("wait", transfer_id=tid, timeout=120)
    report.update(
        result=result["reason"], delivered=result.get("delivered"), books=settled_books(emu)
    )
    return report


def controller_crash(emu, sender: str, receiver: str, total: int = 30_000) -> dict:
    """kill -9 the controller mid-transfer: forwarding goes on; on restart flows/meters resync."""
    before = all_ofctl_counts(emu)
    tid = emu.net.card(sender).call("offer", to=receiver, quantity=total)["transfer_id"]
    wait_for(lambda: credited(emu, receiver, tid) >= total // 10, 60, "the first credits")
    report = kill_controller(emu)
    report["bee_while_down"] = _progress(emu, receiver, 3.0, tid)
    down = all_ofctl_counts(emu)
    report.update(restart_controller(emu))
    after = all_ofctl_counts(emu)
    result = emu.net.card(sender).call("wait", transfer_id=tid, timeout=120)
    report.update(flows_before=before, flows_while_down=down, flows_after=after,
                  resynced=before == after, kept_while_down=before == down,
                  result=result["reason"], delivered=result.get("delivered"),
                  books=settled_books(emu))  # fmt: skip
    return report


def wan_flap(emu, sender: str, receiver: str, vpp: str, total: int = 20_000,
             down_s: float = 2.0) -> dict:  # fmt: skip
    """The receiver's VPP loses its WAN link mid-transfer and gets it back."""
    tid = emu.net.card(sender).call("offer", to=receiver, quantity=total)["transfer_id"]
    wait_for(lambda: credited(emu, receiver, tid) >= total // 10, 60, "the first credits")
    report = link_down(emu, vpp)
    report["bee_while_down"] = _progress(emu, receiver, down_s, tid)
    link_up(emu, vpp)
    result = emu.net.card(sender).call("wait", transfer_id=tid, timeout=120)
    report.update(result=result["reason"], delivered=result.get("delivered"),
                  books=settled_books(emu))  # fmt: skip
    return report


DETACH_GRACE_S = 0.5  # OVS flushes a detached bridge's flows asynchronously; deliveries then drain


def switch_detach(emu, sender: str, receiver: str, switches=("s1", "wan"),
                  total: int = 20_000) -> dict:  # fmt: skip
    """OVS loses its controller (del-controller) mid-transfer, then gets it back (set-controller)."""
    before = all_ofctl_counts(emu)
    tid = emu.net.card(sender).call("offer", to=receiver, quantity=total)["transfer_id"]
    wait_for(lambda: credited(emu, receiver, tid) >= total // 10, 60, "the first credits")
    for sw in switches:
        detach_switch(emu, sw)
    report = {"fault": "ovs del-controller/set-controller", "switches": list(switches)}
    # what was already on the wire or being verified at the detach is credited first, then 2 s
    time.sleep(DETACH_GRACE_S)
    report["bee_while_detached"] = _progress(emu, receiver, 2.0, tid)
    report["credited_when_detached_end"] = credited(emu, receiver, tid)
    report["flows_while_detached"] = all_ofctl_counts(emu)
    for sw in switches:
        attach_switch(emu, sw)
    time.sleep(1.0)
    emu.wait_switches(60)
    wait_for(lambda: all_ofctl_counts(emu) == before, 30, "the flows to be reinstalled", 0.5)
    result = emu.net.card(sender).call("wait", transfer_id=tid, timeout=120)
    report.update(resynced=all_ofctl_counts(emu) == before, result=result["reason"],
                  delivered=result.get("delivered"), books=settled_books(emu))  # fmt: skip
    return report
