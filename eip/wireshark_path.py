"""Where the Wireshark Lua dissector shipped with eip lives."""

from pathlib import Path


def dissector_path() -> Path:
    """Path of eip.lua inside the installed package."""
    return Path(__file__).resolve().parent / "wireshark" / "eip.lua"
