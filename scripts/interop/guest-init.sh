#!/bin/sh
# /init of the interop guest. Kernel command line parameters (passed to init as env vars):
#   interop_nqn=NQN       subsystem of the in-guest nvmet-tcp target (port 0.0.0.0:4420, any host)
#   interop_ram_mib=N     size of its RAM namespace 1 (/dev/ram0, brd)
# Prints "INTEROP-READY ..." on the console when the target listens, then runs a shell on ttyS0.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
NQN=${interop_nqn:-nqn.2024-01.io.nvmeotcp:kernel-target}
RAM_MIB=${interop_ram_mib:-64}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
dmesg -n 1
for ko in $(cat /etc/modules.order); do
  case "$ko" in
    */brd.ko) insmod "$ko" rd_nr=1 rd_size=$((RAM_MIB * 1024)) ;;
    *) insmod "$ko" ;;
  esac || echo "INTEROP-ERROR insmod $ko failed"
done
grep -q " /sys/kernel/config " /proc/mounts || mount -t configfs configfs /sys/kernel/config
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2

T=/sys/kernel/config/nvmet
S=$T/subsystems/$NQN
if mkdir "$S" && echo 1 > "$S/attr_allow_any_host" && mkdir "$S/namespaces/1" &&
   echo -n /dev/ram0 > "$S/namespaces/1/device_path" && echo 1 > "$S/namespaces/1/enable" &&
   mkdir $T/ports/1 && echo tcp > $T/ports/1/addr_trtype && echo ipv4 > $T/ports/1/addr_adrfam &&
   echo 0.0.0.0 > $T/ports/1/addr_traddr && echo 4420 > $T/ports/1/addr_trsvcid &&
   ln -s "$S" "$T/ports/1/subsystems/$NQN"; then
  echo "INTEROP-READY uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r) nqn=$NQN ram_mib=$RAM_MIB"
else
  echo "INTEROP-ERROR nvmet configuration failed"
fi
while true; do setsid cttyhack /bin/sh -l; done
