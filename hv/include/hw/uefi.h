/*
 * The few UEFI definitions the application uses, from the UEFI
 * Specification 2.10. Only the members it calls are typed; the others are
 * opaque pointers that keep the tables' layout. UEFI calls use the
 * Microsoft x64 convention (§2.3.4.2 "Detailed Calling Convention").
 */
#ifndef HW_UEFI_H
#define HW_UEFI_H

#include <stdint.h>

#define EFIAPI __attribute__((ms_abi))

typedef uint64_t efi_status;
typedef void *efi_handle;
typedef uint16_t char16;

/* Appendix D "Status Codes": errors have the top bit set. */
#define EFI_SUCCESS           0ull
#define EFI_ERR(n)            ((1ull << 63) | (n))
#define EFI_LOAD_ERROR        EFI_ERR(1)
#define EFI_INVALID_PARAMETER EFI_ERR(2)
#define EFI_UNSUPPORTED       EFI_ERR(3)
#define EFI_BUFFER_TOO_SMALL  EFI_ERR(5)
#define EFI_OUT_OF_RESOURCES  EFI_ERR(9)
#define EFI_NOT_FOUND         EFI_ERR(14)
#define EFI_ABORTED           EFI_ERR(21)

struct efi_guid {
    uint32_t d1;
    uint16_t d2, d3;
    uint8_t d4[8];
};

/* §4.2 "EFI Table Header" */
struct efi_table_header {
    uint64_t signature;
    uint32_t revision, header_size, crc32, reserved;
};

/* §12.4 "Simple Text Output Protocol" */
struct efi_text_out {
    void *reset;
    efi_status(EFIAPI *output_string)(struct efi_text_out *self, const char16 *s);
};

/* §7.2 "Memory Allocation Services": EFI_MEMORY_TYPE, EFI_ALLOCATE_TYPE,
 * EFI_MEMORY_DESCRIPTOR (walked with the descriptor size GetMemoryMap
 * returns, never sizeof). */
enum efi_memory_type {
    EFI_RESERVED_MEMORY,
    EFI_LOADER_CODE,
    EFI_LOADER_DATA,
    EFI_BOOT_SERVICES_CODE,
    EFI_BOOT_SERVICES_DATA,
    EFI_RUNTIME_SERVICES_CODE,
    EFI_RUNTIME_SERVICES_DATA,
    EFI_CONVENTIONAL_MEMORY,
    EFI_UNUSABLE_MEMORY,
    EFI_ACPI_RECLAIM_MEMORY,
    EFI_ACPI_MEMORY_NVS,
    EFI_MEMORY_MAPPED_IO,
    EFI_MEMORY_MAPPED_IO_PORT_SPACE,
    EFI_PAL_CODE,
    EFI_PERSISTENT_MEMORY,
};
enum efi_allocate_type { EFI_ALLOCATE_ANY_PAGES, EFI_ALLOCATE_MAX_ADDRESS, EFI_ALLOCATE_ADDRESS };

struct efi_memory_descriptor {
    uint32_t type;
    uint32_t pad;
    uint64_t physical_start;
    uint64_t virtual_start;
    uint64_t number_of_pages;
    uint64_t attribute;
};

/* §4.4 "EFI Boot Services Table" (members in the specification's order) */
struct efi_boot_services {
    struct efi_table_header hdr;
    void *raise_tpl, *restore_tpl;
    efi_status(EFIAPI *allocate_pages)(uint32_t type, uint32_t memory_type, uint64_t pages,
                                       uint64_t *address);
    efi_status(EFIAPI *free_pages)(uint64_t address, uint64_t pages);
    efi_status(EFIAPI *get_memory_map)(uint64_t *size, struct efi_memory_descriptor *map,
                                       uint64_t *key, uint64_t *desc_size, uint32_t *desc_version);
    efi_status(EFIAPI *allocate_pool)(uint32_t memory_type, uint64_t size, void **buffer);
    efi_status(EFIAPI *free_pool)(void *buffer);
    void *create_event, *set_timer, *wait_for_event, *signal_event, *close_event, *check_event;
    void *install_protocol_interface, *reinstall_protocol_interface;
    void *uninstall_protocol_interface;
    efi_status(EFIAPI *handle_protocol)(efi_handle handle, const struct efi_guid *protocol,
                                        void **interface);
};

/* §4.6 "EFI Configuration Table" */
struct efi_configuration_table {
    struct efi_guid guid;
    void *table;
};
/* §4.6.1.1: the ACPI 2.0+ RSDP (and the ACPI 1.0 one) */
#define EFI_ACPI_20_TABLE_GUID                                                                     \
    {                                                                                              \
        0x8868e871, 0xe4f1, 0x11d3, { 0xbc, 0x22, 0x00, 0x80, 0xc7, 0x3c, 0x88, 0x81 }             \
    }
#define EFI_ACPI_10_TABLE_GUID                                                                     \
    {                                                                                              \
        0xeb9d2d30, 0x2d88, 0x11d3, { 0x9a, 0x16, 0x00, 0x90, 0x27, 0x3f, 0xc1, 0x4d }             \
    }

/* §4.3 "EFI System Table" */
struct efi_system_table {
    struct efi_table_header hdr;
    char16 *firmware_vendor;
    uint32_t firmware_revision;
    efi_handle console_in_handle;
    void *con_in;
    efi_handle console_out_handle;
    struct efi_text_out *con_out;
    efi_handle standard_error_handle;
    struct efi_text_out *std_err;
    void *runtime_services;
    struct efi_boot_services *boot_services;
    uint64_t number_of_table_entries;
    struct efi_configuration_table *configuration_table;
};

/* §10.2 "EFI Device Path Protocol": the node header; §10.3.5.4 "File Path
 * Media Device Path" (type 4, subtype 4) carries a UCS-2 path. */
struct efi_device_path {
    uint8_t type, subtype;
    uint8_t length[2];
};
#define EFI_DP_MEDIA      4
#define EFI_DP_MEDIA_FILE 4
#define EFI_DP_END        0x7f

/* §9.1 "EFI Loaded Image Protocol" */
#define EFI_LOADED_IMAGE_PROTOCOL_GUID                                                             \
    {                                                                                              \
        0x5b1b31a1, 0x9562, 0x11d2, { 0x8e, 0x3f, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b }             \
    }
struct efi_loaded_image {
    uint32_t revision;
    efi_handle parent_handle;
    struct efi_system_table *system_table;
    efi_handle device_handle;
    struct efi_device_path *file_path;
    void *reserved;
    uint32_t load_options_size;
    void *load_options;
    void *image_base;
    uint64_t image_size;
    uint32_t image_code_type, image_data_type;
    void *unload;
};

/* §13.4 "Simple File System Protocol", §13.5 "File Protocol" */
#define EFI_SIMPLE_FILE_SYSTEM_PROTOCOL_GUID                                                       \
    {                                                                                              \
        0x964e5b22, 0x6459, 0x11d2, { 0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b }             \
    }
struct efi_file {
    uint64_t revision;
    efi_status(EFIAPI *open)(struct efi_file *self, struct efi_file **out, const char16 *name,
                             uint64_t mode, uint64_t attributes);
    efi_status(EFIAPI *close)(struct efi_file *self);
    void *delete_;
    efi_status(EFIAPI *read)(struct efi_file *self, uint64_t *size, void *buffer);
};
#define EFI_FILE_MODE_READ 1ull
struct efi_simple_file_system {
    uint64_t revision;
    efi_status(EFIAPI *open_volume)(struct efi_simple_file_system *self, struct efi_file **root);
};

_Static_assert(__builtin_offsetof(struct efi_system_table, boot_services) == 96,
               "§4.3: BootServices follows RuntimeServices");
_Static_assert(__builtin_offsetof(struct efi_boot_services, handle_protocol) == 24 + 16 * 8,
               "§4.4: HandleProtocol is the 17th service");
_Static_assert(__builtin_offsetof(struct efi_loaded_image, load_options) == 56,
               "§9.1: LoadOptions after LoadOptionsSize");
_Static_assert(sizeof(struct efi_memory_descriptor) == 40, "§7.2: EFI_MEMORY_DESCRIPTOR");

#endif
