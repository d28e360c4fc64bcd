/* SPDX-License-Identifier: MIT */
/* fuzz_stream.c -- libFuzzer target for the XMPP stream parser.
 *
 * The input chooses how it is cut into chunks: a hash of its bytes seeds
 * the schedule (one byte at a time, two pieces, or random chunk sizes),
 * so every mutation also tries another split.
 *
 * Properties checked (abort() on violation):
 *  - feeding the input whole and in chunks gives the same callbacks, the
 *    same stanzas and the same result;
 *  - parse -> serialize -> reparse -> serialize gives identical bytes: every
 *    stanza re-parses (inside a stream header) to its own serialization,
 *    and so does the stream header; a deep copy serializes the same;
 *  - after a callback asks to stop, no further callback is made;
 *  - a parser that failed stays failed, with the same error and a
 *    message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xml/err.h"
#include "xml/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WRAP_OPEN                                                              \
    "<stream:stream xmlns='jabber:component:accept' "                          \
    "xmlns:stream='http://etherx.jabber.org/streams'>"

static const struct xml_stream_limits fuzz_limits = {
    .max_stanza_bytes = 2048,
    .max_depth = 12,
    .max_attrs = 8,
};

struct log {
    char *p;
    size_t len;
    unsigned events;
    unsigned stop_at; /* 0: never stop */
    int stopped;
};

static void log_add(struct log *l, const char *tag, const char *s)
{
    size_t tl = strlen(tag), sl = s ? strlen(s) : 0;
    char *np = realloc(l->p, l->len + tl + sl + 2);

    if (!np)
        abort();
    l->p = np;
    memcpy(l->p + l->len, tag, tl);
    if (sl)
        memcpy(l->p + l->len + tl, s, sl);
    l->len += tl + sl;
    l->p[l->len++] = '\n';
    l->p[l->len] = '\0';
}

/* Returns non-zero when this event is the one that asks to stop. */
static int log_event(struct log *l)
{
    if (l->stopped)
        abort(); /* a callback after stop */
    l->events++;
    if (l->stop_at && l->events == l->stop_at) {
        l->stopped = 1;
        return 1;
    }
    return 0;
}

struct reparse {
    char *out;
    unsigned n;
};

static int reparse_stanza(void *ud, const struct xml_node *st)
{
    struct reparse *r = ud;

    r->n++;
    free(r->out);
    r->out = xml_node_serialize(st, NULL);
    if (!r->out)
        abort();
    return 0;
}

/* s1 (a serialized stanza) parsed inside a stream header must give back
 * exactly one stanza serializing to s1. */
static void check_roundtrip(const char *s1, size_t len)
{
    struct xml_stream_cbs cbs = {.stanza = reparse_stanza};
    struct xml_stream_limits lim = {
        .max_stanza_bytes = len + sizeof(WRAP_OPEN),
        .max_depth = fuzz_limits.max_depth,
        .max_attrs = fuzz_limits.max_attrs,
    };
    struct reparse r = {0};
    struct xml_stream *s = xml_stream_new(&cbs, &r, &lim);
    int rc;

    if (!s)
        abort();
    rc = xml_stream_feed(s, WRAP_OPEN, strlen(WRAP_OPEN));
    if (rc == 0)
        rc = xml_stream_feed(s, s1, len);
    if (rc != 0 || r.n != 1 || strcmp(r.out, s1) != 0) {
        fprintf(stderr, "round trip failed (%d: %s)\n  in:  %s\n  out: %s\n",
                rc, xml_stream_error(s), s1, r.out ? r.out : "(none)");
        abort();
    }
    free(r.out);
    xml_stream_free(s);
}

static int reparse_open(void *ud, const struct xml_node *h)
{
    return reparse_stanza(ud, h);
}

/* s1 (a serialized stream header) fed as a stream must open it with a
 * header serializing to s1 again. */
static void check_header_roundtrip(const char *s1, size_t len)
{
    struct xml_stream_cbs cbs = {.open = reparse_open};
    struct xml_stream_limits lim = {
        .max_stanza_bytes = len + 1,
        .max_depth = fuzz_limits.max_depth,
        .max_attrs = fuzz_limits.max_attrs,
    };
    struct reparse r = {0};
    struct xml_stream *s = xml_stream_new(&cbs, &r, &lim);
    int rc;

    if (!s)
        abort();
    rc = xml_stream_feed(s, s1, len);
    if (rc != 0 || r.n != 1 || strcmp(r.out, s1) != 0) {
        fprintf(stderr,
                "header round trip failed (%d: %s)\n  in:  %s\n  out: %s\n", rc,
                xml_stream_error(s), s1, r.out ? r.out : "(none)");
        abort();
    }
    free(r.out);
    xml_stream_free(s);
}

static int on_open(void *ud, const struct xml_node *h)
{
    struct log *l = ud;
    size_t len;
    char *s = xml_node_serialize(h, &len);

    if (!s)
        abort();
    check_header_roundtrip(s, len);
    log_add(l, "open ", s);
    free(s);
    return log_event(l);
}

static int on_stanza(void *ud, const struct xml_node *st)
{
    struct log *l = ud;
    struct xml_node *copy;
    size_t len;
    char *s = xml_node_serialize(st, &len), *sc;

    if (!s)
        abort();
    copy = xml_node_copy(st);
    sc = copy ? xml_node_serialize(copy, NULL) : NULL;
    if (!sc || strcmp(s, sc) != 0)
        abort();
    check_roundtrip(s, len);
    log_add(l, "stanza ", s);
    free(sc);
    xml_node_free(copy);
    free(s);
    return log_event(l);
}

static int on_close(void *ud)
{
    struct log *l = ud;

    log_add(l, "close", NULL);
    return log_event(l);
}

/* How the input is cut: chunk sizes drawn from a generator seeded by the
 * input's hash. */
enum cut_mode { CUT_WHOLE, CUT_BYTES, CUT_TWO, CUT_RANDOM, CUT_MODE_COUNT };

struct cutter {
    enum cut_mode mode;
    uint32_t state; /* xorshift32, never 0 */
    size_t at;      /* CUT_TWO: the cut */
    size_t max;     /* CUT_RANDOM: largest chunk */
};

static uint32_t cutter_next(struct cutter *c)
{
    c->state ^= c->state << 13;
    c->state ^= c->state >> 17;
    c->state ^= c->state << 5;
    return c->state;
}

/* The size of the next chunk at offset off of size bytes (> 0). */
static size_t cutter_chunk(struct cutter *c, size_t off, size_t size)
{
    size_t left = size - off, n;

    switch (c->mode) {
    case CUT_BYTES:
        return 1;
    case CUT_TWO:
        return off < c->at ? c->at - off : left;
    case CUT_RANDOM:
        n = 1 + cutter_next(c) % c->max;
        return n < left ? n : left;
    default:
        return left;
    }
}

/* Feeds data in the chunks c chooses; returns the result. */
static int
run(const uint8_t *data, size_t size, struct cutter *c, struct log *l)
{
    struct xml_stream_cbs cbs = {on_open, on_stanza, on_close};
    struct xml_stream *s = xml_stream_new(&cbs, l, &fuzz_limits);
    size_t off = 0;
    int rc = 0, first = 0;

    if (!s)
        abort();
    if (size == 0)
        rc = xml_stream_feed(s, (const char *)data, 0);
    while (off < size) {
        size_t n = cutter_chunk(c, off, size);

        rc = xml_stream_feed(s, (const char *)data + off, n);
        off += n;
        /* A dead parser stays dead with the same error. */
        if (first && rc != first)
            abort();
        if (rc != 0 && !first)
            first = rc;
    }
    if (first)
        rc = first;
    if ((rc == XMTA_E_STOPPED) != (l->stopped != 0))
        abort();
    if (rc != 0 && xml_stream_error(s)[0] == '\0')
        abort();
    if (rc != 0 && xml_stream_feed(s, "<a/>", 4) != rc)
        abort();
    xml_stream_free(s);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t h = 2166136261u;
    struct log whole = {0}, split = {0};
    struct cutter all = {.mode = CUT_WHOLE}, cut;
    int rc1, rc2;

    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    cut.state = h ? h : 1;
    cut.mode = (enum cut_mode)(1 + cutter_next(&cut) % (CUT_MODE_COUNT - 1));
    cut.at = size ? cutter_next(&cut) % (size + 1) : 0;
    cut.max = 1 + cutter_next(&cut) % (cutter_next(&cut) & 1 ? 16 : size + 1);
    /* Sometimes stop from a callback, at an event chosen by the data. */
    whole.stop_at = split.stop_at = (h >> 24) % 4 == 0 ? (h >> 16) % 6 : 0;

    rc1 = run(data, size, &all, &whole);
    rc2 = run(data, size, &cut, &split);
    if (rc1 != rc2 || whole.len != split.len ||
        (whole.len && memcmp(whole.p, split.p, whole.len) != 0)) {
        fprintf(stderr,
                "whole (%d) and cut (mode %d, at %zu, max %zu: %d) "
                "differ:\n%s---\n%s",
                rc1, (int)cut.mode, cut.at, cut.max, rc2,
                whole.p ? whole.p : "", split.p ? split.p : "");
        abort();
    }
    free(whole.p);
    free(split.p);
    return 0;
}
