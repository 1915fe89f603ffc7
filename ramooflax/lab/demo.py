"""`ramooflax lab demo`: the amd64 guest under the hypervisor, seen from both sides."""

from ramooflax.lab import facts, guest, hv
from ramooflax.lab.machine import Machine, MachineSpec
from ramooflax.lab.progress import say


def _heading(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


DEMO_PROC = "rfx-demo-proc"


def _client_part(machine: Machine) -> bool:
    """The Python client on the control channel: system registers, then a
    process found by name (the original Ramooflax paper's annex). Returns True if found."""
    import time

    from ramooflax import VM, CPUFamily
    from ramooflax.os.linux import Linux

    script = f"/tmp/{DEMO_PROC}"
    machine.run(f"printf '#!/bin/sh\\nwhile :; do sleep 1; done\\n' > {script}; chmod +x {script}")
    machine.run(f"{script} > /dev/null 2>&1 &")
    port = machine.free_ctrl_port()

    _heading("The client: attached to the VM")
    vm = VM(CPUFamily.AMD, f"127.0.0.1:{port}")
    start = time.monotonic()
    vm.attach()
    try:
        status = vm.status()
        print(
            f"VM stopped (all {len(vm.cpus)} vCPUs) in {status.mode.value} mode at rip "
            f"0x{status.rip:x} on vCPU {vm.cpu.index}"
        )
        print(vm.cpus.table())
        _heading("The client: system registers of each vCPU")
        print(vm.cpus.sr_table())
        _heading(f"The client: finding the process {DEMO_PROC!r} by name")
        linux = Linux.from_memory(vm)  # the kernel's kallsyms and BTF, cached by its banner
        if linux.stats is not None:
            print(f"kernel profile from the guest's memory: {linux.stats}")
        found = None

        def cr3_hook(vm: VM) -> bool:
            nonlocal found
            found = linux.find(DEMO_PROC)
            return found is not None

        if not cr3_hook(vm):
            vm.cpu.filter_write_cr(3, cr3_hook)
            vm.resume(timeout=60)
            vm.cpu.release_write_cr(3)
        if found is None:
            print(f"FAIL: no task named like {DEMO_PROC!r}")
            return False
        print(
            f"found {found.comm!r} pid {found.pid}, cr3 0x{found.cr3:x}, on vCPU "
            f"{vm.cpu.index}, {time.monotonic() - start:.2f} s after attach"
        )
        return True
    finally:
        vm.detach()


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
            print(
                f"FAIL: guest usable ranges overlap the VMM range {vmm}: "
                + ", ".join(map(str, clash))
            )
        else:
            print(
                f"OK: no guest usable E820 range overlaps the VMM range {vmm} "
                f"({vmm.size // 1024} KiB)"
            )
        ok = not clash and svm == "0"
        return 0 if _client_part(machine) and ok else 1
    finally:
        say("demo", "powering off")
        machine.stop()
