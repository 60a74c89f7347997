# Sourced by the linux-guest /init (scripts/linux-guest.sh, WORKDIR/prelude.sh) for the
# boots of scripts/nvdimm-linux.sh, after the NVDIMM modules load: waits until every DIMM
# the host attached (nvdimm_linux.dimms=N on the kernel command line) has its nmem and
# its region registered (QEMU gives each DIMM its own region), then lets every
# asynchronous probe finish, and records the kernel's and ndctl's versions.
want=$(sed -n 's/.*nvdimm_linux.dimms=\([0-9]*\).*/\1/p' /proc/cmdline)
n=0
while [ $n -lt 200 ]; do
  dimms=$(ls -d /sys/bus/nd/devices/nmem* 2>/dev/null | wc -l)
  regions=$(ls -d /sys/bus/nd/devices/region* 2>/dev/null | wc -l)
  [ "$dimms" -ge "${want:-1}" ] && [ "$regions" -ge "${want:-1}" ] && break
  sleep 0.1
  n=$((n + 1))
done
# Reading the bus's wait_probe attribute flushes the region, namespace and btt/pfn/dax
# probes (what libndctl's ndctl_bus_wait_probe does).
for b in /sys/bus/nd/devices/ndbus*; do cat "$b/wait_probe" >/dev/null; done
cat /proc/version >/out/proc-version
ndctl --version >/out/ndctl-version
