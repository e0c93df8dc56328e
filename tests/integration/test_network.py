"""The four-node example comes up in Mininet + OVS (userspace, standalone L2, no controller), its cards
trade across two VPP routers, islanding a VPP cuts it off the WAN but not its own LAN, and every run
leaves nothing behind. On a failure the switches' flows and meters are printed.
"""

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from eip.card.harness import ledger_rows
from eip.net.build import EnergyNetwork, check_environment
from topologies import FourNodeTopo

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MN = Path(sys.executable).with_name("mn")


@pytest.fixture(scope="module")
def env_ok():
    check_environment()


@contextmanager
def flows_on_failure(net):
    try:
        yield
    except BaseException:
        print(net.dump_flows())
        raise


def books_agree(net, sender, receiver):
    debits = ledger_rows(net.card_dir(sender) / "ledger.sqlite", "debit")
    sent = {t for t, _s, _q in debits}  # the receiver may hold credits from other senders
    credits = {r for r in ledger_rows(net.card_dir(receiver) / "ledger.sqlite", "credit")
               if r[0] in sent}  # fmt: skip
    return debits == credits, sum(q for _t, _s, q in credits)


def leftovers(net, pids) -> list[str]:
    found = []
    bridges = subprocess.run(
        ["ovs-vsctl", "list-br"], capture_output=True, text=True
    ).stdout.split()
    found += [f"bridge {b}" for b in bridges if b in {s.name for s in net.plan.switches}]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    prefixes = [f"{s.name}-eth" for s in net.plan.switches] + [
        f"{r.name}-" for r in net.plan.routers
    ]
    found += [f"link {p}" for p in prefixes if f": {p}" in links]
    for pid in pids:
        try:
            os.kill(pid, 0)
            found.append(f"process {pid}")
        except ProcessLookupError:
            pass
    return found


def test_four_node_trades_across_routers_islands_and_cleans_up(env_ok, tmp_path):
    with EnergyNetwork(FourNodeTopo(), controller=None, state_root=tmp_path) as net, \
            flows_on_failure(net):  # fmt: skip
        assert (tmp_path / "plan.json").exists()
        for card in net.plan.cards:
            status = net.card(card.name).call("status")
            assert (status["mac"], status["energy_ip"], status["vpp"]) == (
                card.mac,
                card.ip,
                card.vpp,
            )
        # vpp2 -> vpp3: card, r2, WAN, r3, card
        result = net.card("urban-load").call("transfer", to="rural-load", quantity=2000, timeout=60)
        assert result["reason"] == "done", result
        assert books_agree(net, "urban-load", "rural-load") == (True, 2000)

        net.island("vpp3")
        cut = net.card("pv").call("transfer", to="wind", quantity=500, timeout=90)
        assert cut["reason"] != "done", cut
        inside = net.card("wind").call("transfer", to="rural-load", quantity=300, timeout=60)
        assert inside["reason"] == "done", inside
        assert books_agree(net, "wind", "rural-load") == (True, 300)

        net.rejoin("vpp3")
        back = net.card("pv").call("transfer", to="wind", quantity=500, timeout=60)
        assert back["reason"] == "done", back
        agree, _total = books_agree(net, "pv", "wind")
        assert agree
        pids = [net.host(n).pid for n in net.net.nameToNode if hasattr(net.host(n), "pid")]
        pids += [net.host(c.name).card_proc.pid for c in net.plan.cards]
        pids = [p for p in pids if p]
    assert not leftovers(net, pids)


def test_cleanup_after_an_exception(env_ok, tmp_path):
    net = EnergyNetwork(FourNodeTopo(), controller=None, state_root=tmp_path, start_cards=False)
    with pytest.raises(RuntimeError), net:
        pids = [net.host(n).pid for n in ("r1", "pv", "storage")]
        raise RuntimeError("boom")
    assert not leftovers(net, pids)


def test_mn_custom_runs_the_four_node_file(env_ok):
    done = subprocess.run(
        [str(MN), "--custom", str(ROOT / "topologies/four_node.py"), "--topo", "four_node",
         "--switch", "ovs,datapath=user", "--controller", "none", "--test", "none"],
        capture_output=True, text=True, timeout=120, start_new_session=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "four_node" not in subprocess.run(["ovs-vsctl", "list-br"], capture_output=True,
                                             text=True).stdout  # fmt: skip


def test_interrupt_during_bring_up_cleans_up(env_ok, tmp_path):
    # Ctrl-C 0.3 s into a bring-up that takes over a second: nothing may stay behind.
    code = (
        "import os, signal, sys, threading\n"
        "from topologies import FourNodeTopo\n"
        "from eip.net.build import EnergyNetwork\n"
        "net = EnergyNetwork(FourNodeTopo(), controller=None, state_root=sys.argv[1])\n"
        "threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()\n"
        "try:\n"
        "    net.start()\n"
        "except KeyboardInterrupt:\n"
        "    sys.exit(3)\n"
        "net.stop()\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    bridges = subprocess.run(
        ["ovs-vsctl", "list-br"], capture_output=True, text=True
    ).stdout.split()
    assert not set(bridges) & {"s1", "s2", "s3", "s4", "wan"}, bridges
    cards = subprocess.run(["pgrep", "-f", f"state-dir {tmp_path}|{tmp_path}/.*card.yaml"],
                           capture_output=True, text=True).stdout  # fmt: skip
    assert not cards.strip(), cards
