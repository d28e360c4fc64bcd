/* SPDX-License-Identifier: MIT */
/* emoji.c -- common Slack/ntfy :short_code: names to Unicode emoji. */
#include <stdlib.h>
#include <string.h>

#include "http/format.h"

struct emoji {
    const char *code;
    const char *utf8;
};

/* Sorted by code (strcmp order) for bsearch. */
static const struct emoji emoji_table[] = {
    {"+1", "👍"},
    {"-1", "👎"},
    {"alarm_clock", "⏰"},
    {"arrow_down", "⬇️"},
    {"arrow_up", "⬆️"},
    {"bangbang", "‼️"},
    {"bell", "🔔"},
    {"black_circle", "⚫"},
    {"blue_circle", "🔵"},
    {"boom", "💥"},
    {"bug", "🐛"},
    {"calendar", "📆"},
    {"chart_with_downwards_trend", "📉"},
    {"chart_with_upwards_trend", "📈"},
    {"check", "✔️"},
    {"clock", "🕐"},
    {"cloud", "☁️"},
    {"computer", "💻"},
    {"construction", "🚧"},
    {"disappointed", "😞"},
    {"dizzy_face", "😵"},
    {"door", "🚪"},
    {"exclamation", "❗"},
    {"eyes", "👀"},
    {"fire", "🔥"},
    {"floppy_disk", "💾"},
    {"gear", "⚙️"},
    {"ghost", "👻"},
    {"green_circle", "🟢"},
    {"green_heart", "💚"},
    {"hammer", "🔨"},
    {"heart", "❤️"},
    {"heavy_check_mark", "✔️"},
    {"heavy_exclamation_mark", "❗"},
    {"heavy_multiplication_x", "✖️"},
    {"hourglass", "⌛"},
    {"hourglass_flowing_sand", "⏳"},
    {"house", "🏠"},
    {"information_source", "ℹ️"},
    {"key", "🔑"},
    {"label", "🏷️"},
    {"link", "🔗"},
    {"lock", "🔒"},
    {"loudspeaker", "📢"},
    {"mag", "🔍"},
    {"mailbox", "📫"},
    {"memo", "📝"},
    {"no_bell", "🔕"},
    {"no_entry", "⛔"},
    {"no_entry_sign", "🚫"},
    {"ok", "🆗"},
    {"ok_hand", "👌"},
    {"orange_circle", "🟠"},
    {"package", "📦"},
    {"partying_face", "🥳"},
    {"pencil", "📝"},
    {"question", "❓"},
    {"red_circle", "🔴"},
    {"rocket", "🚀"},
    {"rotating_light", "🚨"},
    {"scream", "😱"},
    {"see_no_evil", "🙈"},
    {"shield", "🛡️"},
    {"skull", "💀"},
    {"slightly_smiling_face", "🙂"},
    {"smile", "😄"},
    {"smiley", "😃"},
    {"snowflake", "❄️"},
    {"sparkles", "✨"},
    {"star", "⭐"},
    {"stop_sign", "🛑"},
    {"sunny", "☀️"},
    {"tada", "🎉"},
    {"thumbsdown", "👎"},
    {"thumbsup", "👍"},
    {"tired_face", "😫"},
    {"triangular_flag_on_post", "🚩"},
    {"warning", "⚠️"},
    {"white_check_mark", "✅"},
    {"wrench", "🔧"},
    {"x", "❌"},
    {"yellow_circle", "🟡"},
    {"zap", "⚡"},
};

static int emoji_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct emoji *)elem)->code);
}

const char *emoji_lookup(const char *code, size_t len)
{
    char key[40];
    const struct emoji *e;

    if (len == 0 || len >= sizeof(key))
        return NULL;
    memcpy(key, code, len);
    key[len] = '\0';
    e = bsearch(key, emoji_table, sizeof(emoji_table) / sizeof(emoji_table[0]),
                sizeof(emoji_table[0]), emoji_cmp);
    return e ? e->utf8 : NULL;
}

static int code_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '+' || c == '-';
}

void rbuf_emojify(struct rbuf *b, const char *s)
{
    while (*s) {
        const char *e = NULL;
        size_t n = 0;

        if (*s == ':') {
            while (code_char(s[1 + n]))
                n++;
            if (s[1 + n] == ':')
                e = emoji_lookup(s + 1, n);
        }
        if (e) {
            rbuf_puts(b, e);
            s += n + 2;
        } else {
            rbuf_put(b, s, 1);
            s++;
        }
    }
}
