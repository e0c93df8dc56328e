"""`eip wireshark`: where the Energy Internet Lua dissector is, how to use it, and installing it.

The dissector ships as package data (eip/wireshark/eip.lua). `--install` copies it into the user's
Wireshark personal Lua plugin folder, where Wireshark and tshark load it at start.
"""

import argparse
import shutil
from pathlib import Path

from eip.errors import EipError
from eip.wireshark import DISSECTOR_NAME, dissector_path

# Personal Lua plugins of Wireshark >= 2.6 on Linux and macOS (Help > About > Folders in Wireshark).
PERSONAL_PLUGIN_DIR = Path("~/.local/lib/wireshark/plugins")
__all__ = ["DISSECTOR_NAME", "PERSONAL_PLUGIN_DIR", "dissector_path", "install", "register", "run"]


def install(directory: Path | None = None) -> Path:
    """Copy the dissector into `directory` (default: the personal plugin folder); return the copy."""
    target_dir = (directory or PERSONAL_PLUGIN_DIR).expanduser()
    if target_dir.exists() and not target_dir.is_dir():
        raise EipError(f"{target_dir} exists and is not a directory")
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / DISSECTOR_NAME
    shutil.copyfile(dissector_path(), target)
    return target


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "wireshark",
        help="show or install the Wireshark/tshark Lua dissector",
        description="Show where the Energy Internet Lua dissector is and how to load it, or install it "
        "into the Wireshark personal plugin folder.",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--path", action="store_true", help="print only the dissector's path")
    group.add_argument(
        "--install",
        action="store_true",
        help=f"copy the dissector into the personal plugin folder ({PERSONAL_PLUGIN_DIR})",
    )
    p.add_argument("--dir", type=Path, help="plugin folder to install into (with --install)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.dir is not None and not args.install:
        raise EipError("--dir is only used with --install")
    if args.path:
        print(dissector_path())
        return 0
    if args.install:
        target = install(args.dir)
        print(f"installed the Energy Internet dissector as {target}")
        print(
            "Wireshark and tshark load it at start; check with: tshark -G protocols | grep -i energy"
        )
        return 0
    path = dissector_path()
    print(f"Energy Internet Wireshark dissector (Lua): {path}")
    print()
    print("Use it for one run of tshark:")
    print(f"  tshark -X lua_script:{path} -r capture.pcap -V")
    print(f"  tshark -X lua_script:{path} -r capture.pcap -Y 'energytcp.flags.syn == 1'")
    print("or of Wireshark:")
    print(f"  wireshark -X lua_script:{path} capture.pcap")
    print()
    print("Install it for every run (Wireshark personal Lua plugins folder):")
    print("  eip wireshark --install")
    print(
        f"  (copies it to {PERSONAL_PLUGIN_DIR / DISSECTOR_NAME}; --dir DIR chooses another folder)"
    )
    print()
    print("A capture to try it on: eip sample-pcap sample.pcap. Field names: docs/wireshark.md")
    return 0
