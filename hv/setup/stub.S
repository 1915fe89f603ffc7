/*
 * The VM's first instructions, copied by setup to STUB_BASE in conventional
 * memory. The VM starts here in real mode, inside the machine's own BIOS
 * environment (IVT, BDA and int 13h are those the BIOS set up at POST).
 *
 * The stub reads sector 0 of the BIOS drive patched into stub_drive with
 * int 13h AH=02h and jumps to it at 0:7C00 with DL = that drive, as a BIOS
 * does. We do not use int 19h (the seed paper's choice): SeaBIOS's int 19h
 * boots the first entry of its boot order again -- from a USB key that is
 * the key itself -- and some real BIOSes re-run parts of POST. See
 * docs/boot-stub.md.
 */
#define STUB_BASE 0x600
#define ADDR(sym) (STUB_BASE + (sym - stub_start))

    .section .rodata.stub, "a"
    .code16
    .global stub_start, stub_end, stub_drive
stub_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7c00, %sp
    sti
    mov $3, %si /* tries */
read:
    mov ADDR(stub_drive), %dl
    xor %ah, %ah /* reset the drive */
    int $0x13
    mov ADDR(stub_drive), %dl
    mov $0x0201, %ax /* read one sector */
    mov $0x0001, %cx /* cylinder 0, sector 1 */
    xor %dh, %dh /* head 0 */
    mov $0x7c00, %bx
    int $0x13
    jnc check
    dec %si
    jnz read
    jmp fail
check:
    cmpw $0xaa55, 0x7dfe
    jne fail
    mov ADDR(stub_drive), %dl
    ljmp $0, $0x7c00
fail:
    int $0x18 /* the BIOS's "boot failed" service */
1:  hlt
    jmp 1b
stub_drive:
    .byte 0x80
stub_end:
