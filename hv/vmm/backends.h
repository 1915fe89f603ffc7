/*
 * The backends the VMM image carries; vmm/main.c runs the one setup chose
 * (BOOT_CPU_VMX: an Intel CPU). Nothing else outside a backend's folder
 * names one: core/ and control/ reach it through struct backend_ops.
 */
#ifndef VMM_BACKENDS_H
#define VMM_BACKENDS_H

#include "vmm/core/vm.h"

extern const struct backend_ops svm_ops; /* vmm/svm/ops.c: AMD SVM */
extern const struct backend_ops vmx_ops; /* vmm/vmx/ops.c: Intel VT-x */

#endif
