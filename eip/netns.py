"""Network namespaces and veth pairs for tests and benchmarks, always cleaned up (needs root)."""

import os
import subprocess
import sys
from contextlib import contextmanager


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=60)


class Namespace:
    """One network namespace; `run` executes a command inside it."""

    def __init__(self, name: str):
        self.name = name

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.name, *args, check=check)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            ["ip", "netns", "exec", self.name, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def python(self, code: str) -> subprocess.Popen:
        return self.popen(sys.executable, "-c", code)

    def python_args(self, code: str, *args: str) -> subprocess.Popen:
        return self.popen(sys.executable, "-c", code, *args)


@contextmanager
def namespaces(*names: str):
    """Create namespaces named `<name>-<pid>` with loopback up; delete them (and their veths) after."""
    created = []
    try:
        for name in names:
            ns = Namespace(f"{name}-{os.getpid()}")
            sh("ip", "netns", "add", ns.name)
            created.append(ns)
            ns.run("ip", "link", "set", "lo", "up")
        yield created
    finally:
        for ns in created:
            sh("ip", "netns", "del", ns.name, check=False)


def link(a: Namespace, a_if: str, a_cidr: str, b: Namespace, b_if: str, b_cidr: str) -> None:
    """A veth pair between two namespaces with addresses, up, TX checksum offload off."""
    tmp_a, tmp_b = f"v{os.getpid() % 100000}a{a_if[-1]}", f"v{os.getpid() % 100000}b{b_if[-1]}"
    sh("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
    for tmp, ns, ifname, cidr in ((tmp_a, a, a_if, a_cidr), (tmp_b, b, b_if, b_cidr)):
        sh("ip", "link", "set", tmp, "netns", ns.name)
        ns.run("ip", "link", "set", tmp, "name", ifname)
        ns.run("ip", "addr", "add", cidr, "dev", ifname)
        ns.run("ip", "link", "set", ifname, "up")
        ns.run("ethtool", "-K", ifname, "tx", "off", check=False)


CLONE_NEWNET = 0x40000000


def enter(ns_name: str) -> None:
    """Move the calling thread into a named network namespace (setns(2)); sockets it opens stay
    there, so one process can serve cards in several namespaces, a thread per namespace."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{ns_name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {ns_name}: {os.strerror(err)}")
    finally:
        os.close(fd)
