"""Run cards as processes in network namespaces: used by the integration tests and `eip bench transfer`."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from eip.card.control import ControlClient, ControlError
from eip.errors import EipError


@dataclass
class CardProcess:
    """A card daemon started with `ip netns exec NS eip card run ...`."""

    name: str
    netns: str
    state_dir: Path
    args: list
    proc: subprocess.Popen | None = None

    @property
    def ctl(self) -> ControlClient:
        return ControlClient(self.state_dir / "ctl.sock")

    def start(self, timeout_s: float = 20.0) -> "CardProcess":
        log = open(self.state_dir / "card.log", "ab")  # noqa: SIM115 - kept open for the process
        cmd = ["ip", "netns", "exec", self.netns, sys.executable, "-m", "eip.cli.main",
               "--log-level", "INFO", "card", "run", *self.args]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EipError(f"card {self.name} exited {self.proc.returncode}: {self.log_tail()}")
            try:
                self.ctl.call("status")
                return self
            except ControlError:
                time.sleep(0.05)
        raise EipError(f"card {self.name} did not come up in {timeout_s}s: {self.log_tail()}")

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join((self.state_dir / "card.log").read_text().splitlines()[-n:])
        except OSError:
            return ""

    def kill9(self) -> None:
        """SIGKILL the daemon (the python process under `ip netns exec`, which execs it)."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()

    @property
    def ledger_path(self) -> Path:
        return self.state_dir / "ledger.sqlite"


def ledger_rows(path: Path, direction: str) -> set[tuple[str, int, int]]:
    """{(transfer_id, seq, quantity)} debited or credited in a card's ledger (read-only)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT transfer_id, seq, quantity FROM bees WHERE direction = ?", (direction,)
        ).fetchall()
    finally:
        db.close()
    return set(rows)


def wait_for(predicate, timeout_s: float, what: str, poll_s: float = 0.1):
    """Poll until predicate() is truthy; EipError naming `what` on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise EipError(f"timed out after {timeout_s}s waiting for {what}")


def settle(cards, timeout_s: float) -> int:
    """Wait until no card of `cards` (control clients) has a transfer open, twice in a row one
    second apart; 0 then, else (after `timeout_s`) how many transfers are still open. A card that
    no longer answers has nothing more to deliver."""

    def still_open(card) -> int:
        try:
            return len(card.call("status").get("transfers") or ())
        except EipError:
            return 0

    idle = [0]

    def settled():
        busy = any(still_open(card) for card in cards)
        idle[0] = 0 if busy else idle[0] + 1
        return idle[0] >= 2 or None

    try:
        wait_for(settled, timeout_s, "the last deliveries", poll_s=1.0)
        return 0
    except EipError:
        return sum(still_open(card) for card in cards)
