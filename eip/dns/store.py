"""The Energy DNS zone store: the cards and serial as one JSON file, written atomically.

Used by eip.dns.server.EnergyDnsServer when it is given a store path; a file that is not a valid store
is an EipError naming it.
"""

import json
import os
import tempfile
from pathlib import Path

from eip.dns import records as r
from eip.errors import EipError


def save_zone(path: Path, zone: str, cards: list[r.CardEntry], serial: int) -> None:
    """Write the zone as JSON atomically: temp file in the same directory, fsync, rename, fsync dir."""
    doc = {
        "zone": zone,
        "serial": serial,
        "cards": [{**c._asdict(), "public_key": c.public_key.hex()} for c in cards],
    }
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_zone(path: Path, zone: str) -> tuple[list[r.CardEntry], int]:
    """Cards and serial from a zone file; EipError naming the file when it is not a valid store."""
    try:
        doc = json.loads(Path(path).read_text())
        if r.zone_name(doc["zone"]) != r.zone_name(zone):
            raise EipError(f"it holds zone {doc['zone']}, not {zone}")
        cards = [
            r.CardEntry(**{**c, "public_key": bytes.fromhex(c["public_key"])}).checked()
            for c in doc["cards"]
        ]
        return cards, int(doc["serial"])
    except (OSError, ValueError, KeyError, TypeError, EipError) as exc:
        raise EipError(f"zone store {path}: {exc}") from None
