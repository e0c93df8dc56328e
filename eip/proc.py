"""What /proc tells about a process: its resident memory (for benchmarks and load reports)."""


def rss_kib(pid: int | str = "self") -> int:
    """Resident memory of a process (this one by default), KiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
