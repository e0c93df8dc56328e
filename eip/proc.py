"""What /proc tells about a process: its resident memory and CPU time (benchmarks, load reports)."""


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


def cpu_s(pid: int | str = "self") -> float:
    """User + system CPU seconds a process has used so far (0.0 if it is gone)."""
    import os

    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
