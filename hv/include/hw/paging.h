/*
 * x86 page-table entry bits, no logic.
 *
 * AMD APM Vol.2 §5.3.3 (long-mode PTE formats), §5.2 (legacy / 32-bit),
 * §5.4 (PAE); Intel SDM Vol.3A §4.3-4.5.
 *
 *  63  62..52  51 ........................ 12 11..9  8   7   6   5   4   3   2   1   0
 * +---+------+------------------------------+-----+---+---+---+---+---+---+---+---+---+
 * |NX | avl  |  physical address [51:12]    | avl | G |PS | D | A |PCD|PWT| U | W | P |
 * +---+------+------------------------------+-----+---+---+---+---+---+---+---+---+---+
 *
 * PS is only meaningful in PDPTEs (1 GiB leaf) and PDEs (2 MiB / 4 MiB leaf).
 * In a large leaf bit 12 is PAT, so the frame address is masked to the page
 * size alignment.
 */
#ifndef HW_PAGING_H
#define HW_PAGING_H

#define PTE_P         (1ULL << 0)  /* present */
#define PTE_W         (1ULL << 1)  /* writable */
#define PTE_U         (1ULL << 2)  /* user */
#define PTE_PWT       (1ULL << 3)  /* page write-through */
#define PTE_PCD       (1ULL << 4)  /* page cache disable */
#define PTE_A         (1ULL << 5)  /* accessed */
#define PTE_D         (1ULL << 6)  /* dirty (leaf only) */
#define PTE_PS        (1ULL << 7)  /* page size: leaf at PDPT/PD level */
#define PTE_G         (1ULL << 8)  /* global (leaf only) */
#define PTE_PAT_LARGE (1ULL << 12) /* PAT bit of a 2 MiB / 1 GiB leaf */
#define PTE_NX        (1ULL << 63) /* no-execute (EFER.NXE) */

/* 4-level / PAE: physical address bits [51:12] */
#define PTE_ADDR_MASK    0x000ffffffffff000ULL
/* Frame of a 2 MiB leaf: bits [51:21] */
#define PTE_ADDR_2M_MASK 0x000fffffffe00000ULL
/* Frame of a 1 GiB leaf: bits [51:30] */
#define PTE_ADDR_1G_MASK 0x000fffffc0000000ULL
/* Everything that is not the frame address (flags + NX + available bits) */
#define PTE_FLAGS_MASK   (~PTE_ADDR_MASK)

/* Legacy 32-bit paging (APM Vol.2 §5.2): 4 KiB frame in bits [31:12],
 * 4 MiB frame (CR4.PSE, PDE.PS=1) in bits [31:22]. PSE-36 bits [20:13]
 * are ignored by our walker. */
#define PTE32_ADDR_MASK    0xfffff000U
#define PTE32_ADDR_4M_MASK 0xffc00000U

#define PAGE_SHIFT    12
#define PAGE_SIZE     (1ULL << PAGE_SHIFT)
#define PAGE_2M_SHIFT 21
#define PAGE_2M_SIZE  (1ULL << PAGE_2M_SHIFT)
#define PAGE_1G_SHIFT 30
#define PAGE_1G_SIZE  (1ULL << PAGE_1G_SHIFT)

/* Entries per table: 512 for 64-bit entries, 1024 for legacy 32-bit ones. */
#define PT_ENTRIES   512
#define PT32_ENTRIES 1024

/* Index of va at a 4-level table level (1 = PT ... 4 = PML4). */
#define PT_INDEX(va, level) (((va) >> (PAGE_SHIFT + 9 * ((level)-1))) & 0x1ff)

#endif /* HW_PAGING_H */
