"""`ramooflax lab demo`: the amd64 guest under the hypervisor, seen from both sides."""

from ramooflax.lab import facts, guest, hv
from ramooflax.lab.machine import Machine, MachineSpec
from ramooflax.lab.progress import say


def _heading(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def main(mem: str = "512M") -> int:
    guest.ensure("amd64")
    hv.ensure()
    machine = Machine(MachineSpec(guest="amd64", with_hv=True, mem=mem))
    try:
        say("demo", "booting the amd64 guest under the hypervisor ...")
        machine.start()
        say("demo", f"guest shell ready after {machine.wait_ready():.1f} s")

        _heading("The guest's view")
        dmesg = machine.run("dmesg | grep -i e820").output
        ranges = facts.e820(dmesg)
        print("boot E820 map (BIOS-e820):")
        for r in ranges:
            print(f"  {r}")
        svm = machine.run("grep -c -w svm /proc/cpuinfo").output.strip()
        print(f"svm flag: {'absent' if svm == '0' else f'PRESENT ({svm} cpus)'}")

        _heading("The hypervisor's view")
        summary = machine.hv_summary()
        print(summary.rstrip())
        vmm = facts.vmm_range(summary + machine.log_text())
        clash = [r for r in facts.usable(ranges) if r.overlaps(vmm)]
        _heading("Check")
        if clash:
            print(f"FAIL: guest usable ranges overlap the VMM range {vmm}: "
                  + ", ".join(map(str, clash)))  # fmt: skip
        else:
            print(f"OK: no guest usable E820 range overlaps the VMM range {vmm} "
                  f"({vmm.size // 1024} KiB)")  # fmt: skip
        return 1 if clash or svm != "0" else 0
    finally:
        say("demo", "powering off")
        machine.stop()
