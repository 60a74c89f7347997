# Sourced by scripts/test.sh and .ci/run: every optional feature that has code and tests
# of its own (the `lsa` and `pt-virt` tools, nvdimm-label's guest-memory storage and ACPI
# tables, x2apic-virt's ACPI tables and KVM glue, pt-virt's KVM MSR lists and vm-memory
# adapter; nostd-check's alloc and acpi halves, so they are linted). The workspace is tested, linted and documented once with all of them on, so
# each Linux boot test runs once.
# shellcheck shell=bash
all_features=nvdimm-label/cli,nvdimm-label/vm-memory,nvdimm-label/acpi,x2apic-virt/kvm,x2apic-virt/acpi,pt-virt/cli,pt-virt/kvm,pt-virt/vm-memory,nostd-check/acpi
