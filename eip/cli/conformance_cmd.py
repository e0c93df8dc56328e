"""`eip conformance`: a device under test (--dut-cmd) or a capture (--pcap) checked against
docs/protocol.md, rule by rule."""

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "conformance",
        help="check an implementation against docs/protocol.md rule by rule (a DUT or a capture)",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--dut-cmd", metavar="CMD",
                      help="run CMD (a shell command) as the device under test in its own network "
                           "namespace and test it over a veth (needs root; docs/conformance.md)")  # fmt: skip
    what.add_argument("--iface", metavar="IF",
                      help="test a DUT already running, reached on interface IF (root; with "
                           "--dut-ip, --dut-mac, --dut-key and --dut-ctl)")  # fmt: skip
    what.add_argument("--pcap", metavar="FILE",
                      help="a pcap or pcapng capture: every Energy Internet message in it is "
                           "checked against the rules a capture can show")  # fmt: skip
    p.add_argument("--dut-ctl", metavar="TEMPLATE",
                   help="the DUT hook: a command given a verb and KEY=VALUE arguments that prints "
                        "one JSON object ({dir} is the DUT's state folder; default eip's "
                        "own 'eip card ctl {dir}/ctl.sock')")  # fmt: skip
    p.add_argument("--dut-ip", metavar="IP", help="with --iface: the DUT's Energy IP address")
    p.add_argument("--dut-mac", metavar="MAC", help="with --iface: the DUT's EIC MAC")
    p.add_argument("--dut-key", metavar="HEX", help="with --iface: the DUT's Ed25519 public key")
    p.add_argument("--tester-ip", metavar="IP",
                   help="with --iface: the tester's address (default: IF's first IPv4 address)")  # fmt: skip
    p.add_argument(
        "--features",
        metavar="FILE",
        help="YAML of what the DUT implements (roles: [receiver, sender]); default all",
    )
    p.add_argument("--workdir", metavar="DIR", help="where the DUT's folder, logs and pcaps go")
    p.add_argument("--test", metavar="TEXT", help="run only the DUT tests whose id contains TEXT")
    p.add_argument("--strict", action="store_true", help="a failed SHOULD fails (else NON-STRICT)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML (one suite per spec section)")
    p.add_argument("--markdown", metavar="FILE", help="write a report with the rule coverage")
    p.add_argument("--no-dissector", action="store_true",
                   help="do not cross-check with tshark and the Lua dissector")  # fmt: skip
    p.add_argument("--spec", metavar="FILE", help="the protocol spec (default docs/protocol.md)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eip.conformance import report
    from eip.conformance.capture import check_capture, tshark_flags
    from eip.conformance.rules import FAIL, SPEC, load_rules
    from eip.wireshark import dissector_path

    rules = load_rules(args.spec or SPEC)
    dissector = None if args.no_dissector else tshark_flags(dissector_path())
    if args.dut_cmd or args.iface:
        from eip.conformance.device import load_features, run_device

        roles = load_features(args.features)
        source, bench = (args.dut_cmd, namespace_bench(args)) if args.dut_cmd else (
            f"{args.dut_ip} on {args.iface}", interface_bench(args))  # fmt: skip
        raw = run_device(bench, roles, args.test, dissector)
    else:
        source, raw = args.pcap, check_capture(args.pcap, dissector)
    results = report.apply_levels(raw, rules, args.strict)
    print(report.console(results, source))
    if args.json:
        report.write(args.json, report.to_json(results, source, rules))
    if args.junit:
        report.write(args.junit, report.to_junit(results, source))
    if args.markdown:
        report.write(args.markdown, report.to_markdown(results, source, rules))
    return 1 if any(r["outcome"] == FAIL for r in results) else 0


def namespace_bench(args: argparse.Namespace):
    from eip.conformance.dut import NamespaceBench

    return lambda: NamespaceBench(args.dut_cmd, args.dut_ctl, args.workdir)


def interface_bench(args: argparse.Namespace):
    from eip.conformance.dut import InterfaceBench
    from eip.errors import EipError

    missing = [f"--{n.replace('_', '-')}" for n in ("dut_ip", "dut_mac", "dut_key", "dut_ctl")
               if not getattr(args, n)]  # fmt: skip
    if missing:
        raise EipError(f"--iface needs {', '.join(missing)} (docs/conformance.md)")
    return lambda: InterfaceBench(args.iface, args.dut_ip, args.dut_mac, args.dut_key, args.dut_ctl,
                                  args.workdir, args.tester_ip)  # fmt: skip
