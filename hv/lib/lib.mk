# hv/lib: freestanding code shared by the kernels and the host unit tests.
#
# The including Makefile sets HV_DIR to the hv/ directory and compiles with
# -I$(HV_DIR)/include, so sources include "lib/xxx.h" and "hw/xxx.h".
#
#   LIB_SRCS  every C source of the library
#   LIB_HDRS  its headers (for dependency rules)

LIB_DIR  := $(HV_DIR)/lib
LIB_SRCS := $(wildcard $(LIB_DIR)/*.c)
LIB_HDRS := $(wildcard $(HV_DIR)/include/lib/*.h) $(wildcard $(HV_DIR)/include/hw/paging.h) \
            $(wildcard $(HV_DIR)/include/hw/vmcs.h)
