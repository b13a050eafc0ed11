/*
 * jsonl.c — `export --format jsonl`: one JSON object per call, the
 * very lines of `show --format jsonl` (both use cs_call_json_line).
 */
#include "export/export.h"

static int jsonl_open(struct cs_export *x, struct cs_export_frame *f, const struct cs_export_frame *parent,
                      sqlite3_stmt *row)
{
    (void)f, (void)parent;
    cs_call_json_line(&x->buf, row, x->thread, x->wall0);
    cs_export_emit(x);
    return 0;
}

static int jsonl_close(struct cs_export *x, struct cs_export_frame *f, const struct cs_export_frame *parent)
{
    (void)x, (void)f, (void)parent;
    return 0;
}

const struct cs_export_format cs_export_jsonl = {
    .name = "jsonl",
    .open = jsonl_open,
    .close = jsonl_close,
};
