/*
 * filter.c - Consul's ?filter expressions (the go-bexpr subset of
 * spec/http-api.md §1.2) and ?node-meta, applied by the endpoint layer to
 * the JSON result of list reads, so every surface gets them alike.
 *
 * Grammar (keywords case-sensitive, as go-bexpr):
 *   expr    := and ("or" and)*
 *   and     := unary ("and" unary)*
 *   unary   := "not" unary | "(" expr ")" | match
 *   match   := sel ("==" | "!=") value
 *            | sel ["not"] ("contains" | "matches") value
 *            | value ["not"] "in" sel
 *            | sel "is" ["not"] "empty"
 *   sel     := ident ("." ident | "[" string "]")*
 *   value   := "double quoted" | `raw` | bare word (number, true, ...)
 * Selectors name result fields (Service.Tags, Node.Meta.env, Meta.k);
 * values compare as text (numbers and booleans in their JSON spelling).
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "endpoint/filter.h"
#include "endpoint/endpoint_int.h"

enum node_kind { N_AND, N_OR, N_NOT, N_EQ, N_NE, N_CONTAINS, N_MATCHES, N_EMPTY };

typedef struct fnode {
    enum node_kind kind;
    int negate;            /* "not contains", "not in", "not matches", "is not empty" */
    struct fnode *a, *b;   /* AND/OR/NOT children */
    char **sel;            /* selector path, NULL-terminated */
    char *value;
    regex_t re;
    int have_re;
} fnode_t;

struct tb__filter {
    fnode_t *root;
};

/* ------------------------------------------------------------ lexer */

typedef struct lex {
    const char *s;
    size_t pos;
    char *err;
} lex_t;

typedef enum tok { T_EOF, T_WORD, T_STR, T_LP, T_RP, T_EQ, T_NE, T_DOT, T_LB, T_RB, T_BAD } tok_t;

static void skip_ws(lex_t *l)
{
    while (l->s[l->pos] == ' ' || l->s[l->pos] == '\t' || l->s[l->pos] == '\n' ||
           l->s[l->pos] == '\r')
        l->pos++;
}

static int word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '/' || c == ':' || c == '+';
}

static void set_err(lex_t *l, const char *what)
{
    if (l->err)
        return;
    char buf[256];
    snprintf(buf, sizeof(buf), "Failed to create boolean expression evaluator: 1:%zu: %s",
             l->pos + 1, what);
    l->err = strdup(buf);
}

/* Peek the next token; text (malloc'd) for words and strings. */
static tok_t next(lex_t *l, char **text, int consume)
{
    skip_ws(l);
    size_t start = l->pos;
    const char *s = l->s + start;
    tok_t t;
    size_t len = 1;
    if (text)
        *text = NULL;
    if (!*s)
        return T_EOF;
    switch (*s) {
    case '(': t = T_LP; break;
    case ')': t = T_RP; break;
    case '.': t = T_DOT; break;
    case '[': t = T_LB; break;
    case ']': t = T_RB; break;
    case '=':
        if (s[1] != '=')
            return T_BAD;
        t = T_EQ;
        len = 2;
        break;
    case '!':
        if (s[1] != '=')
            return T_BAD;
        t = T_NE;
        len = 2;
        break;
    case '"':
    case '`': {
        char q = *s;
        char *out = malloc(strlen(s) + 1);
        size_t i = 1, o = 0;
        if (!out)
            return T_BAD;
        while (s[i] && s[i] != q) {
            if (q == '"' && s[i] == '\\' && s[i + 1]) {
                char c = s[i + 1];
                out[o++] = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
                i += 2;
                continue;
            }
            out[o++] = s[i++];
        }
        if (s[i] != q) {
            free(out);
            return T_BAD;
        }
        out[o] = 0;
        len = i + 1;
        if (text)
            *text = out;
        else
            free(out);
        t = T_STR;
        break;
    }
    default:
        if (!word_char(*s))
            return T_BAD;
        len = 0;
        while (word_char(s[len]))
            len++;
        if (text && !(*text = strndup(s, len)))
            return T_BAD;
        t = T_WORD;
    }
    if (consume)
        l->pos = start + len;
    return t;
}

static int peek_word(lex_t *l, const char *w)
{
    char *t;
    int r = next(l, &t, 0) == T_WORD && strcmp(t, w) == 0;
    free(t);
    return r;
}

/* ------------------------------------------------------------ parser */

static void node_free(fnode_t *n)
{
    if (!n)
        return;
    node_free(n->a);
    node_free(n->b);
    for (char **p = n->sel; p && *p; p++)
        free(*p);
    free(n->sel);
    free(n->value);
    if (n->have_re)
        regfree(&n->re);
    free(n);
}

static fnode_t *new_node(enum node_kind k)
{
    fnode_t *n = calloc(1, sizeof(fnode_t));
    if (n)
        n->kind = k;
    return n;
}

static char **parse_sel(lex_t *l, char *first)
{
    size_t n = 1, cap = 4;
    char **v = calloc(cap + 1, sizeof(char *));
    if (!v) {
        free(first);
        return NULL;
    }
    v[0] = first;
    for (;;) {
        tok_t t = next(l, NULL, 0);
        char *seg = NULL;
        if (t == T_DOT) {
            next(l, NULL, 1);
            if (next(l, &seg, 1) != T_WORD) {
                free(seg);
                set_err(l, "expected a field name after '.'");
                goto fail;
            }
        } else if (t == T_LB) {
            next(l, NULL, 1);
            if (next(l, &seg, 1) != T_STR || next(l, NULL, 1) != T_RB) {
                free(seg);
                set_err(l, "expected [\"key\"]");
                goto fail;
            }
        } else {
            break;
        }
        if (n == cap) {
            char **nv = realloc(v, (cap * 2 + 1) * sizeof(char *));
            if (!nv) {
                free(seg);
                goto fail;
            }
            v = nv;
            cap *= 2;
        }
        v[n++] = seg;
        v[n] = NULL;
    }
    return v;
fail:
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return NULL;
}

static fnode_t *parse_or(lex_t *l);

static fnode_t *parse_match(lex_t *l)
{
    char *first = NULL;
    tok_t t = next(l, &first, 1);
    if (t != T_WORD && t != T_STR) {
        free(first);
        set_err(l, t == T_EOF ? "unexpected end of expression" : "expected a selector or value");
        return NULL;
    }
    /* value ["not"] in selector */
    int neg = 0;
    if (peek_word(l, "not") || peek_word(l, "in")) {
        size_t save = l->pos;
        if (peek_word(l, "not")) {
            next(l, NULL, 1);
            neg = 1;
        }
        if (peek_word(l, "in")) {
            next(l, NULL, 1);
            char *s0 = NULL;
            if (next(l, &s0, 1) != T_WORD) {
                free(s0);
                free(first);
                set_err(l, "expected a selector after 'in'");
                return NULL;
            }
            fnode_t *n = new_node(N_CONTAINS);
            char **sel = parse_sel(l, s0);
            if (!n || !sel) {
                free(n);
                free(first);
                return NULL;
            }
            n->kind = N_CONTAINS;
            n->negate = neg;
            n->sel = sel;
            n->value = first;
            return n;
        }
        l->pos = save;
        neg = 0;
    }
    if (t != T_WORD) {
        free(first);
        set_err(l, "expected a selector");
        return NULL;
    }
    char **sel = parse_sel(l, first);
    if (!sel)
        return NULL;
    fnode_t *n = new_node(N_EQ);
    if (!n)
        goto fail;
    n->sel = sel;
    char *op = NULL;
    t = next(l, &op, 1);
    if (t == T_EQ || t == T_NE) {
        n->kind = t == T_EQ ? N_EQ : N_NE;
    } else if (t == T_WORD && !strcmp(op, "is")) {
        free(op);
        op = NULL;
        if (peek_word(l, "not")) {
            next(l, NULL, 1);
            n->negate = 1;
        }
        if (!peek_word(l, "empty")) {
            set_err(l, "expected 'empty' after 'is'");
            node_free(n);
            return NULL;
        }
        next(l, NULL, 1);
        n->kind = N_EMPTY;
        return n;
    } else if (t == T_WORD && (!strcmp(op, "not") || !strcmp(op, "contains") ||
                               !strcmp(op, "matches"))) {
        if (!strcmp(op, "not")) {
            free(op);
            op = NULL;
            n->negate = 1;
            t = next(l, &op, 1);
        }
        if (t == T_WORD && op && !strcmp(op, "contains")) {
            n->kind = N_CONTAINS;
        } else if (t == T_WORD && op && !strcmp(op, "matches")) {
            n->kind = N_MATCHES;
        } else {
            free(op);
            set_err(l, "expected 'contains', 'matches' or 'in' after 'not'");
            node_free(n);
            return NULL;
        }
    } else {
        free(op);
        set_err(l, "expected an operator (==, !=, contains, in, matches, is empty)");
        node_free(n);
        return NULL;
    }
    free(op);
    t = next(l, &n->value, 1);
    if (t != T_WORD && t != T_STR) {
        set_err(l, "expected a value");
        node_free(n);
        return NULL;
    }
    if (n->kind == N_MATCHES) {
        if (regcomp(&n->re, n->value, REG_EXTENDED | REG_NOSUB) != 0) {
            set_err(l, "invalid regular expression");
            node_free(n);
            return NULL;
        }
        n->have_re = 1;
    }
    return n;
fail:
    for (char **p = sel; *p; p++)
        free(*p);
    free(sel);
    return NULL;
}

static fnode_t *parse_unary(lex_t *l)
{
    if (peek_word(l, "not")) {
        next(l, NULL, 1);
        fnode_t *c = parse_unary(l);
        if (!c)
            return NULL;
        fnode_t *n = new_node(N_NOT);
        if (!n) {
            node_free(c);
            return NULL;
        }
        n->kind = N_NOT;
        n->a = c;
        return n;
    }
    if (next(l, NULL, 0) == T_LP) {
        next(l, NULL, 1);
        fnode_t *e = parse_or(l);
        if (!e)
            return NULL;
        if (next(l, NULL, 1) != T_RP) {
            set_err(l, "expected ')'");
            node_free(e);
            return NULL;
        }
        return e;
    }
    return parse_match(l);
}

static fnode_t *parse_bin(lex_t *l, const char *kw, enum node_kind k,
                          fnode_t *(*sub)(lex_t *))
{
    fnode_t *left = sub(l);
    while (left && peek_word(l, kw)) {
        next(l, NULL, 1);
        fnode_t *right = sub(l);
        fnode_t *n = right ? new_node(k) : NULL;
        if (!n) {
            node_free(left);
            node_free(right);
            return NULL;
        }
        n->kind = k;
        n->a = left;
        n->b = right;
        left = n;
    }
    return left;
}

static fnode_t *parse_and(lex_t *l)
{
    return parse_bin(l, "and", N_AND, parse_unary);
}

static fnode_t *parse_or(lex_t *l)
{
    return parse_bin(l, "or", N_OR, parse_and);
}

tb__filter_t *tb__filter_parse(const char *expr, char **err)
{
    lex_t l = {expr ? expr : "", 0, NULL};
    *err = NULL;
    fnode_t *root = parse_or(&l);
    if (root && next(&l, NULL, 0) != T_EOF) {
        set_err(&l, "unexpected text after the expression");
        node_free(root);
        root = NULL;
    }
    if (!root) {
        *err = l.err ? l.err : strdup("Failed to create boolean expression evaluator");
        return NULL;
    }
    free(l.err);
    tb__filter_t *f = malloc(sizeof(*f));
    if (!f) {
        node_free(root);
        *err = strdup("out of memory");
        return NULL;
    }
    f->root = root;
    return f;
}

void tb__filter_free(tb__filter_t *f)
{
    if (!f)
        return;
    node_free(f->root);
    free(f);
}

/* ------------------------------------------------------------ evaluation */

static const json_t *member(const json_t *o, const char *name)
{
    const json_t *v = json_object_get(o, name);
    if (v)
        return v;
    /* go-bexpr matches struct fields by name; be lenient on case */
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)o, k, e) {
        if (strcasecmp(k, name) == 0)
            return e;
    }
    return NULL;
}

static const json_t *resolve(const json_t *v, char **sel)
{
    for (; v && *sel; sel++)
        v = json_is_object(v) ? member(v, *sel) : NULL;
    return v;
}

/* A scalar as text (malloc'd), NULL for containers and null. */
static char *scalar_text(const json_t *v)
{
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_STRING:
        return strdup(json_string_value(v));
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return strdup(buf);
    case JSON_REAL:
        snprintf(buf, sizeof(buf), "%g", json_real_value(v));
        return strdup(buf);
    case JSON_TRUE:
        return strdup("true");
    case JSON_FALSE:
        return strdup("false");
    default:
        return NULL;
    }
}

static int text_eq(const json_t *v, const char *want)
{
    char *t = scalar_text(v);
    int r = t && strcmp(t, want) == 0;
    free(t);
    return r;
}

static int eval(const fnode_t *n, const json_t *el)
{
    const json_t *v;
    int r;
    switch (n->kind) {
    case N_AND:
        return eval(n->a, el) && eval(n->b, el);
    case N_OR:
        return eval(n->a, el) || eval(n->b, el);
    case N_NOT:
        return !eval(n->a, el);
    case N_EQ:
    case N_NE:
        v = resolve(el, n->sel);
        r = v && text_eq(v, n->value);
        return n->kind == N_EQ ? r : !r;
    case N_CONTAINS:
        v = resolve(el, n->sel);
        r = 0;
        if (json_is_array(v)) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e) {
                if (text_eq(e, n->value)) {
                    r = 1;
                    break;
                }
            }
        } else if (json_is_object(v)) {
            r = json_object_get(v, n->value) != NULL;
        } else if (json_is_string(v)) {
            r = strstr(json_string_value(v), n->value) != NULL;
        }
        return n->negate ? !r : r;
    case N_MATCHES: {
        v = resolve(el, n->sel);
        char *t = v ? scalar_text(v) : NULL;
        r = t && regexec(&n->re, t, 0, NULL, 0) == 0;
        free(t);
        return n->negate ? !r : r;
    }
    case N_EMPTY:
        v = resolve(el, n->sel);
        r = !v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)) ||
            (json_is_array(v) && !json_array_size(v)) ||
            (json_is_object(v) && !json_object_size(v));
        return n->negate ? !r : r;
    }
    return 0;
}

int tb__filter_match(const tb__filter_t *f, const json_t *element)
{
    return eval(f->root, element);
}

/* ------------------------------------------------------------ node-meta */

/* The node meta of a result element: Node objects ("Meta"), CatalogService
 * ("NodeMeta"), ServiceEntry ({"Node":{..."Meta"}}). NULL when none. */
static const json_t *node_meta(const json_t *el)
{
    const json_t *m = json_object_get(el, "NodeMeta");
    if (json_is_object(m))
        return m;
    const json_t *node = json_object_get(el, "Node");
    if (json_is_object(node))
        return json_object_get(node, "Meta");
    if (json_is_string(node))
        return json_object_get(el, "Meta");
    return NULL;
}

static int meta_match(const json_t *meta, const json_t *want)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v) {
        const json_t *have = json_object_get(meta, k);
        if (!json_is_string(have) || !json_equal((json_t *)have, v))
            return 0;
    }
    return 1;
}

json_t *tb__filter_result(const json_t *result, const tb__filter_t *f, const json_t *node_meta_want)
{
    int use_meta = json_is_object(node_meta_want) && json_object_size(node_meta_want) > 0;
    if (json_is_array(result)) {
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(result, i, e) {
            if (use_meta && !meta_match(node_meta(e), node_meta_want))
                continue;
            if (f && !tb__filter_match(f, e))
                continue;
            json_array_append(out, e);
        }
        return out;
    }
    const json_t *svcs = json_object_get(result, "Services");
    if (json_is_object(result) && f && json_object_get(result, "Node") && svcs) {
        /* catalog node(-services): the filter applies to the services */
        json_t *fs = tb__filter_result(svcs, f, NULL);
        json_t *out = json_copy((json_t *)result);
        if (out && fs)
            json_object_set(out, "Services", fs);
        json_decref(fs);
        return out;
    }
    if (json_is_object(result) && f) {
        /* maps (agent services/checks): filter the values */
        json_t *out = json_object();
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)result, k, e) {
            if (tb__filter_match(f, e))
                json_object_set(out, k, e);
        }
        return out;
    }
    return json_incref((json_t *)result);
}

/* ------------------------------------------------------------ endpoint hook */

void tb__ep_filter_out(const json_t *args, tb__ep_out_t *out)
{
    const char *expr = json_string_value(json_object_get(args, "Filter"));
    const json_t *meta = json_object_get(args, "NodeMetaFilters");
    if (out->status != TB_OK || !out->json || ((!expr || !*expr) && !json_object_size(meta)))
        return;
    tb__filter_t *f = NULL;
    if (expr && *expr) {
        char *err = NULL;
        if (!(f = tb__filter_parse(expr, &err))) {
            tb__ep_fail(out, TB_BAD_REQUEST, "%s", err ? err : "invalid filter");
            free(err);
            json_decref(out->json);
            out->json = NULL;
            out->blockable = 0;
            return;
        }
    }
    json_t *r = tb__filter_result(out->json, f, meta);
    tb__filter_free(f);
    if (r) {
        json_decref(out->json);
        out->json = r;
    }
}
