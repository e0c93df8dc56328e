"""Helpers of the tshark tests: the dissector, the sample frames, a PDML runner, the pcap fixture."""

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from frames import local_frames, write_pcap

TSHARK = shutil.which("tshark")
DISSECTOR = Path(__file__).resolve().parents[2] / "eip" / "wireshark" / "eip.lua"

requires_tshark = pytest.mark.skipif(
    TSHARK is None, reason="tshark is not on PATH (apt-get install tshark)"
)


def sample_frames() -> list[bytes]:
    """The lead's sample exchange when eip.sample and its codec import, plus the local frames."""
    try:
        from eip.sample import sample_frames as lead_frames

        frames = list(lead_frames())
    except ImportError:
        frames = []
    return frames + local_frames()


def run_tshark(pcap: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [TSHARK, "-n", "-X", f"lua_script:{DISSECTOR}", "-r", str(pcap), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def pdml_packets(pcap: Path) -> tuple[list[ET.Element], subprocess.CompletedProcess]:
    proc = run_tshark(pcap, "-T", "pdml")
    assert proc.returncode == 0, proc.stderr
    root = ET.fromstring(proc.stdout)
    return root.findall("packet"), proc


@pytest.fixture(scope="session")
def sample_pcap(tmp_path_factory) -> tuple[Path, list[bytes]]:
    frames = sample_frames()
    path = tmp_path_factory.mktemp("tshark") / "sample.pcap"
    write_pcap(path, frames)
    return path, frames
