/* SPDX-License-Identifier: MIT */
/* msg.h -- one accepted webhook message, and how it becomes stanzas.
 * http/ builds a struct msg and hands it to the outbox; component/ turns it
 * into one stanza per recipient with msg_stanza(). */
#ifndef XMTA_MSG_H
#define XMTA_MSG_H

#include <stddef.h>

struct xml_buf;
struct xml_node;

enum msg_type { MSG_CHAT, MSG_NORMAL, MSG_HEADLINE, MSG_TYPE_COUNT };

/* "chat", "normal", "headline"; NULL for an out-of-range value. */
const char *msg_type_name(enum msg_type t);
/* Returns 0 and sets *t, or XMTA_E_INVAL. */
int msg_type_parse(const char *s, enum msg_type *t);

#define MSG_ID_LEN 36 /* a UUID in text form */

struct msg {
    char id[MSG_ID_LEN + 1]; /* stanza id and origin-id, set by http/ */
    char *hook;              /* hook name, for logs */
    char *from;              /* bot localpart */
    char *nick;              /* bot nick / display name; may be NULL */
    enum msg_type type;      /* type for 1:1 messages */
    char **to;               /* normalised user JIDs */
    size_t n_to;
    char **rooms; /* normalised bare room JIDs */
    size_t n_rooms;
    char *subject;   /* title; may be NULL */
    char *body;      /* sanitized UTF-8 text, never NULL */
    char *labels;    /* Alertmanager hooks: the alert's labels as a JSON
                      * object text (for "ack" replies), or NULL; not
                      * spooled */
    char *attach;    /* a file to fetch and upload (XEP-0363) for the
                      * recipients after the text, or NULL; not spooled */
    char *long_text; /* long_body = upload: the whole body when body was
                      * cut at max_message, to upload as a text file
                      * after it, or NULL; not spooled */
    int oob;         /* the body is exactly an uploaded file's URL: the
                      * stanza carries it in XEP-0066 <x jabber:x:oob> too
                      * (not spooled: after a restart it is a plain link) */
    /* alert lifecycle (issue 5): set by http/ for Alertmanager and Grafana
     * unified payloads, spooled with the message */
    char *group;     /* the payload's groupKey, or NULL: not an alert */
    int alert;       /* enum msg_alert */
    unsigned firing; /* alerts firing in the payload (status firing) */
};

enum msg_alert {
    MSG_ALERT_NONE,     /* not an alert group notification */
    MSG_ALERT_FIRING,   /* status "firing" */
    MSG_ALERT_RESOLVED, /* status "resolved" */
    MSG_ALERT_COUNT
};

/* A zeroed message (NULL on allocation failure). */
struct msg *msg_new(void);
/* Frees m and every string it holds (NULL-safe). */
void msg_free(struct msg *m);
/* Appends a copy of jid to m->to / m->rooms. 0 or XMTA_E_NOMEM. */
int msg_add_to(struct msg *m, const char *jid);
int msg_add_room(struct msg *m, const char *jid);

/* The text that goes into <body>: "*title*\nbody" when a subject is set
 * (XEP-0393 bold), else the body. Malloc'd; NULL on allocation failure. */
char *msg_body_text(const struct msg *m);

/* Builds the stanza for one recipient:
 *   <message type=T from=FROM to=TO id=ID><body>..</body>
 *            <origin-id xmlns='urn:xmpp:sid:0' id=ID/></message>
 * groupchat non-zero: type='groupchat' (and never a <subject>), else
 * m->type. from is the full sending JID (for rooms: exactly the JID that
 * joined). The top-level element has no namespace (inherits the stream's).
 * Returns a new node or NULL on allocation failure. */
struct xml_node *msg_stanza(const struct msg *m,
                            const char *from,
                            const char *to,
                            int groupchat);

/* The stanza msg_stanza() builds, serialized straight into b (appended):
 * byte for byte xml_node_serialize() of that tree, without building it
 * (the webhook path: issue 8). 0, XMTA_E_INVAL, or XMTA_E_NOMEM (b->failed
 * is then set). */
int msg_stanza_write(const struct msg *m,
                     const char *from,
                     const char *to,
                     int groupchat,
                     struct xml_buf *b);

/* msg_stanza_write() of a message that corrects an earlier one (XEP-0308,
 * the alert lifecycle's on_resolve = correct): replace is the id of that
 * one, written as the last child,
 *   <replace xmlns='urn:xmpp:message-correct:0' id=REPLACE/>
 * NULL or "": none, exactly msg_stanza_write(). */
int msg_stanza_write_replace(const struct msg *m,
                             const char *from,
                             const char *to,
                             int groupchat,
                             const char *replace,
                             struct xml_buf *b);

#endif
