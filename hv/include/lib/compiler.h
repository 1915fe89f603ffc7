/*
 * Compiler helpers shared by hv/lib.
 */
#ifndef LIB_COMPILER_H
#define LIB_COMPILER_H

/*
 * GCC turns byte loops into calls to memcpy/memset
 * (-ftree-loop-distribute-patterns), even with -ffreestanding. The kernels
 * have no such symbols (`nm -u vmm.elf` must stay empty), so the few loops
 * that implement those very functions opt out.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define LIB_NO_BUILTIN_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define LIB_NO_BUILTIN_LOOPS
#endif

#define LIB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif /* LIB_COMPILER_H */
