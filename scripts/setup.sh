#!/usr/bin/env bash
# Idempotent set-up for a Debian 12 machine, run as root: apt packages, the .venv with eip, and Open vSwitch.
# Sourced by run.sh and test.sh; each step is skipped when it is already done, so it is safe to run again.
set -euo pipefail

EIP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$EIP_ROOT/.venv"
APT_PACKAGES=(mininet openvswitch-switch tshark ethtool iperf3 iproute2 python3-venv python3-dev tcpdump)

say() { printf 'eip-setup: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (Mininet, Open vSwitch and raw sockets need it): sudo bash $0"
command -v apt-get >/dev/null || die "apt-get not found: this set-up supports Debian 12 (bookworm)"

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi

# Debian's own Python 3.11 (python3-venv above); a newer python3 on PATH is used only if Debian's is missing.
PY=/usr/bin/python3
[ -x "$PY" ] || PY="$(command -v python3)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python >= 3.11 required, found $("$PY" -V)"

stamp="$VENV/.eip-installed"
want="$(cat "$EIP_ROOT/setup.cfg" "$EIP_ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "creating virtualenv $VENV and installing eip with its dependencies"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV" || die "python3 -m venv failed"
  log="$VENV/pip-install.log"
  "$VENV/bin/python" -m pip install --upgrade pip >"$log" 2>&1 || { tail -n 20 "$log" >&2; die "pip upgrade failed"; }
  "$VENV/bin/python" -m pip install -e "$EIP_ROOT[test]" >>"$log" 2>&1 \
    || { tail -n 30 "$log" >&2; die "pip install failed (full log: $log)"; }
  echo "$want" > "$stamp"
fi

# Open vSwitch in the userspace (netdev) datapath: this kernel has no openvswitch module (shared/platform.md).
if ! ovs-vsctl --timeout=5 show >/dev/null 2>&1; then
  say "starting Open vSwitch"
  /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random >/dev/null 2>&1 || true
  ovs-vsctl --timeout=10 show >/dev/null 2>&1 || die "Open vSwitch did not start (see /var/log/openvswitch/)"
fi

export PATH="$VENV/bin:$PATH"
