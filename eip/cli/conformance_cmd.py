"""`eip conformance --pcap FILE`: a capture checked against docs/protocol.md, rule by rule."""

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "conformance",
        help="check an implementation against docs/protocol.md rule by rule (--pcap: a capture)",
    )
    p.add_argument("--pcap", required=True, metavar="FILE",
                   help="a pcap or pcapng capture: every Energy Internet message in it is checked "
                        "against the rules a capture can show")  # fmt: skip
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
    results = report.apply_levels(check_capture(args.pcap, dissector), rules, args.strict)
    print(report.console(results, args.pcap))
    if args.json:
        report.write(args.json, report.to_json(results, args.pcap, rules))
    if args.junit:
        report.write(args.junit, report.to_junit(results, args.pcap))
    if args.markdown:
        report.write(args.markdown, report.to_markdown(results, args.pcap, rules))
    return 1 if any(r["outcome"] == FAIL for r in results) else 0
