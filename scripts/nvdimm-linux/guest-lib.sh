# Shell functions for guest scripts of scripts/nvdimm-linux.sh (busybox sh, run as root
# in the guest). Shared by the `fixtures` mode and crates/nvdimm-label/tests/linux_qemu.rs,
# so the checked-in fixtures and the live test run the same ndctl recipe.

# region_of nmemN: the region whose first mapping is on that DIMM (QEMU gives every
# DIMM its own one-way region).
region_of() {
  for r in /sys/bus/nd/devices/region*; do
    case "$(cat "$r/mapping0")" in "$1",*) basename "$r" ;; esac
  done
}

# dump nmemN TAG: ndctl's view of one DIMM into /out/TAG.read-labels.json (the LSA
# slot by slot), /out/TAG.list-N.json (the namespaces Linux assembled) and
# /out/TAG.list-R.json (the region, with its interleave-set cookie iset_id).
dump() {
  r=$(region_of "$1")
  ndctl read-labels -j "$1" >"/out/$2.read-labels.json"
  ndctl list -N -v -r "$r" >"/out/$2.list-N.json"
  ndctl list -R -v -r "$r" >"/out/$2.list-R.json"
}

# ndctl_recipe nmemN VERSION SUFFIX: ndctl init-labels -V VERSION (1.1 or 1.2) on the
# DIMM, then namespaces of every kind, named KIND-SUFFIX, and one created and destroyed
# again (its labels stay behind in freed slots).
ndctl_recipe() {
  r=$(region_of "$1")
  ndctl disable-region "$r"
  ndctl init-labels -f -V "$2" "$1"
  ndctl enable-region "$r"
  ndctl create-namespace -r "$r" -m fsdax -M mem -s 64M -n "fsdax-$3" >/dev/null
  ndctl create-namespace -r "$r" -m devdax -a 2M -s 32M -n "devdax-$3" >/dev/null
  ndctl create-namespace -r "$r" -m raw -s 16M -n "raw-$3" >/dev/null
  ndctl create-namespace -r "$r" -m sector -l 4096 -s 32M -n "sector-$3" >/dev/null
  gone=$(ndctl create-namespace -r "$r" -m raw -s 16M -n "gone-$3" |
    sed -n 's/.*"dev":"\(namespace[0-9.]*\)".*/\1/p')
  ndctl destroy-namespace -f "$gone"
}
