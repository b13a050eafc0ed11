/*
 * elf_symbols.c — find where a symbol of a mapped ELF object lives in
 * another process.
 *
 * The file is mapped read-only here and its section headers walked for
 * .dynsym and .symtab; the load bias comes from the address at which the
 * target mapped the file's first PT_LOAD segment.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach/elf_symbols.h"

/* An ELF file mapped into this process for reading. */
struct elf_file {
    const unsigned char *data;
    size_t size;
};

static int elf_open(const char *path, struct elf_file *f, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        snprintf(err, errlen, "%s is not an ELF file", path);
        close(fd);
        return -1;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    f->data = p;
    f->size = (size_t)st.st_size;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f->data;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_machine != EM_X86_64) {
        snprintf(err, errlen, "%s is not an x86-64 ELF file", path);
        munmap(p, f->size);
        return -1;
    }
    return 0;
}

static void elf_close(struct elf_file *f)
{
    munmap((void *)f->data, f->size);
}

/* Whether [off, off + len) lies inside the file. */
static int in_file(const struct elf_file *f, uint64_t off, uint64_t len)
{
    return off <= f->size && len <= f->size - off;
}

static const Elf64_Shdr *section(const struct elf_file *f, unsigned i)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f->data;
    if (eh->e_shentsize != sizeof(Elf64_Shdr) || i >= eh->e_shnum ||
        !in_file(f, eh->e_shoff + (uint64_t)i * sizeof(Elf64_Shdr), sizeof(Elf64_Shdr)))
        return NULL;
    return (const Elf64_Shdr *)(f->data + eh->e_shoff + (uint64_t)i * sizeof(Elf64_Shdr));
}

/* Looks `name` up in one symbol table. A versioned library may define the
 * same name several times (dlopen@GLIBC_2.2.5, dlopen@@GLIBC_2.34): the
 * default version wins, any defined one otherwise. */
static int lookup_in_table(const struct elf_file *f, unsigned idx, const char *name, uint64_t *value)
{
    const Elf64_Shdr *sh = section(f, idx);
    if (!sh || sh->sh_entsize != sizeof(Elf64_Sym) || !in_file(f, sh->sh_offset, sh->sh_size))
        return 1;
    const Elf64_Shdr *strs = section(f, sh->sh_link);
    if (!strs || !in_file(f, strs->sh_offset, strs->sh_size))
        return 1;
    const Elf64_Half *versym = NULL;
    if (sh->sh_type == SHT_DYNSYM) {
        const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f->data;
        for (unsigned i = 0; i < eh->e_shnum; i++) {
            const Elf64_Shdr *v = section(f, i);
            if (v && v->sh_type == SHT_GNU_versym && v->sh_link == idx && in_file(f, v->sh_offset, v->sh_size))
                versym = (const Elf64_Half *)(f->data + v->sh_offset);
        }
    }
    const Elf64_Sym *syms = (const Elf64_Sym *)(f->data + sh->sh_offset);
    size_t n = sh->sh_size / sizeof(Elf64_Sym);
    const char *strtab = (const char *)f->data + strs->sh_offset;
    size_t namelen = strlen(name);
    int found = 0;
    for (size_t i = 1; i < n; i++) {
        const Elf64_Sym *s = &syms[i];
        if (s->st_shndx == SHN_UNDEF || s->st_name + namelen >= strs->sh_size)
            continue;
        if (memcmp(strtab + s->st_name, name, namelen + 1) != 0)
            continue;
        int type = ELF64_ST_TYPE(s->st_info);
        if (type != STT_FUNC && type != STT_OBJECT && type != STT_GNU_IFUNC)
            continue;
        int hidden = versym && (versym[i] & 0x8000);
        if (!found || !hidden)
            *value = s->st_value;
        found = 1;
        if (!hidden)
            break;
    }
    return found ? 0 : 1;
}

int cs_elf_symbol_value(const char *file, const char *name, uint64_t *value, char *err, size_t errlen)
{
    struct elf_file f;
    if (elf_open(file, &f, err, errlen) != 0)
        return -1;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f.data;
    int rc = 1;
    /* .dynsym first: what the dynamic linker itself would find. */
    unsigned types[] = {SHT_DYNSYM, SHT_SYMTAB};
    for (unsigned t = 0; t < 2 && rc != 0; t++)
        for (unsigned i = 0; i < eh->e_shnum && rc != 0; i++) {
            const Elf64_Shdr *sh = section(&f, i);
            if (sh && sh->sh_type == types[t])
                rc = lookup_in_table(&f, i, name, value);
        }
    elf_close(&f);
    if (rc == 1)
        snprintf(err, errlen, "%s has no symbol %s", file, name);
    return rc;
}

/* The difference between a file's link-time addresses and the addresses it
 * was mapped at, given where its offset-0 page landed. */
static int load_bias(const char *file, uintptr_t start, uintptr_t *bias, char *err, size_t errlen)
{
    struct elf_file f;
    if (elf_open(file, &f, err, errlen) != 0)
        return -1;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f.data;
    int rc = -1;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        uint64_t off = eh->e_phoff + (uint64_t)i * sizeof(Elf64_Phdr);
        if (eh->e_phentsize != sizeof(Elf64_Phdr) || !in_file(&f, off, sizeof(Elf64_Phdr)))
            break;
        const Elf64_Phdr *ph = (const Elf64_Phdr *)(f.data + off);
        if (ph->p_type == PT_LOAD) {
            uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
            *bias = start - (uintptr_t)((ph->p_vaddr - ph->p_offset) & ~(page - 1));
            rc = 0;
            break;
        }
    }
    elf_close(&f);
    if (rc != 0)
        snprintf(err, errlen, "%s has no loadable segment", file);
    return rc;
}

int cs_match_basename(const char *path, const void *ctx)
{
    const char *slash = strrchr(path, '/');
    return strcmp(slash ? slash + 1 : path, (const char *)ctx) == 0;
}

int cs_match_path(const char *path, const void *ctx)
{
    return strcmp(path, (const char *)ctx) == 0;
}

/* The file to read for a path seen in the target's maps. */
static void path_in_target(pid_t pid, const char *path, char *out, size_t size)
{
    snprintf(out, size, "/proc/%d/root%s", (int)pid, path);
    if (access(out, R_OK) != 0)
        snprintf(out, size, "%s", path);
}

int cs_proc_find_object(pid_t pid, cs_object_match match, const void *ctx, struct cs_mapped_object *out,
                        char *err, size_t errlen)
{
    char maps[64];
    snprintf(maps, sizeof maps, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(maps, "re");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", maps, strerror(errno));
        return -1;
    }
    char line[PATH_MAX + 256];
    int rc = 1;
    while (fgets(line, sizeof line, f)) {
        unsigned long start, end, offset;
        int path_at = 0;
        if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %n", &start, &end, &offset, &path_at) < 3 || !path_at)
            continue;
        char *path = line + path_at;
        path[strcspn(path, "\n")] = 0;
        size_t len = strlen(path);
        const char *deleted = " (deleted)";
        if (len > strlen(deleted) && !strcmp(path + len - strlen(deleted), deleted))
            path[len - strlen(deleted)] = 0;
        if (path[0] != '/' || offset != 0 || !match(path, ctx))
            continue;
        if (strlen(path) >= sizeof out->path) {
            snprintf(err, errlen, "path too long in %s", maps);
            rc = -1;
            break;
        }
        snprintf(out->path, sizeof out->path, "%s", path);
        out->start = start;
        char file[PATH_MAX + 64];
        path_in_target(pid, path, file, sizeof file);
        rc = load_bias(file, start, &out->bias, err, errlen) == 0 ? 0 : -1;
        break;
    }
    fclose(f);
    return rc;
}

int cs_proc_symbol_in(pid_t pid, const struct cs_mapped_object *obj, const char *name, uintptr_t *addr,
                      char *err, size_t errlen)
{
    char file[PATH_MAX + 64];
    path_in_target(pid, obj->path, file, sizeof file);
    uint64_t value;
    int rc = cs_elf_symbol_value(file, name, &value, err, errlen);
    if (rc == 0)
        *addr = obj->bias + (uintptr_t)value;
    else if (rc == 1)
        snprintf(err, errlen, "%s has no symbol %s", obj->path, name);
    return rc;
}
