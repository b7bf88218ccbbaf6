/*
 * fuzz_rpc.c - libFuzzer target over what a peer can send on the server
 * port's forwarding RPC: the stream reader, then the request and response
 * decoders on every frame it yields (and a re-encode of what decoded, which
 * must decode to the same bytes). Build: make fuzz-rpc.
 */
#include "tb_autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "endpoint/rpc_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tb__rpc_reader_t rd = {0};
    /* feed in two pieces so reassembly across reads is covered */
    size_t cut = size ? data[0] % (size + 1) : 0;
    const uint8_t *pieces[2] = {data, data + cut};
    size_t lens[2] = {cut, size - cut};
    for (int k = 0; k < 2; k++) {
        size_t got;
        uint8_t *p = tb__rpc_reader_space(&rd, lens[k] ? lens[k] : 1, &got);
        if (!p) break;
        memcpy(p, pieces[k], lens[k]);
        rd.len += lens[k];
        tb__rpc_frame_t f;
        const char *err;
        int rc;
        while ((rc = tb__rpc_reader_next(&rd, &f, &err)) == 1) {
            tb__rpc_req_t q;
            tb__rpc_resp_t r;
            if (f.type == TB__RPC_REQ && tb__rpc_dec_req(f.payload, f.len, &q) == 0) {
                tb__buf_t b = {0};
                if (tb__rpc_enc_req(&b, f.id, &q) == 0 &&
                    (b.len != f.len + TB__RPC_HDR ||
                     memcmp(b.data + TB__RPC_HDR, f.payload, f.len) != 0))
                    abort();
                free(b.data);
            }
            if (f.type == TB__RPC_RESP && tb__rpc_dec_resp(f.payload, f.len, &r) == 0) {
                tb__buf_t b = {0};
                if (tb__rpc_enc_resp(&b, f.id, &r.r, r.json, r.json_len) == 0 &&
                    (b.len != f.len + TB__RPC_HDR ||
                     memcmp(b.data + TB__RPC_HDR, f.payload, f.len) != 0))
                    abort();
                free(b.data);
                tb__rpc_resp_clear(&r);
            }
        }
        if (rc < 0) break;
    }
    tb__rpc_reader_free(&rd);
    return 0;
}
