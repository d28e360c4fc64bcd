/* SPDX-License-Identifier: MIT */
/* msg.c -- the accepted webhook message and the stanzas built from it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xml/err.h"
#include "xml/msg.h"
#include "xml/xml.h"

#define NS_SID "urn:xmpp:sid:0"
#define NS_CORRECT "urn:xmpp:message-correct:0" /* XEP-0308 */

static const char *const type_names[MSG_TYPE_COUNT] = {
    [MSG_CHAT] = "chat",
    [MSG_NORMAL] = "normal",
    [MSG_HEADLINE] = "headline",
};

const char *msg_type_name(enum msg_type t)
{
    if ((unsigned)t >= MSG_TYPE_COUNT)
        return NULL;
    return type_names[t];
}

int msg_type_parse(const char *s, enum msg_type *t)
{
    if (!s || !t)
        return XMTA_E_INVAL;
    for (int i = 0; i < MSG_TYPE_COUNT; i++) {
        if (strcmp(s, type_names[i]) == 0) {
            *t = (enum msg_type)i;
            return 0;
        }
    }
    return XMTA_E_INVAL;
}

struct msg *msg_new(void)
{
    return calloc(1, sizeof(struct msg));
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void msg_free(struct msg *m)
{
    if (!m)
        return;
    free(m->hook);
    free(m->from);
    free(m->nick);
    strv_free(m->to, m->n_to);
    strv_free(m->rooms, m->n_rooms);
    free(m->subject);
    free(m->labels);
    free(m->attach);
    free(m->long_text);
    free(m->group);
    free(m->body);
    free(m);
}

/* Appends a copy of s to the vector *v of *n strings. */
static int strv_add(char ***v, size_t *n, const char *s)
{
    char **nv;
    char *d;

    if (!s)
        return XMTA_E_INVAL;
    if (*n >= SIZE_MAX / sizeof(**v) - 1)
        return XMTA_E_NOMEM;
    d = strdup(s);
    if (!d)
        return XMTA_E_NOMEM;
    nv = realloc(*v, (*n + 1) * sizeof(**v));
    if (!nv) {
        free(d);
        return XMTA_E_NOMEM;
    }
    nv[*n] = d;
    *v = nv;
    (*n)++;
    return 0;
}

int msg_add_to(struct msg *m, const char *jid)
{
    if (!m)
        return XMTA_E_INVAL;
    return strv_add(&m->to, &m->n_to, jid);
}

int msg_add_room(struct msg *m, const char *jid)
{
    if (!m)
        return XMTA_E_INVAL;
    return strv_add(&m->rooms, &m->n_rooms, jid);
}

char *msg_body_text(const struct msg *m)
{
    const char *body;
    size_t sl, bl;
    char *t;

    if (!m)
        return NULL;
    body = m->body ? m->body : "";
    bl = strlen(body);
    if (!m->subject || !m->subject[0])
        return strdup(body);
    sl = strlen(m->subject);
    if (sl > SIZE_MAX - bl - 4)
        return NULL;
    t = malloc(sl + bl + 4);
    if (!t)
        return NULL;
    /* XEP-0393 styling: the title in bold on its own line. */
    t[0] = '*';
    memcpy(t + 1, m->subject, sl);
    t[sl + 1] = '*';
    t[sl + 2] = '\n';
    memcpy(t + sl + 3, body, bl + 1);
    return t;
}

struct xml_node *
msg_stanza(const struct msg *m, const char *from, const char *to, int groupchat)
{
    struct xml_node *st = NULL, *body, *oid;
    const char *type;
    char *text = NULL;

    if (!m || !from || !to)
        return NULL;
    type = groupchat ? "groupchat" : msg_type_name(m->type);
    if (!type)
        type = msg_type_name(MSG_CHAT);
    text = msg_body_text(m);
    if (!text)
        goto fail;
    st = xml_node_new("message", NULL);
    if (!st)
        goto fail;
    if (xml_node_set_attr(st, "type", type) != 0 ||
        xml_node_set_attr(st, "from", from) != 0 ||
        xml_node_set_attr(st, "to", to) != 0 ||
        (m->id[0] && xml_node_set_attr(st, "id", m->id) != 0))
        goto fail;
    body = xml_node_add_child(st, "body", NULL);
    if (!body || xml_node_add_text(body, text, (size_t)-1) != 0)
        goto fail;
    /* XEP-0066: clients show the file inline when body == url. */
    if (m->oob) {
        struct xml_node *x = xml_node_add_child(st, "x", "jabber:x:oob");
        struct xml_node *u = x ? xml_node_add_child(x, "url", NULL) : NULL;

        if (!u || xml_node_add_text(u, m->body, (size_t)-1) != 0)
            goto fail;
    }
    /* XEP-0359: the same id again, so bounces can be matched even when a
     * server rewrites the stanza id. Without an id there is nothing to say. */
    if (m->id[0]) {
        oid = xml_node_add_child(st, "origin-id", NS_SID);
        if (!oid || xml_node_set_attr(oid, "id", m->id) != 0)
            goto fail;
    }
    free(text);
    return st;
fail:
    free(text);
    xml_node_free(st);
    return NULL;
}

/* Appends markup (a literal). */
#define MSG_PUT(b, lit) xml_buf_add((b), (lit), sizeof(lit) - 1)

int msg_stanza_write(const struct msg *m,
                     const char *from,
                     const char *to,
                     int groupchat,
                     struct xml_buf *b)
{
    return msg_stanza_write_replace(m, from, to, groupchat, NULL, b);
}

int msg_stanza_write_replace(const struct msg *m,
                             const char *from,
                             const char *to,
                             int groupchat,
                             const char *replace,
                             struct xml_buf *b)
{
    const char *type, *body;
    int subject;

    if (!m || !from || !to || !b || (m->oob && !m->body))
        return XMTA_E_INVAL;
    type = groupchat ? "groupchat" : msg_type_name(m->type);
    if (!type)
        type = msg_type_name(MSG_CHAT);
    body = m->body ? m->body : "";
    subject = m->subject && m->subject[0];
    /* the elements and attributes of msg_stanza(), in its order */
    MSG_PUT(b, "<message type='");
    xml_buf_attr(b, type, strlen(type));
    MSG_PUT(b, "' from='");
    xml_buf_attr(b, from, strlen(from));
    MSG_PUT(b, "' to='");
    xml_buf_attr(b, to, strlen(to));
    if (m->id[0]) {
        MSG_PUT(b, "' id='");
        xml_buf_attr(b, m->id, strlen(m->id));
    }
    MSG_PUT(b, "'>");
    if (!subject && !*body) {
        MSG_PUT(b, "<body/>"); /* no text child at all */
    } else {
        MSG_PUT(b, "<body>");
        if (subject) { /* msg_body_text(): "*title*\nbody" */
            MSG_PUT(b, "*");
            xml_buf_text(b, m->subject, strlen(m->subject));
            MSG_PUT(b, "*\n");
        }
        xml_buf_text(b, body, strlen(body));
        MSG_PUT(b, "</body>");
    }
    if (m->oob) {
        MSG_PUT(b, "<x xmlns='jabber:x:oob'>");
        if (*m->body) {
            MSG_PUT(b, "<url>");
            xml_buf_text(b, m->body, strlen(m->body));
            MSG_PUT(b, "</url>");
        } else {
            MSG_PUT(b, "<url/>");
        }
        MSG_PUT(b, "</x>");
    }
    if (m->id[0]) {
        MSG_PUT(b, "<origin-id xmlns='" NS_SID "' id='");
        xml_buf_attr(b, m->id, strlen(m->id));
        MSG_PUT(b, "'/>");
    }
    if (replace && *replace) { /* the last child, as XEP-0308 shows it */
        MSG_PUT(b, "<replace xmlns='" NS_CORRECT "' id='");
        xml_buf_attr(b, replace, strlen(replace));
        MSG_PUT(b, "'/>");
    }
    MSG_PUT(b, "</message>");
    return b->failed ? XMTA_E_NOMEM : 0;
}
