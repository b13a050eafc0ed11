/*
 * elf_symbols.h — addresses of symbols inside another process: which file
 * is mapped where (/proc/PID/maps), and the symbol's value in that file's
 * .dynsym or .symtab, read from disk. x86-64 ELF only; no libelf.
 */
#ifndef CALLSCOPE_ATTACH_ELF_SYMBOLS_H
#define CALLSCOPE_ATTACH_ELF_SYMBOLS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A file mapped into a process. */
struct cs_mapped_object {
    char path[PATH_MAX]; /* as /proc/PID/maps shows it */
    uintptr_t start;     /* address of its mapping at file offset 0 */
    uintptr_t bias;      /* added to a symbol's value gives its address */
};

/* Decides whether a path in /proc/PID/maps is the object looked for. */
typedef int (*cs_object_match)(const char *path, const void *ctx);

/* Matches a file whose base name is `ctx` exactly ("libc.so.6"). */
int cs_match_basename(const char *path, const void *ctx);
/* Matches the file whose full path is `ctx`. */
int cs_match_path(const char *path, const void *ctx);

/* The first object in the process's maps that `match` accepts, with its load
 * bias. Returns 0, 1 if none matches, -1 on error (err says why). */
int cs_proc_find_object(pid_t pid, cs_object_match match, const void *ctx, struct cs_mapped_object *out,
                        char *err, size_t errlen);

/* The value of the defined symbol `name` in an ELF file (st_value, before
 * relocation). Returns 0, 1 if the file has no such symbol, -1 on error. */
int cs_elf_symbol_value(const char *file, const char *name, uint64_t *value, char *err, size_t errlen);

/* The address of `name` in the object `obj` as mapped in process `pid`
 * (the file is read through /proc/PID/root so that a target in another
 * mount namespace works too). Returns 0, 1 if not found, -1 on error. */
int cs_proc_symbol_in(pid_t pid, const struct cs_mapped_object *obj, const char *name, uintptr_t *addr,
                      char *err, size_t errlen);

#endif
