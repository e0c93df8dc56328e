"""Fixtures of the tshark tests (helpers live in tshark_helpers.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from tshark_helpers import sample_pcap

__all__ = ["sample_pcap"]
