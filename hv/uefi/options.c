/*
 * The boot options, the same words as the multiboot command line
 * (include/common/cmdline.h). They come from the image's load options
 * (UEFI 2.10 §9.1: LoadOptions, which the shell fills with the command line
 * as UCS-2, the program's own name first), else from ramooflax.cfg in the
 * application's directory (its file path: §10.3.5.4), read through the
 * Simple File System protocol of the device it was loaded from (§13.4,
 * §13.5). Load options that are not printable text -- the binary
 * OptionalData of a Boot#### entry the firmware made itself -- are ignored.
 */
#include "lib/mem.h"
#include "uefi/uefi.h"

#define CFG_NAME "ramooflax.cfg"

/* Keeps the words with '=' (the options); drops the program name and
 * anything else. Returns 0, or -1 if the text is not printable. */
static int take_words(char *out, unsigned size, const char16 *in, unsigned n)
{
    unsigned o = 0, i = 0;
    out[0] = 0;
    while (i < n && in[i]) {
        if (in[i] != ' ' && in[i] != '\t' && (in[i] < 0x20 || in[i] > 0x7e))
            return -1;
        i++;
    }
    n = i;
    for (i = 0; i < n;) {
        while (i < n && (in[i] == ' ' || in[i] == '\t'))
            i++;
        unsigned start = i, eq = 0;
        while (i < n && in[i] != ' ' && in[i] != '\t')
            eq |= in[i++] == '=';
        if (!eq || i == start || o + (i - start) + 2 > size)
            continue;
        if (o)
            out[o++] = ' ';
        for (unsigned k = start; k < i; k++)
            out[o++] = (char)in[k];
        out[o] = 0;
    }
    return 0;
}

static const struct efi_guid loaded_image_guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
static const struct efi_guid sfs_guid = EFI_SIMPLE_FILE_SYSTEM_PROTOCOL_GUID;

/* The application's file path with its last component replaced by
 * CFG_NAME, as UCS-2; -1 if the device path carries no file path. */
static int cfg_path(const struct efi_loaded_image *li, char16 *out, unsigned max)
{
    unsigned n = 0;
    for (const struct efi_device_path *dp = li->file_path; dp && dp->type != EFI_DP_END;) {
        unsigned len = dp->length[0] | dp->length[1] << 8;
        if (len < sizeof(*dp))
            return -1;
        if (dp->type == EFI_DP_MEDIA && dp->subtype == EFI_DP_MEDIA_FILE) {
            const char16 *s = (const char16 *)(dp + 1);
            for (unsigned i = 0; i < (len - sizeof(*dp)) / 2 && s[i]; i++) {
                if (n && out[n - 1] == '\\' && s[i] == '\\')
                    continue;
                if (n + 1 >= max)
                    return -1;
                out[n++] = s[i];
            }
            if (n && out[n - 1] != '\\' && n + 1 < max)
                out[n++] = '\\'; /* a path may come in several nodes */
        }
        dp = (const struct efi_device_path *)((const uint8_t *)dp + len);
    }
    if (!n)
        return -1;
    n--; /* the separator added after the last node */
    while (n && out[n - 1] != '\\')
        n--;
    const char *name = CFG_NAME;
    if (n + lib_strlen(name) + 1 > max)
        return -1;
    for (unsigned i = 0; name[i]; i++)
        out[n++] = (char16)name[i];
    out[n] = 0;
    return 0;
}

static void read_cfg(const struct efi_loaded_image *li, char *out, unsigned size)
{
    struct efi_boot_services *bs = uefi_st->boot_services;
    struct efi_simple_file_system *fs;
    struct efi_file *root, *f;
    char16 path[128], text[256];
    char raw[256];
    uint64_t len = sizeof(raw) - 1;

    if (cfg_path(li, path, sizeof(path) / sizeof(path[0])) ||
        bs->handle_protocol(li->device_handle, &sfs_guid, (void **)&fs) != EFI_SUCCESS ||
        fs->open_volume(fs, &root) != EFI_SUCCESS)
        return;
    if (root->open(root, &f, path, EFI_FILE_MODE_READ, 0) == EFI_SUCCESS) {
        if (f->read(f, &len, raw) == EFI_SUCCESS && len < sizeof(raw)) {
            unsigned i;
            for (i = 0; i < len; i++) /* lines are words too */
                text[i] = raw[i] == '\n' || raw[i] == '\r' ? ' ' : (unsigned char)raw[i];
            if (take_words(out, size, text, (unsigned)len))
                uefi_print("ramooflax: %s is not text: ignored\n", CFG_NAME);
            else
                uefi_print("ramooflax: options from %s\n", CFG_NAME);
        }
        f->close(f);
    }
    root->close(root);
}

void uefi_read_options(char *out, unsigned size)
{
    struct efi_loaded_image *li;

    out[0] = 0;
    if (uefi_st->boot_services->handle_protocol(uefi_image, &loaded_image_guid, (void **)&li) !=
        EFI_SUCCESS)
        return;
    if (li->load_options && li->load_options_size >= 2 &&
        !take_words(out, size, li->load_options, li->load_options_size / 2) && out[0]) {
        uefi_print("ramooflax: options from the load options\n");
        return;
    }
    read_cfg(li, out, size);
}
