/*
 * sql.c — `callscope sql FILE [SQL...]`: SQL on a recording, read only,
 * through callscope's own connection (cs_store_open_readonly), so that
 * whatever that connection registers (the functions and tables the store's
 * views need) is there for the user's SQL too, with no extension to load
 * into another program. Rows print as the sqlite3 shell's list mode, as CSV
 * or as JSON arrays. With no SQL and a terminal on stdin, the sqlite3 shell
 * itself is started on the file, read only.
 *
 * The text printed comes from the recording, that is from the traced
 * program, and may hold anything: on a terminal it is made safe
 * (util/safe_text.h); into a pipe list and CSV output carry its bytes as
 * they are, and JSON is always valid JSON (invalid UTF-8 becomes U+FFFD).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/reader_commands.h"
#include "collector/decode.h"
#include "query/common.h"
#include "store/store.h"
#include "util/json.h"

enum sql_format { FORMAT_LIST, FORMAT_CSV, FORMAT_JSON };

struct sql_options {
    const char *path;
    char **sql; /* the SQL arguments, in order; "-" is standard input */
    int nsql;
    enum sql_format format;
    int header; /* --header: a line of column names first (for json, an array of them) */
    int extension; /* --extension: print the path of callscope's SQLite extension */
    char **args; /* getopt's copy of argv, which path and sql point into */
};

/* One run of SQL texts on an open store. */
struct sql_run {
    sqlite3 *db;
    const struct sql_options *o;
    int terminal; /* stdout is a terminal: text is made safe for it */
    int attach_refused; /* the authorizer refused an ATTACH: the reason for SQLITE_AUTH */
    struct cs_textbuf line, scratch;
};

static void usage(FILE *f)
{
    fputs("usage: callscope sql FILE [SQL...] [--format list|csv|json] [--header]\n"
          "       callscope sql --extension\n"
          "Runs SQL on the recording FILE, read only, and prints the rows. An SQL argument may\n"
          "hold several statements; `-`, or no SQL with standard input not a terminal, reads\n"
          "SQL from standard input. The tables and views (calls, call_view, functions, threads,\n"
          "...) are described in docs/schema.md. Statements that would write are refused.\n"
          "  --format list   columns separated by |, NULL as nothing (the default)\n"
          "  --format csv    RFC 4180: fields quoted where needed, NULL as nothing, '' as \"\",\n"
          "                  lines end in CRLF\n"
          "  --format json   one JSON array per row and line: numbers, strings, null; blobs as hex\n"
          "  --header        a first line of column names (with json: an array of them)\n"
          "SQL that starts with '-' (a comment) goes after --. On a terminal, control characters\n"
          "in text print as \\xNN. SQL only: for the shell's .tables, SELECT name FROM sqlite_schema.\n"
          "With no SQL and standard input a terminal, starts the sqlite3 shell on FILE, read only,\n"
          "with callscope's SQLite extension loaded.\n"
          "  --extension     prints the path of callscope's SQLite extension, which other SQLite\n"
          "                  clients load to read the calls: .load PATH in the sqlite3 shell,\n"
          "                  callscope.connect(FILE) or con.load_extension(PATH) in Python,\n"
          "                  datasette --load-extension PATH\n",
          f);
}

static int parse_format(const char *s, enum sql_format *out)
{
    static const char *const names[] = {"list", "csv", "json"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0)
            return *out = (enum sql_format)i, 0;
    return -1;
}

/* 0, or -1 after printing the error. o->args is to be freed either way. */
static int parse_with(int argc, char **args, struct sql_options *o)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'F'},
        {"header", no_argument, NULL, 'H'},
        {"extension", no_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc + 1, args, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'F':
            if (parse_format(optarg, &o->format) != 0)
                return cs_error("--format is list, csv or json, not '%s'", optarg), -1;
            break;
        case 'H': o->header = 1; break;
        case 'E': o->extension = 1; break;
        case 'h': usage(stdout); free(args); exit(0);
        case ':': return cs_error("%s needs a value", args[optind - 1]), -1;
        default:
            return cs_error("sql: unknown option '%s' (SQL that starts with '-' goes after --; see callscope sql "
                            "--help)", args[optind - 1]), -1;
        }
    }
    if (o->extension)
        return optind < argc + 1 ? (cs_error("sql: --extension takes nothing else"), -1) : 0;
    if (optind >= argc + 1)
        return cs_error("sql: which recording? callscope sql FILE [SQL...]"), -1;
    o->path = args[optind++];
    o->sql = args + optind;
    o->nsql = argc + 1 - optind;
    return 0;
}

static int parse_options(int argc, char **argv, struct sql_options *o)
{
    memset(o, 0, sizeof *o);
    o->args = cs_getopt_argv(argc, argv, "callscope sql");
    if (!o->args)
        return cs_error("out of memory"), -1;
    return parse_with(argc, o->args, o);
}

/* ---- the sqlite3 shell, and callscope's SQLite extension ---- */

/* The path of callscope_sqlite.so (src/store/sqlite_extension.c), which
 * the build puts in the Python package beside the binary's copy. 0, or -1. */
static int find_sqlite_extension(char *out, size_t size)
{
    char root[PATH_MAX];
    return cs_find_package_root(root, sizeof root) == 0 &&
                   snprintf(out, size, "%s/callscope/callscope_sqlite.so", root) < (int)size && access(out, R_OK) == 0
               ? 0
               : -1;
}

/* The most arguments cs_sql_shell_args may put in its argv, NULL included. */
#define SHELL_ARGV_MAX 16

/* Appends a to the NULL-terminated argv of n arguments; -1 if it is full. */
static int add_arg(const char **argv, int *n, const char *a)
{
    if (*n + 1 >= SHELL_ARGV_MAX)
        return -1;
    argv[(*n)++] = a;
    argv[*n] = NULL;
    return 0;
}

/* The command line that starts the sqlite3 shell (at `shell`) on the
 * recording at path, whose name for SQLite is db_name
 * (cs_store_reader_name), into argv; and the one line printed before it
 * starts, into note.
 *
 * "-cmd .load PATH" loads callscope's SQLite extension (its text is kept
 * in load), so that the shell reads the calls as callscope's own
 * connections do. -readonly makes the shell refuse to write; db_name, an
 * immutable URI for a finished recording, keeps it from creating -wal and
 * -shm files beside it. Returns the number of arguments, or -1 if they do
 * not fit in SHELL_ARGV_MAX. */
static int cs_sql_shell_args(const char *shell, const char *db_name, const char *path, const char **argv,
                             struct cs_textbuf *note, struct cs_textbuf *load)
{
    int n = 0;
    if (add_arg(argv, &n, shell) != 0 || add_arg(argv, &n, "-readonly") != 0)
        return -1;
    char extension[PATH_MAX];
    /* The shell's .load takes a double-quoted path; one with a quote or a
     * backslash in it is not given (the calls then cannot be read). */
    int loaded = find_sqlite_extension(extension, sizeof extension) == 0 && !strpbrk(extension, "\"\\");
    if (loaded) {
        cs_textbuf_printf(load, ".load \"%s\"", extension);
        if (load->oom || add_arg(argv, &n, "-cmd") != 0 || add_arg(argv, &n, cs_textbuf_cstr(load)) != 0)
            return -1;
    }
    if (add_arg(argv, &n, db_name) != 0)
        return -1;
    cs_textbuf_printf(note, "callscope: sqlite3 on %s, read only%s (.quit to leave; callscope sql %s 'SQL' reads it "
                      "without the shell)\n", cs_safe(path, (size_t)-1),
                      loaded ? ", with callscope's SQLite extension" : "; callscope's SQLite extension was not found,"
                               " so calls cannot be read",
                      cs_safe(path, (size_t)-1));
    return n;
}

/* The file `name` in a directory of $PATH that may be run, into out; 0, or
 * -1 when there is none. */
static int find_program(const char *name, char *out, size_t size)
{
    const char *env = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", env && *env ? env : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save))
        if (snprintf(out, size, "%s/%s", d, name) < (int)size && access(out, X_OK) == 0)
            return 0;
    return -1;
}

/* Runs the shell as a child, for as long as the copy of the calls it reads
 * must stay (a deferred recording under way: query/common.h); its exit
 * status. The terminal's ^C and ^\ are the shell's to handle. */
static int run_shell_child(const char *shell, const char **argv)
{
    void (*old_int)(int) = signal(SIGINT, SIG_IGN), (*old_quit)(int) = signal(SIGQUIT, SIG_IGN);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        execv(shell, (char *const *)argv);
        cs_error("sql: cannot start %s: %s", shell, strerror(errno));
        _exit(CS_EXIT_FAILURE);
    }
    int status = 0, rc = CS_EXIT_FAILURE;
    if (pid < 0)
        cs_error("sql: cannot start %s: %s", shell, strerror(errno));
    else if (waitpid(pid, &status, 0) == pid && WIFEXITED(status))
        rc = WEXITSTATUS(status);
    signal(SIGINT, old_int);
    signal(SIGQUIT, old_quit);
    return rc;
}

/* Replaces callscope with the sqlite3 shell on the recording; returns only
 * when that cannot be done, with the exit status. A recording under way
 * with --defer-rows is read through the copy of its calls so far (copy,
 * else NULL), which the shell reads as a child of callscope, which then
 * removes it. */
static int start_shell(const struct sql_options *o, const char *copy)
{
    char shell[PATH_MAX], db_name[PATH_MAX * 3 + 32];
    if (find_program("sqlite3", shell, sizeof shell) != 0) {
        cs_error("sql: no SQL given, and the sqlite3 shell is not installed: pass SQL, as in callscope sql %s "
                 "'SELECT count(*) FROM calls', or pipe it in", o->path);
        return CS_EXIT_USAGE;
    }
    if (cs_store_reader_name(copy ? copy : o->path, db_name, sizeof db_name) < 0) {
        cs_error("sql: the name %s is too long for the sqlite3 shell", o->path);
        return CS_EXIT_FAILURE;
    }
    const char *argv[SHELL_ARGV_MAX];
    struct cs_textbuf note = {0}, load = {0};
    if (cs_sql_shell_args(shell, db_name, o->path, argv, &note, &load) < 0 || note.oom) {
        cs_textbuf_free(&note);
        cs_textbuf_free(&load);
        cs_error("out of memory");
        return CS_EXIT_FAILURE;
    }
    fwrite(note.data, 1, note.len, stderr);
    fflush(stderr);
    cs_textbuf_free(&note);
    if (copy) {
        int rc = run_shell_child(shell, argv);
        cs_textbuf_free(&load);
        return rc;
    }
    execv(shell, (char *const *)argv);
    cs_error("sql: cannot start %s: %s", shell, strerror(errno));
    cs_textbuf_free(&load);
    return CS_EXIT_FAILURE;
}

/* ---- printing rows ---- */

/* Text or a blob's bytes for list and CSV output: on a terminal, made
 * valid UTF-8 and then safe, so that no byte of it is a control sequence
 * (a lone 0x9b would be one to a terminal that reads Latin-1). Returns the
 * text to print, valid until the next call. */
static const char *text_for_output(struct sql_run *r, const char *s, size_t *n)
{
    if (!r->terminal)
        return s;
    cs_textbuf_reset(&r->scratch);
    cs_append_utf8_clean(s, *n, &r->scratch);
    const char *safe = cs_safe(r->scratch.data, r->scratch.len);
    *n = strlen(safe);
    return safe;
}

/* A CSV field: quoted when it holds a comma, a quote or a line break, or
 * is empty (so that '' reads apart from NULL, which is written as nothing,
 * as PostgreSQL's CSV does); quotes inside are doubled (RFC 4180). */
static void put_csv_field(struct cs_textbuf *b, const char *s, size_t n)
{
    int quote = n == 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote) {
        cs_textbuf_put(b, s, n);
        return;
    }
    cs_textbuf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            cs_textbuf_putc(b, '"');
        cs_textbuf_putc(b, s[i]);
    }
    cs_textbuf_putc(b, '"');
}

/* One list or CSV field: text as the recording holds it; numbers as
 * SQLite writes them (the sqlite3 shell's list mode does the same). */
static void put_text_field(struct sql_run *r, const char *s, size_t n)
{
    s = text_for_output(r, s, &n);
    if (r->o->format == FORMAT_CSV)
        put_csv_field(&r->line, s, n);
    else
        cs_textbuf_put(&r->line, s, n);
}

static void put_json_real(struct cs_textbuf *b, double v)
{
    /* SQLite has no NaN (it reads as NULL); infinities, which JSON cannot
     * name, are written as a number too large for a double, as SQLite's
     * own JSON functions do. */
    if (v > 1.7976931348623157e308 || v < -1.7976931348623157e308)
        cs_textbuf_puts(b, v > 0 ? "1e999" : "-1e999");
    else
        cs_render_float(v, b); /* repr(): the shortest digits that read back as v */
}

static void put_json_field(struct sql_run *r, sqlite3_stmt *st, int i)
{
    static const char hex[] = "0123456789abcdef";
    struct cs_textbuf *b = &r->line;
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL: cs_textbuf_puts(b, "null"); break;
    case SQLITE_INTEGER: cs_textbuf_int(b, sqlite3_column_int64(st, i)); break;
    case SQLITE_FLOAT: put_json_real(b, sqlite3_column_double(st, i)); break;
    case SQLITE_BLOB: {
        const unsigned char *p = sqlite3_column_blob(st, i);
        int n = sqlite3_column_bytes(st, i);
        cs_textbuf_putc(b, '"');
        for (int k = 0; k < n; k++) {
            cs_textbuf_putc(b, hex[p[k] >> 4]);
            cs_textbuf_putc(b, hex[p[k] & 15]);
        }
        cs_textbuf_putc(b, '"');
        break;
    }
    default: {
        const char *s = (const char *)sqlite3_column_text(st, i);
        int n = sqlite3_column_bytes(st, i);
        cs_textbuf_reset(&r->scratch);
        cs_append_utf8_clean(s ? s : "", s ? (size_t)n : 0, &r->scratch);
        cs_json_string(b, r->scratch.data ? r->scratch.data : "", r->scratch.len);
    }
    }
}

static void put_field(struct sql_run *r, sqlite3_stmt *st, int i)
{
    if (r->o->format == FORMAT_JSON) {
        put_json_field(r, st, i);
        return;
    }
    int type = sqlite3_column_type(st, i);
    if (type == SQLITE_NULL)
        return;
    /* Read before the length: the conversion to text is what gives it. */
    const char *s = type == SQLITE_BLOB ? sqlite3_column_blob(st, i) : (const char *)sqlite3_column_text(st, i);
    int n = sqlite3_column_bytes(st, i);
    put_text_field(r, s ? s : "", s ? (size_t)n : 0);
}

static const char *row_end(const struct sql_run *r)
{
    return r->o->format == FORMAT_CSV ? "\r\n" : "\n";
}

/* Writes the line built so far; 0, or -1 when the buffer ran out of memory. */
static int flush_line(struct sql_run *r)
{
    if (r->line.oom || r->scratch.oom)
        return -1;
    fwrite(r->line.data, 1, r->line.len, stdout);
    cs_textbuf_reset(&r->line);
    return 0;
}

static int put_header(struct sql_run *r, sqlite3_stmt *st)
{
    int ncol = sqlite3_column_count(st);
    int json = r->o->format == FORMAT_JSON;
    if (json)
        cs_textbuf_putc(&r->line, '[');
    for (int i = 0; i < ncol; i++) {
        if (i)
            cs_textbuf_putc(&r->line, r->o->format == FORMAT_LIST ? '|' : ',');
        const char *name = sqlite3_column_name(st, i);
        if (!json) {
            put_text_field(r, name ? name : "", name ? strlen(name) : 0);
            continue;
        }
        cs_textbuf_reset(&r->scratch);
        cs_append_utf8_clean(name ? name : "", name ? strlen(name) : 0, &r->scratch);
        cs_json_string(&r->line, r->scratch.data ? r->scratch.data : "", r->scratch.len);
    }
    if (json)
        cs_textbuf_putc(&r->line, ']');
    cs_textbuf_puts(&r->line, row_end(r));
    return flush_line(r);
}

static int put_row(struct sql_run *r, sqlite3_stmt *st)
{
    int ncol = sqlite3_column_count(st);
    if (r->o->format == FORMAT_JSON)
        cs_textbuf_putc(&r->line, '[');
    for (int i = 0; i < ncol; i++) {
        if (i)
            cs_textbuf_putc(&r->line, r->o->format == FORMAT_CSV ? ',' : r->o->format == FORMAT_JSON ? ',' : '|');
        put_field(r, st, i);
    }
    if (r->o->format == FORMAT_JSON)
        cs_textbuf_putc(&r->line, ']');
    cs_textbuf_puts(&r->line, row_end(r));
    return flush_line(r);
}

/* ---- running statements ---- */

/* A statement's text on one line, spaces squeezed and shortened, to name
 * it in a message. */
static const char *statement_excerpt(const char *sql, char *out, size_t size)
{
    size_t n = 0;
    int space = 1; /* drops the spaces in front, and squeezes the others */
    for (const char *p = sql ? sql : ""; *p && n + 1 < size; p++) {
        int is_space = *p == ' ' || *p == '\n' || *p == '\t' || *p == '\r';
        if (!(is_space && space))
            out[n++] = is_space ? ' ' : *p;
        space = is_space;
    }
    out[n] = 0;
    if (n + 1 == size && size > 4)
        memcpy(out + size - 4, "...", 4);
    return out;
}

/* After SQLite said rc: one line, and the exit status. An SQLITE_ERROR is
 * the statement's fault (a syntax error, no such table, malformed JSON):
 * SQLite's message as it is, and a usage status; anything else (a damaged
 * file, out of memory) is the recording's, said as the other readers say
 * it. */
static int sql_failed(struct sql_run *r, int rc)
{
    fflush(stdout); /* the rows before the error come before it */
    switch (rc & 0xff) {
    case SQLITE_ERROR:
        cs_error("sql: %s", sqlite3_errmsg(r->db));
        return CS_EXIT_USAGE;
    case SQLITE_AUTH:
        if (r->attach_refused) {
            cs_error("sql: refused, ATTACH opens a second file (SQLite would leave -wal and -shm files beside "
                     "it); callscope sql reads FILE alone");
            return CS_EXIT_USAGE;
        }
        cs_error("sql: %s", sqlite3_errmsg(r->db));
        return CS_EXIT_USAGE;
    case SQLITE_READONLY:
        cs_error("sql: the recording is read only here: %s", sqlite3_errmsg(r->db));
        return CS_EXIT_USAGE;
    default:
        cs_error("cannot read %s: %s", r->o->path, cs_db_error(r->db));
        return CS_EXIT_FAILURE;
    }
}

/* SQLite's authorizer: everything but ATTACH. An attached file is not
 * opened the way cs_store_open_readonly opens FILE, and a finished
 * recording attached would get -wal and -shm files beside it. */
static int refuse_attach(void *state, int action, const char *a, const char *b, const char *c, const char *d)
{
    (void)a, (void)b, (void)c, (void)d;
    if (action != SQLITE_ATTACH)
        return SQLITE_OK;
    ((struct sql_run *)state)->attach_refused = 1;
    return SQLITE_DENY;
}

/* Runs one statement and prints its rows; 0 or an exit status. */
static int run_statement(struct sql_run *r, sqlite3_stmt *st)
{
    if (!sqlite3_stmt_readonly(st)) {
        char excerpt[64];
        fflush(stdout);
        cs_error("sql: refused, it would write and callscope sql only reads: %s",
                 statement_excerpt(sqlite3_sql(st), excerpt, sizeof excerpt));
        return CS_EXIT_USAGE;
    }
    if (r->o->header && sqlite3_column_count(st) > 0 && put_header(r, st) != 0)
        return cs_error("out of memory"), CS_EXIT_FAILURE;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (put_row(r, st) != 0)
            return cs_error("out of memory"), CS_EXIT_FAILURE;
    return rc == SQLITE_DONE ? 0 : sql_failed(r, rc);
}

/* Whether the text that failed to compile is a dot-command of the
 * sqlite3 shell (.tables, .schema), which people type out of habit: 1
 * after saying what to do instead. */
static int shell_command(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    if (p == end || *p != '.')
        return 0;
    size_t n = 1;
    while (p + n < end && n < 20 && ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z')))
        n++;
    fflush(stdout);
    cs_error("sql: %.*s is a command of the sqlite3 shell, not SQL: SELECT name, sql FROM sqlite_schema lists the "
             "tables and views (no SQL on a terminal starts the shell)", (int)n, p);
    return 1;
}

/* Runs every statement of sql[0, n) in turn; 0, or the exit status of the
 * first that failed (those before it have printed their rows). */
static int run_text(struct sql_run *r, const char *sql, size_t n)
{
    if (n > INT_MAX) {
        cs_error("sql: the SQL is too long (%zu bytes)", n);
        return CS_EXIT_USAGE;
    }
    const char *p = sql, *end = sql + n;
    while (p < end) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        int rc = sqlite3_prepare_v2(r->db, p, (int)(end - p), &st, &tail);
        if (rc != SQLITE_OK && shell_command(p, end))
            return CS_EXIT_USAGE;
        if (rc != SQLITE_OK)
            return sql_failed(r, rc);
        /* No statement: the rest was comments, spaces or an empty ';'. */
        if (!st) {
            if (!tail || tail <= p)
                break;
            p = tail;
            continue;
        }
        rc = run_statement(r, st);
        sqlite3_finalize(st);
        if (rc != 0)
            return rc;
        p = tail;
    }
    return 0;
}

/* All of standard input into b; 0, or -1 after printing why not. */
static int read_stdin(struct cs_textbuf *b)
{
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        cs_textbuf_put(b, chunk, got);
    if (ferror(stdin))
        return cs_error("sql: cannot read standard input: %s", strerror(errno)), -1;
    if (b->oom)
        return cs_error("out of memory"), -1;
    return 0;
}

static int only_spaces(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return 0;
    return 1;
}

/* Every SQL argument in turn, or standard input when there is none. */
static int run_all(struct sql_run *r)
{
    const struct sql_options *o = r->o;
    struct cs_textbuf in = {0};
    int rc = 0;
    if (o->nsql == 0) {
        rc = read_stdin(&in) != 0 ? CS_EXIT_FAILURE : 0;
        if (rc == 0 && only_spaces(in.data, in.len)) {
            cs_error("sql: no SQL given: pass it after FILE (callscope sql %s 'SELECT ...') or on standard input",
                     o->path);
            rc = CS_EXIT_USAGE;
        }
        if (rc == 0)
            rc = run_text(r, in.data ? in.data : "", in.len);
    }
    for (int i = 0; rc == 0 && i < o->nsql; i++) {
        if (strcmp(o->sql[i], "-") != 0) {
            rc = run_text(r, o->sql[i], strlen(o->sql[i]));
            continue;
        }
        cs_textbuf_reset(&in);
        rc = read_stdin(&in) != 0 ? CS_EXIT_FAILURE : run_text(r, in.data ? in.data : "", in.len);
    }
    cs_textbuf_free(&in);
    return rc;
}

int cs_cmd_sql(int argc, char **argv)
{
    struct sql_options o;
    if (parse_options(argc, argv, &o) != 0) {
        free(o.args);
        return CS_EXIT_USAGE;
    }
    if (o.extension) {
        free(o.args);
        char path[PATH_MAX];
        if (find_sqlite_extension(path, sizeof path) != 0)
            return cs_error("sql: callscope's SQLite extension (callscope_sqlite.so) is not beside this callscope"),
                   CS_EXIT_FAILURE;
        printf("%s\n", path);
        return CS_EXIT_OK;
    }
    sqlite3 *db = cs_open_store(o.path); /* the file's errors first, the shell's after */
    if (!db) {
        free(o.args);
        return CS_EXIT_FAILURE;
    }
    if (o.nsql == 0 && isatty(STDIN_FILENO)) {
        const char *copy = cs_reading_copy_path(db);
        if (!copy)
            cs_close_store(db);
        int rc = start_shell(&o, copy);
        if (copy)
            cs_close_store(db);
        free(o.args);
        return rc;
    }
    struct sql_run r = {.db = db, .o = &o, .terminal = isatty(STDOUT_FILENO)};
    sqlite3_set_authorizer(db, refuse_attach, &r);
    int rc = run_all(&r);
    if (fflush(stdout) != 0 && rc == 0) {
        cs_error("sql: cannot write the rows: %s", strerror(errno));
        rc = CS_EXIT_FAILURE;
    }
    cs_textbuf_free(&r.line);
    cs_textbuf_free(&r.scratch);
    cs_close_store(db);
    free(o.args);
    return rc;
}
