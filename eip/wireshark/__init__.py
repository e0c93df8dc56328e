"""The Energy Internet Lua dissector for Wireshark and tshark, shipped as package data (eip.lua)."""

from importlib import resources
from pathlib import Path

from eip.errors import EipError

DISSECTOR_NAME = "eip.lua"


def dissector_path() -> Path:
    """Path of the Lua dissector shipped with the installed eip package."""
    path = Path(str(resources.files("eip").joinpath("wireshark", DISSECTOR_NAME)))
    if not path.is_file():
        raise EipError(f"the Wireshark dissector is missing from the eip package: {path}")
    return path
