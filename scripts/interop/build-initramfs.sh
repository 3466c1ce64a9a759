#!/bin/sh
# Build the interop guest initramfs (busybox-static, nvme/nvmet modules, nvme-cli, coreutils dd)
# for the newest installed kernel that has nvmet-tcp. Usage: build-initramfs.sh OUTDIR
# Writes OUTDIR/initramfs.gz, OUTDIR/kernel (path of the vmlinuz) and OUTDIR/initramfs.stamp;
# does nothing when the stamp (hash of every input) is unchanged.
set -eu
OUT=${1:?usage: build-initramfs.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"

KVER=""
for v in $(ls /lib/modules 2>/dev/null | sort -V); do
  if [ -e "/boot/vmlinuz-$v" ] && [ -n "$(find "/lib/modules/$v" -name 'nvmet-tcp.ko*' | head -1)" ]; then KVER=$v; fi
done
[ -n "$KVER" ] || { echo "no kernel with nvmet-tcp under /lib/modules (run test/interop/setup.sh)" >&2; exit 1; }
NVME=$(command -v nvme) || { echo "nvme-cli missing" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "busybox-static missing" >&2; exit 1; }

# Modules in dependency order (modprobe resolves modules.dep); nvme-core is built into the cloud kernel.
MODS="crc32c_intel configfs brd virtio_pci virtio_net nvme-fabrics nvme-tcp nvmet nvmet-tcp"
KOS=$(for m in $MODS; do modprobe -S "$KVER" --show-depends "$m" | awk '$1=="insmod"{print $2}'; done | awk '!seen[$0]++')

STAMP=$( {
  echo "$KVER"; cat "$0" "$HERE/guest-init.sh"
  # shellcheck disable=SC2086
  ls -lL "/boot/vmlinuz-$KVER" /bin/busybox "$NVME" /bin/dd /sbin/blkdiscard $KOS
} | sha256sum | cut -c1-32)
if [ -f "$OUT/initramfs.gz" ] && [ "$(cat "$OUT/initramfs.stamp" 2>/dev/null)" = "$STAMP" ]; then
  echo "interop initramfs up to date ($KVER)"
  exit 0
fi

t0=$(date +%s)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/bin" "$W/sbin" "$W/usr/bin" "$W/usr/sbin" "$W/etc/nvme" "$W/proc" "$W/sys" "$W/dev" \
  "$W/run" "$W/tmp" "$W/root" "$W/lib64" "$W/lib/modules/$KVER"
cp /bin/busybox "$W/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$W/bin/$a" ] || ln -s busybox "$W/bin/$a"; done

: > "$W/etc/modules.order"
for ko in $KOS; do
  rel=${ko#/lib/modules/$KVER/}
  mkdir -p "$W/lib/modules/$KVER/$(dirname "$rel")"
  case "$ko" in
    *.ko.xz) xz -dc "$ko" > "$W/lib/modules/$KVER/${rel%.xz}"; rel=${rel%.xz} ;;
    *.ko.zst) zstd -dcq "$ko" > "$W/lib/modules/$KVER/${rel%.zst}"; rel=${rel%.zst} ;;
    *) cp "$ko" "$W/lib/modules/$KVER/$rel" ;;
  esac
  echo "/lib/modules/$KVER/$rel" >> "$W/etc/modules.order"
done

copy_bin() {
  install -D "$1" "$W$2"
  ldd "$1" | awk '/=>/ {print $3} /^\t\/lib64/ {print $1}' | while read -r lib; do
    if [ -n "$lib" ] && [ -e "$lib" ]; then mkdir -p "$W$(dirname "$lib")"; cp -L "$lib" "$W$lib"; fi
  done
}
copy_bin "$NVME" /usr/sbin/nvme
copy_bin /bin/dd /usr/bin/gdd
# util-linux blkdiscard (-z = BLKZEROOUT); busybox's own applet would shadow the plain name
copy_bin /sbin/blkdiscard /usr/sbin/ul-blkdiscard
cp -L /lib64/ld-linux-x86-64.so.2 "$W/lib64/"

# Stable host identity derived from the stamp (nvme-cli needs it; no DMI in the guest).
HOSTID=$(echo "$STAMP" | sed 's/^\(........\)\(....\)\(....\)\(....\)\(............\).*/\1-\2-\3-\4-\5/')
echo "nqn.2014-08.org.nvmexpress:uuid:$HOSTID" > "$W/etc/nvme/hostnqn"
echo "$HOSTID" > "$W/etc/nvme/hostid"
echo "root:x:0:0:root:/root:/bin/sh" > "$W/etc/passwd"
printf 'PS1=""\nstty -echo 2>/dev/null\n' > "$W/etc/profile"
install -m 0755 "$HERE/guest-init.sh" "$W/init"

(cd "$W" && find . | cpio -o -H newc --quiet | gzip -6) > "$OUT/initramfs.gz.tmp"
mv "$OUT/initramfs.gz.tmp" "$OUT/initramfs.gz"
echo "/boot/vmlinuz-$KVER" > "$OUT/kernel"
echo "$STAMP" > "$OUT/initramfs.stamp"
echo "interop initramfs built for $KVER in $(( $(date +%s) - t0 )) s: $(wc -c < "$OUT/initramfs.gz") bytes"
