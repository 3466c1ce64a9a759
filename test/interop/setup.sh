#!/bin/sh
# Interop test prerequisites: Debian packages (only the missing ones) and the guest initramfs.
# Idempotent and non-interactive (CI=true, no stdin). Usage: sh test/interop/setup.sh
# Output: .interop/initramfs.gz + .interop/kernel (path of the vmlinuz to boot), rebuilt only
# when an input changes (see scripts/interop/build-initramfs.sh).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PKGS="linux-image-cloud-amd64 busybox-static nvme-cli tshark qemu-system-x86 cpio iproute2"

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done
if [ -n "$missing" ]; then
  t0=$(date +%s)
  echo "interop setup: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 -qq update </dev/null
  # shellcheck disable=SC2086
  apt-get -o DPkg::Lock::Timeout=300 -qq install -y --no-install-recommends $missing </dev/null >/dev/null
  echo "interop setup: apt done in $(( $(date +%s) - t0 )) s"
else
  echo "interop setup: packages present"
fi

sh "$ROOT/scripts/interop/build-initramfs.sh" "$ROOT/.interop"
