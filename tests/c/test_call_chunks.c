/*
 * test_call_chunks.c — the layouts of a chunk of calls (store/call_chunks.h)
 * as a reader meets them: what each layout's entries mean, chunks written
 * by an older callscope (layout 1), and entries a written chunk never
 * holds, which must read as a corrupt chunk, never as some other call's
 * value; and that the encoder keeps a repeated result once.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "store/call_chunks.h"

/* Three rows' chunk with only ids and results, of the given layout, the
 * result column's entries given as varints. */
static void chunk_of_results(struct cs_textbuf *blob, int layout, const uint64_t *results, const char *const *texts)
{
    struct cs_textbuf col[CS_CHUNK_COLUMNS] = {{0}}, body[2] = {{0}};
    for (int i = 0; i < 3; i++) {
        cs_chunk_put_varint(&col[CS_COL_ID], 1);
        for (int c = CS_COL_PARENT; c < CS_CHUNK_COLUMNS; c++)
            if (c != CS_COL_SELF && c != CS_COL_RESULT)
                cs_chunk_put_varint(&col[c], c == CS_COL_THREAD || c == CS_COL_FUNCTION);
        cs_chunk_put_varint(&col[CS_COL_RESULT], results[i]);
        if (texts[i])
            cs_textbuf_puts(&col[CS_COL_RESULT], texts[i]);
    }
    cs_chunk_put_columns(&body[0], col, 0, CS_COL_ARGS);
    cs_chunk_put_columns(&body[1], col, CS_COL_ARGS, CS_CHUNK_COLUMNS);
    struct cs_chunk_compressor z = {.level = 1};
    char err[128];
    CHECK_INT(cs_chunk_compress(&z, layout, body, 2, blob, err, sizeof err), 0);
    cs_chunk_compressor_free(&z);
    for (int c = 0; c < CS_CHUNK_COLUMNS; c++)
        cs_textbuf_free(&col[c]);
    cs_textbuf_free(&body[0]);
    cs_textbuf_free(&body[1]);
}

/* What each layout's result entries mean, and the entries of layout 2
 * that a written chunk never holds. */
static void test_chunk_layouts(void)
{
    struct cs_textbuf blob = {0};
    struct cs_chunk c = {0};
    char err[256], got[128];
    struct {
        int layout;
        uint64_t results[3];
        const char *texts[3];
        const char *want; /* the rows' results, or the error */
    } cases[] = {
        /* layout 1 (schema 3): an even k is a text of k / 2 - 1 bytes */
        {1, {3 << 1, 2, 5 << 1 | 1}, {"ab", NULL, NULL}, "'ab' '' #5"},
        /* layout 2: 2 is the text of the row before; k / 2 - 2 bytes */
        {2, {4 << 1, 2, 2 << 1}, {"ab", NULL, NULL}, "'ab' 'ab' ''"},
        {2, {4 << 1, 5 << 1 | 1, 2}, {"ab", NULL, NULL}, "corrupt"},
        {2, {2, 4 << 1, 0}, {NULL, "ab", NULL}, "corrupt"},
        {2, {4 << 1, 0, 2}, {"ab", NULL, NULL}, "corrupt"},
        {3, {0, 0, 0}, {NULL, NULL, NULL}, "corrupt"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        chunk_of_results(&blob, cases[k].layout, cases[k].results, cases[k].texts);
        got[0] = '\0';
        if (cs_chunk_decode(&c, blob.data, blob.len, 10, 12, 3, CS_CHUNK_ALL_COLUMNS, err, sizeof err) != 0) {
            CHECK(strstr(err, "corrupt") != NULL);
            snprintf(got, sizeof got, "corrupt");
        } else {
            for (int i = 0; i < c.n; i++) {
                size_t at = strlen(got);
                const struct cs_chunk_row *r = &c.rows[i];
                if (r->result_id)
                    snprintf(got + at, sizeof got - at, "%s#%lld", i ? " " : "", (long long)r->result_id);
                else
                    snprintf(got + at, sizeof got - at, "%s'%.*s'", i ? " " : "", (int)r->result.len,
                             r->result.text ? r->result.text : "");
            }
        }
        CHECK_STR(got, cases[k].want);
    }
    cs_chunk_free(&c);
    cs_textbuf_free(&blob);
}

/* The encoder keeps a result equal to the row before's once: the result
 * column of the chunk it writes holds "ab" once for two rows, and "cd"
 * after them (the bytes the file is spared), and the rows read back with
 * their own results. */
static void test_encoder_keeps_a_repeated_result_once(void)
{
    struct cs_chunk_encoder *e = cs_chunk_encoder_new(1);
    const char *results[] = {"ab", "ab", "cd"};
    for (int i = 0; i < 3; i++) {
        struct cs_chunk_row row = {.id = 10 + i, .thread_id = 1, .function_id = 1,
                                   .result = {results[i], 2, 1}};
        CHECK_INT(cs_chunk_encoder_add(e, &row), i == 1);
    }
    struct cs_textbuf blob = {0};
    int64_t first, last;
    int rows;
    char err[256];
    CHECK_INT(cs_chunk_encoder_finish(e, &blob, &first, &last, &rows, err, sizeof err), 0);
    struct cs_chunk_buffer buffer = {0};
    struct cs_reader col[CS_CHUNK_COLUMNS];
    static const int parts[2] = {CS_COL_ARGS, CS_CHUNK_COLUMNS - CS_COL_ARGS};
    int layout;
    CHECK_INT(cs_chunk_open(blob.data, blob.len, CS_CHUNK_LAYOUT, &layout, 2, parts, 3, &buffer, col, err, sizeof err),
              0);
    CHECK_INT(layout, 2);
    static const unsigned char want[] = {4 << 1, 'a', 'b', 2, 4 << 1, 'c', 'd'};
    CHECK_INT(col[CS_COL_RESULT].end - col[CS_COL_RESULT].p, sizeof want);
    CHECK(memcmp(col[CS_COL_RESULT].p, want, sizeof want) == 0);
    struct cs_chunk c = {0};
    CHECK_INT(cs_chunk_decode(&c, blob.data, blob.len, first, last, rows, CS_CHUNK_ALL_COLUMNS, err, sizeof err), 0);
    for (int i = 0; i < c.n; i++)
        CHECK(c.rows[i].result.len == 2 && memcmp(c.rows[i].result.text, results[i], 2) == 0);
    cs_chunk_free(&c);
    cs_chunk_buffer_free(&buffer);
    cs_textbuf_free(&blob);
    cs_chunk_encoder_free(e);
}

int main(int argc, char **argv)
{
    CHECK_SELECT(argc, argv);
    CHECK_RUN(test_chunk_layouts());
    CHECK_RUN(test_encoder_keeps_a_repeated_result_once());
    return CHECK_REPORT("test_call_chunks");
}
