/*
 * fuzz_live.c — libFuzzer harness: both ends of the live protocol on any
 * bytes. The client renders agent frames (observations, as a tree and as
 * JSON lines) and checks answers' JSON; the agent parses requests.
 */
#include <stdint.h>
#include <stdio.h>

#include "live/protocol.h"
#include "cli/live_render.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink)
        sink = fopen("/dev/null", "w");
    for (int jsonl = 0; jsonl < 2; jsonl++) {
        struct cs_live_render r = {sink, jsonl, jsonl, "watch", 0, jsonl};
        cs_live_render_observation(&r, data, size);
    }
    /* the client's check of a question's answer */
    cs_json_check((const char *)data, size, 64);
    struct cs_live_request req;
    char err[256];
    cs_live_request_parse((const char *)data, size, &req, err, sizeof err);
    return 0;
}
