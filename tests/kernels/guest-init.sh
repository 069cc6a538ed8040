#!/bin/busybox sh
# /init of the kernel-matrix guest (busybox initramfs, see kernel_test.py).
#
# Runs `tcptrail --check`, then `tcptrail --json --duration $tt_duration` while
# ktraffic makes its connections on loopback, and prints everything on the
# console between @@TT markers for the host to check. Powers off at the end,
# whatever happened. tt_duration and tt_port come from the kernel command line
# (the kernel hands unknown key=value parameters to init as environment).
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mkdir -p /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
# tracefs is left to tcptrail, which mounts it itself when it is missing.

duration=${tt_duration:-10}
port=${tt_port:-40000}

section() {  # section NAME FILE [extra]
  echo "@@TT-BEGIN $1 $3"
  cat "$2"
  echo "@@TT-END $1"
}

# The modules a real system would autoload (no modprobe here): sock_diag for TCP.
for m in inet_diag tcp_diag; do
  insmod "/modules/$m.ko" || echo "@@TT-NOTE insmod $m failed"
done

echo "@@TT-GUEST kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"
ip link set lo up
echo "@@TT-LO $(ip -o addr show dev lo | tr '\n' ' ')"

/tcptrail --check >/tmp/check.txt 2>&1
section check /tmp/check.txt "rc=$?"

t0=$(date +%s)
extra=
[ "${tt_events:-0}" = 1 ] && extra=--events  # kernel_test.py guest --events: for debugging
/tcptrail --json --duration "$duration" $extra >/tmp/trace.jsonl 2>/tmp/trace.err &
tpid=$!
# Watchdog: a tracer still running 3 min past its --duration (attaching may take 2) is killed.
(sleep $((duration + 180)); kill -9 "$tpid" 2>/dev/null) &
# Wait (at most 120 s: BPF loading is slow under TCG) for "tracing" on stderr.
n=0
while ! grep -q "tracing" /tmp/trace.err; do
  if ! kill -0 "$tpid" 2>/dev/null; then break; fi
  n=$((n + 1))
  if [ "$n" -gt 1200 ]; then kill "$tpid"; break; fi
  usleep 100000
done
attach_s=$(( $(date +%s) - t0 ))
if grep -q "tracing" /tmp/trace.err; then
  /ktraffic "$port" >/tmp/traffic.jsonl 2>/tmp/traffic.err
  trc=$?
else
  echo "tcptrail never attached" >/tmp/traffic.err
  : >/tmp/traffic.jsonl
  trc=99
fi
wait "$tpid"
rc=$?
t1=$(date +%s)

section traffic /tmp/traffic.jsonl "rc=$trc"
section traffic-stderr /tmp/traffic.err
section tcptrail-stderr /tmp/trace.err "rc=$rc"
section tcptrail-stdout /tmp/trace.jsonl
echo "@@TT-TIMES start=$t0 stop=$t1 attach_s=$attach_s"
echo "@@TT-DONE"
sync
poweroff -f
