"""`eip controller` starts the os-ken apps (os-ken 4 has no manager command); `eip status` shows them."""

import argparse
import importlib
import json
import logging
import os
import socket
import time
from pathlib import Path

from eip.errors import EipError

DEFAULT_STATUS = "/tmp/eip-controller-status.json"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "controller", help="run the Energy ISP / SDEN controller (os-ken, OpenFlow 1.3)"
    )
    p.add_argument(
        "--plan", required=True, help="network plan JSON (written by the network builder)"
    )
    p.add_argument(
        "--limits", required=True, help="limits YAML (period_s, quantum_bee, cards, uplinks)"
    )
    p.add_argument(
        "--listen", default="127.0.0.1", help="OpenFlow address: the ISP's private domain"
    )
    p.add_argument("--port", type=int, default=6653)
    p.add_argument(
        "--status", default=DEFAULT_STATUS, help="JSON status file the controller writes"
    )
    p.add_argument(
        "--sden", metavar="DIR",
        help="run the SDEN energy server (10.0.0.253, port 1); its key and the cards' keys under DIR",
    )  # fmt: skip
    p.add_argument(
        "--isp",
        action="store_true",
        help="the Energy ISP sets the limits each period from an OPF on the plan's grid "
        "(--limits then gives period_s, quantum_bee, and the limits kept if period 0's OPF fails)",
    )
    p.add_argument(
        "--isp-first-period",
        type=int,
        default=0,
        metavar="N",
        help="with --isp: the grid period the run starts in (the day has 12; 8 = 16:00, evening peak)",
    )
    p.add_argument(
        "--isp-measure-only",
        action="store_true",
        help="with --isp: the ISP computes and publishes every period, the --limits table stays enforced",
    )
    p.add_argument(
        "--isp-clock",
        metavar="FILE",
        help='with --isp: restart the period clock when FILE ({"start_s": monotonic s}) appears',
    )
    p.add_argument(
        "--isp-records",
        metavar="FILE",
        help="with --isp: append one JSON line per period: limits and prices published, BEE measured",
    )
    p.set_defaults(func=run_controller)

    s = subparsers.add_parser(
        "status", help="the controller's counters (firewall, limits, islands)"
    )
    s.add_argument("--status", default=DEFAULT_STATUS, help="the controller's status file")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_status)


def run_controller(args: argparse.Namespace) -> int:
    from eip.net.plan import NetworkPlan
    from eip.sdn.limits import LimitTable

    plan = NetworkPlan.load(args.plan)  # fail early, with a clear message, on a bad plan
    LimitTable.load(args.limits)
    if getattr(args, "isp", False):
        from eip.cases import grid_for_plan

        grid_for_plan(plan)  # a plan with no grid fails here, not in the app
    probe = socket.socket()
    # As os-ken's own listener does: a restart after a crash must not wait out TIME_WAIT connections.
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((args.listen, args.port))
    except OSError as exc:
        raise EipError(f"cannot listen on {args.listen}:{args.port}: {exc.strerror}") from None
    finally:
        probe.close()
    os.environ["EIP_PLAN"] = str(Path(args.plan).resolve())
    os.environ["EIP_LIMITS"] = str(Path(args.limits).resolve())
    os.environ["EIP_STATUS"] = str(Path(args.status).resolve())
    os.environ["EIP_ISP"] = "1" if getattr(args, "isp", False) else "0"
    os.environ["EIP_SDEN"] = str(Path(args.sden).resolve()) if args.sden else ""
    os.environ["EIP_ISP_FIRST_PERIOD"] = str(max(0, getattr(args, "isp_first_period", 0)))
    os.environ["EIP_ISP_ENFORCE"] = "0" if getattr(args, "isp_measure_only", False) else "1"
    for key, value in (("EIP_ISP_CLOCK", getattr(args, "isp_clock", None)),
                       ("EIP_ISP_RECORDS", getattr(args, "isp_records", None))):  # fmt: skip
        os.environ[key] = str(Path(value).resolve()) if value else ""

    # Order matters (os-ken has an import cycle): app_manager first, then the module that registers
    # the OpenFlow listen options, then the configuration.
    app_manager = importlib.import_module("os_ken.base.app_manager")
    importlib.import_module("os_ken.controller.controller")
    cfg = importlib.import_module("os_ken.cfg")

    cfg.CONF(
        args=["--ofp-listen-host", args.listen, "--ofp-tcp-listen-port", str(args.port)],
        project="os_ken",
    )
    logging.getLogger("eip").info("controller on %s:%d", args.listen, args.port)
    app_manager.AppManager.run_apps(["controllers.eip_app"])
    return 0


def run_status(args: argparse.Namespace) -> int:
    path = Path(args.status)
    try:
        status = json.loads(path.read_text())
    except FileNotFoundError:
        raise EipError(f"{path}: no status (is `eip controller` running?)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise EipError(f"{path}: unreadable status: {exc}") from None
    age_s = time.time() - path.stat().st_mtime
    if args.json:
        print(json.dumps({**status, "age_s": round(age_s, 1)}, indent=2, sort_keys=True))
        return 0
    print(f"controller status ({path}, {age_s:.1f} s old)")
    for key, value in sorted(status.items()):
        print(f"{key}: {json.dumps(value, sort_keys=True, default=str)}")
    return 0
