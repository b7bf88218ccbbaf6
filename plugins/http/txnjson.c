/*
 * txnjson.c - big uint64 literals in and out of /v1/txn bodies (see
 * txnjson.h). The scan tracks only "inside a string" and escapes, which
 * is all it needs to find number tokens in any JSON text.
 */
#include "txnjson.h"

#include <string.h>

/* digits (no sign, no fraction/exponent) strictly above INT64_MAX and at
 * most UINT64_MAX */
static int is_big(const char *p, size_t n)
{
    static const char i64max[] = "9223372036854775807";
    static const char u64max[] = "18446744073709551615";
    if (n == 0 || p[0] == '0' || n < 19 || n > 20)
        return 0;
    if (n == 19)
        return memcmp(p, i64max, 19) > 0;
    return memcmp(p, u64max, 20) <= 0;
}

static int is_num_char(char c)
{
    return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-';
}

int tbh_txn_mark_bigints(const char *in, size_t len, tbh_buf_t *out)
{
    size_t i = 0, start = 0;
    int in_str = 0;
    while (i < len) {
        char c = in[i];
        if (in_str) {
            if (c == '\\')
                i += 2;
            else {
                if (c == '"')
                    in_str = 0;
                i++;
            }
            continue;
        }
        if (c == '"') {
            in_str = 1;
            i++;
            continue;
        }
        if (is_num_char(c)) {
            size_t j = i;
            while (j < len && is_num_char(in[j]))
                j++;
            if (is_big(in + i, j - i)) {
                tbh_buf_add(out, in + start, i - start);
                tbh_buf_adds(out, "\"\\u0001");
                tbh_buf_add(out, in + i, j - i);
                tbh_buf_addc(out, '"');
                start = j;
            }
            i = j;
            continue;
        }
        i++;
    }
    tbh_buf_add(out, in + start, len - start);
    return out->failed ? -1 : 0;
}

void tbh_txn_unmark(tbh_buf_t *b)
{
    static const char mark[] = "\"\\u0001";
    const size_t ml = sizeof(mark) - 1;
    if (!b->data)
        return;
    size_t r = 0, w = 0;
    while (r < b->len) {
        if (b->len - r > ml && memcmp(b->data + r, mark, ml) == 0) {
            size_t j = r + ml;
            while (j < b->len && b->data[j] >= '0' && b->data[j] <= '9')
                j++;
            if (j > r + ml && j < b->len && b->data[j] == '"') {
                memmove(b->data + w, b->data + r + ml, j - r - ml);
                w += j - r - ml;
                r = j + 1;
                continue;
            }
        }
        b->data[w++] = b->data[r++];
    }
    b->len = w;
    b->data[w] = 0;
}
