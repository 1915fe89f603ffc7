"""The lab: a "physical machine" built from QEMU (TCG, emulated AMD-V), a guest
disk made from Debian packages, and the hypervisor booted as a USB key would."""
