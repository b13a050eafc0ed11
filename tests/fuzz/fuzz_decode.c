/*
 * fuzz_decode.c — libFuzzer harness: the collector's event decoder and value
 * rendering on any bytes (what a traced process, or anything that can write
 * into the shared-memory ring, hands the collector).
 */
#include <stdint.h>
#include <stdlib.h>

#include "collector/decode.h"
#include "util/textbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cs_textbuf out = {0}, scratch = {0};
    /* A value alone, as text and as JSON. */
    struct cs_reader r = {data, data + size, 0};
    cs_render_value(&r, &out);
    struct cs_reader j = {data, data + size, 0};
    cs_render_value_json(&j, &out, &scratch);
    struct cs_reader k = {data, data + size, 0};
    cs_skip_value(&k);
    /* A stream of events, each followed by what it carries. */
    struct cs_reader e = {data, data + size, 0};
    for (int i = 0; i < 1000 && !e.error && e.p < e.end; i++) {
        struct cs_event ev;
        if (cs_decode_event(&e, &ev) != 0)
            break;
        if (cs_skip_value(&e) != 0)
            break;
    }
    cs_textbuf_free(&out);
    cs_textbuf_free(&scratch);
    return 0;
}
