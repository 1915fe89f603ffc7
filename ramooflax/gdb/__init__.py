"""Stock gdb on the VM, from its first real-mode instruction to long mode.

`ramooflax gdb TARGET` (launch.py) starts the user's gdb with two helpers:

* proxy.py, between gdb and the stub (`target remote | python -m
  ramooflax.gdb.proxy TARGET`): it reports the program counter as the
  linear address CS.base + IP outside 64-bit code, so that gdb's `$pc`,
  `x/i $pc`, breakpoints (Z0/Z1 take linear addresses) and stop locations
  agree in real mode too; and it keeps the session alive while gdb sits at
  its prompt (the VMM drops a client silent for ctrl_timeout);
* extension.py, inside gdb: a disassembler that decodes 16- and 32-bit
  code as such (gdb's x86-64 description would decode it as 64-bit), a
  line with CS:IP and the mode at each stop outside long mode, and the
  `rfx` commands (`rfx regs`, `rfx mode`).

docs/gdb.md is the user's guide.
"""
