"""`eip check SCENARIO...` validates scenario files; `eip run SCENARIO` runs one into an output folder.

Exit codes of `eip run`: 0 the run completed and every expectation held; 1 an expectation failed or the
experiment failed (results.json and report.md are written all the same); 2 bad input (the scenario
file, the mode, the machine); 130 interrupted (Ctrl-C or SIGTERM), after cleaning up.
"""

import argparse
import shlex
import sys

from eip.scenarios.base import MODES
from eip.yamlconf import ConfigError


def register(subparsers) -> None:
    c = subparsers.add_parser(
        "check", help="validate scenario files without running them",
        description="Validate scenario YAML files: keys, types, the experiment's settings, "
        "topology and expectations. Prints one line per file; exit 1 if any is wrong.",
    )  # fmt: skip
    c.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario YAML file")
    c.add_argument("--short", action="store_true", help="validate with the `short` overrides")
    c.set_defaults(func=run_check)

    r = subparsers.add_parser(
        "run", help="run a scenario: results.json, report.md, plots, pcap, ledgers",
        description="Run a scenario file into an output folder (default out/NAME/UTC-TIME, with "
        "out/NAME/latest pointing at it). Exit 0 when every expectation held, 1 when one failed, "
        "2 on bad input, 130 when interrupted.",
    )  # fmt: skip
    r.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    r.add_argument("--out", help="output folder (default out/NAME/UTC-TIME)")
    r.add_argument("--mode", choices=MODES, help="default: the scenario's mode (energy-internet)")
    r.add_argument("--short", action="store_true", help="the shortened variant (`short` overrides)")
    r.add_argument("--no-capture", action="store_true", help="do not capture packets")
    r.set_defaults(func=run_run)


def run_check(args: argparse.Namespace) -> int:
    from eip.scenarios.schema import describe, load_scenario

    failed = 0
    for path in args.scenarios:
        try:
            scenario = load_scenario(path, short=args.short)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"ok: {describe(scenario)}")
    return 1 if failed else 0


def run_run(args: argparse.Namespace) -> int:
    from eip.scenarios.runner import RunError, run_scenario
    from eip.scenarios.schema import load_scenario

    try:
        scenario = load_scenario(args.scenario, short=args.short)
    except ConfigError as exc:
        print(f"eip run: error: {exc}", file=sys.stderr)
        return 2
    command = shlex.join(["eip", "run", *sys.argv[2:]]) if sys.argv[1:2] == ["run"] else ""
    try:
        result = run_scenario(scenario, out_dir=args.out, mode=args.mode, command=command,
                              capture=not args.no_capture)  # fmt: skip
    except RunError as exc:
        print(f"eip run: error: {exc}", file=sys.stderr)
        return 2
    results = result.results
    for check in results["expectations"]:
        if not check["held"]:
            note = f" ({check['note']})" if check["note"] else ""
            print(f"expectation failed: {check['metric']} {check['condition']}, got "
                  f"{check['actual']!r}{note}", file=sys.stderr)  # fmt: skip
    for check in results["ledgers"]:
        if not check["ok"]:
            print(f"ledger of {check['card']} does not verify: {check['reason']}", file=sys.stderr)
    if results["status"] == "interrupted":
        print("interrupted, cleaned up", file=sys.stderr)
    elif results["status"] == "error":
        print(f"eip run: the experiment failed: {results['error']} (see {result.out_dir}/error.txt)",
              file=sys.stderr)  # fmt: skip
    print(f"report: {result.out_dir / 'report.md'}")
    print(f"results: {result.out_dir / 'results.json'}")
    return result.exit_code
