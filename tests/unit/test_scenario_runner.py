"""The scenario runner with dummy experiments: output folder, results.json, report.md, exit codes.

`dummy-offline` needs no network. `dummy-network` (integration: root, OVS) runs a 2-card vpp_lans
emulation, makes one transfer and optionally fails afterwards; the emulation must be gone either way,
the ledgers collected and verified, and the pcap readable by tshark with packets in it.
"""

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from eip.scenarios.base import REQUIRED, experiment
from eip.scenarios.runner import run_scenario
from eip.scenarios.schema import load_scenario

ROOT = Path(__file__).resolve().parents[2]


@experiment(
    "dummy-offline",
    {"periods": (int, 3, "periods"), "balance": (float, REQUIRED, "the balance to report"),
     "fail": (bool, False, "raise inside the experiment")},
    needs_network=False,
    report=lambda metrics, ctx: f"## Dummy section\n\nThe balance was {metrics['balance']}.\n",
)  # fmt: skip
def offline(ctx):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for period in range(ctx.settings["periods"]):
        ctx.progress("period", period + 1, ctx.settings["periods"])
    if ctx.settings["fail"]:
        raise RuntimeError("boom inside the experiment")
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [1, 0, 2])
    fig.savefig(ctx.path("power_flow.png"))
    plt.close(fig)
    return {"balance": ctx.settings["balance"], "mode": ctx.mode, "short": ctx.short,
            "costs": {"total_eur": -1.25, "per_period": [1, 2, 3]}}  # fmt: skip


@experiment(
    "dummy-network",
    {"quantity": (int, 500, "BEE to send"), "fail": (bool, False, "raise after the transfer"),
     "hold_s": (float, 0.0, "wait this long after the transfer")},
)  # fmt: skip
def network(ctx):
    with ctx.emulation() as emu:
        result = emu.net.card("v1c1").call("transfer", to="v1c2", quantity=ctx.settings["quantity"],
                                           timeout=60)  # fmt: skip
        ctx.progress("transfer", 1, 1)
        time.sleep(ctx.settings["hold_s"])
        if ctx.settings["fail"]:
            raise RuntimeError("failing after the transfer")
        return {"delivered": result.get("delivered", ctx.settings["quantity"]), "result": result}


OFFLINE = """\
name: offline
description: A dummy run without a network.
experiment: dummy-offline
topology: four_node
periods: 4
short:
  periods: 2
expect:
  balance: {lt: 0}
  costs.total_eur: {between: [-2, 0]}
settings:
  balance: -3.5
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def eip(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    code = (
        "import sys, tests.unit.test_scenario_runner; from eip.cli.main import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})  # fmt: skip


def test_offline_run_writes_results_and_report(tmp_path):
    out = tmp_path / "run"
    result = run_scenario(load_scenario(write(tmp_path, OFFLINE)), out_dir=out, interactive=False)
    assert result.exit_code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "completed" and results["mode"] == "energy-internet"
    assert results["metrics"]["balance"] == -3.5
    assert results["metrics"]["costs"]["total_eur"] == -1.25
    assert [(c["metric"], c["held"], c["actual"]) for c in results["expectations"]] == [
        ("balance", True, -3.5), ("costs.total_eur", True, -1.25)
    ]  # fmt: skip
    assert results["expectations_held"] and results["scenario"]["periods"] == 4
    assert results["environment"]["eip"] and "pandapower" in results["environment"]
    assert "power_flow.png" in results["artifacts"]
    report = (out / "report.md").read_text()
    assert report.startswith("# offline\n\nA dummy run without a network.")
    assert "| metric | value |" in report and "| `costs.total_eur` | -1.25 |" in report
    assert "![power flow](power_flow.png)" in report and (out / "power_flow.png").stat().st_size
    assert "## Dummy section" in report and "| `balance` | < 0 | -3.5 | pass |" in report


def test_failed_expectation_exit_1_results_written(tmp_path):
    path = write(tmp_path, OFFLINE.replace("balance: -3.5", "balance: 2"))
    result = run_scenario(load_scenario(path), out_dir=tmp_path / "run", interactive=False)
    assert result.exit_code == 1
    checks = json.loads((tmp_path / "run" / "results.json").read_text())["expectations"]
    assert checks[0]["held"] is False and checks[0]["actual"] == 2
    assert "**FAIL**" in (tmp_path / "run" / "report.md").read_text()


def test_short_and_mode(tmp_path):
    scenario = load_scenario(write(tmp_path, OFFLINE), short=True)
    result = run_scenario(scenario, out_dir=tmp_path / "run", mode="both", interactive=False)
    assert result.results["metrics"]["short"] is True and result.results["mode"] == "both"
    assert result.results["scenario"]["settings"]["periods"] == 2


def test_experiment_exception_is_recorded(tmp_path):
    path = write(tmp_path, OFFLINE.replace("balance: -3.5", "balance: -3.5\n  fail: true"))
    result = run_scenario(load_scenario(path), out_dir=tmp_path / "run", interactive=False)
    assert result.exit_code == 1 and result.status == "error"
    assert "boom inside the experiment" in (tmp_path / "run" / "error.txt").read_text()
    assert "**failed**" in (tmp_path / "run" / "report.md").read_text()


def test_cli_run_exit_codes_and_latest_link(tmp_path):
    good = write(tmp_path, OFFLINE, "good.yaml")
    done = eip("run", good, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    latest = tmp_path / "out" / "offline" / "latest"
    assert latest.is_symlink() and (latest / "results.json").exists()
    assert "period: 4/4" in done.stderr  # plain progress lines when not a terminal
    failing = write(tmp_path, OFFLINE.replace("balance: -3.5", "balance: 1"), "fail.yaml")
    done = eip("run", failing, "--out", tmp_path / "f")
    assert done.returncode == 1 and "expectation failed: balance < 0, got 1" in done.stderr
    assert (tmp_path / "f" / "results.json").exists()
    bad = write(tmp_path, OFFLINE + "  colour: red\n", "bad.yaml")
    done = eip("run", bad, "--out", tmp_path / "b")
    assert done.returncode == 2 and "bad.yaml:13: settings.colour: unknown setting" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "b").exists()


# v1c1 is a load in the vpp_lans grid: the ISP gives it no export, so a transfer v1c1 -> v1c2 runs
# with the ISP measuring only (test_isp_loop.py runs it enforcing).
NETWORK = """\
name: network
experiment: dummy-network
topology: {name: vpp_lans, args: [1, 2]}
period_s: 2
isp: {enforce: false}
expect:
  delivered: {eq: 500}
settings:
  fail: false
"""


def bridges() -> set[str]:
    done = subprocess.run(["ovs-vsctl", "list-br"], capture_output=True, text=True, timeout=30)
    return set(done.stdout.split())


@pytest.mark.integration
@pytest.mark.parametrize("fail", [False, True], ids=["completes", "raises"])
def test_network_run_tears_down_collects_ledgers_and_captures(tmp_path, fail):
    before = bridges()
    path = write(tmp_path, NETWORK.replace("fail: false", f"fail: {str(fail).lower()}"))
    out = tmp_path / "run"
    result = run_scenario(load_scenario(path), out_dir=out, interactive=False)
    assert bridges() <= before, "the emulation left OVS bridges behind"
    results = json.loads((out / "results.json").read_text())
    assert result.exit_code == (1 if fail else 0), results.get("error")
    assert results["status"] == ("error" if fail else "completed")
    assert {c["card"] for c in results["ledgers"]} == {"v1c1", "v1c2"}
    assert all(c["ok"] and c["records"] > 0 for c in results["ledgers"]), results["ledgers"]
    assert (out / "ledgers" / "v1c1.sqlite").exists() and (out / "controller.log").stat().st_size
    cap = results["capture"]
    assert cap["opened"] and cap["packets"] > 0 and cap["eip_packets"] == cap["packets"], cap
    assert not cap.get("error")
    done = subprocess.run(["tshark", "-r", str(out / "capture.pcap"), "-Y", "ip.proto == 253"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and len(done.stdout.splitlines()) == cap["packets"]
    report = (out / "report.md").read_text()
    assert "## Ledgers" in report and "tshark -X lua_script:" in report
    assert f"{cap['packets']} packets" in report
    isp = results["isp"]  # the ISP in the loop, on the scenario's clock, as data
    assert isp["in_loop"] and not isp["enforce"] and isp["period_s"] == 2.0, isp
    first = isp["periods"][0]
    assert first["period"] == 0 and set(first["published"]["limits_bee"]) == {"v1c1", "v1c2"}
    assert first["published"]["limits_bee"]["v1c1"]["export_bee"] == 0  # a load exports nothing
    assert any(p["measured"] and p["measured"]["cards"]["v1c1"]["exported_bee"] > 0
               for p in isp["periods"]), isp["periods"]  # fmt: skip
    assert "## Energy ISP" in report and "measuring and publishing only" in report


def test_network_run_needs_root_message(tmp_path):
    path = write(tmp_path, NETWORK)
    code = (
        "import os, sys; os.geteuid = lambda: 1000; import tests.unit.test_scenario_runner; "
        "from eip.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run([sys.executable, "-c", code, "run", str(path), "--out", str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "run as root: sudo eip run" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_network_run_interrupted_cleans_up(tmp_path, sig):
    before = bridges()
    path = write(tmp_path, NETWORK.replace("fail: false", "hold_s: 120"))
    out = tmp_path / "run"
    code = (
        "import sys, tests.unit.test_scenario_runner; from eip.cli.main import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, "run", str(path), "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while not (out / "capture.log").exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "the emulation did not start"
        time.sleep(0.2)
    time.sleep(2)
    proc.send_signal(sig)
    _stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted, cleaned up" in stderr and "Traceback" not in stderr
    assert bridges() <= before, "the emulation left OVS bridges behind"
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "interrupted" and results["ledgers"]
