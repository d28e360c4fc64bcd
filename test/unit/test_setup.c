/* SPDX-License-Identifier: MIT */
/* test_setup.c -- `xmta setup prosody|ejabberd`: the exact text printed for
 * a configuration (quoting of secrets included), and the citizen keys of a
 * hook: room_password and avatar (with their config errors and lines). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "xml/err.h"

static struct conf *load(const char *component, const char *hook_extra)
{
    struct conf_diag diag;
    struct conf *c;
    char text[2048];

    snprintf(text, sizeof(text),
             "[component]\n"
             "%s"
             "[hook alerts]\n"
             "token = 0123456789abcdef0123456789abcdef\n"
             "to = alice@localhost\n"
             "%s",
             component, hook_extra ? hook_extra : "");
    c = conf_load_string(text, "t.conf", &diag);
    if (!c)
        fail_msg("%s:%d: %s", diag.file, diag.line, diag.msg);
    return c;
}

static const char comp_basic[] = "domain = notify.example.org\n"
                                 "server = 127.0.0.1\n"
                                 "port = 15347\n"
                                 "secret = s3cret\n";

static void test_prosody(void **state)
{
    struct conf *c = load(comp_basic, NULL);
    char *out = NULL;

    assert_int_equal(conf_setup_text(c, "prosody", &out), 0);
    assert_string_equal(
        out, "-- xmta: in the global section of prosody.cfg.lua (before any "
             "VirtualHost),\n"
             "-- unless already set:\n"
             "--   component_ports = { 15347 }\n"
             "--   component_interfaces = { \"127.0.0.1\" }\n"
             "-- and this section at the end:\n"
             "Component \"notify.example.org\"\n"
             "    component_secret = \"s3cret\"\n"
             "    component_conflict_resolve = \"kick_old\"\n"
             "    -- two xmta for this domain (one a standby): \"kick_new\" "
             "instead\n");
    free(out);
    conf_free(c);
}

static void test_ejabberd(void **state)
{
    struct conf *c = load(comp_basic, NULL);
    char *out = NULL;

    assert_int_equal(conf_setup_text(c, "ejabberd", &out), 0);
    assert_string_equal(out, "# xmta: add this item to the listen: list of "
                             "ejabberd.yml\n"
                             "  -\n"
                             "    port: 15347\n"
                             "    ip: \"127.0.0.1\"\n"
                             "    module: ejabberd_service\n"
                             "    hosts:\n"
                             "      \"notify.example.org\":\n"
                             "        password: \"s3cret\"\n");
    free(out);
    conf_free(c);
}

/* Quotes and backslashes in the secret are escaped for each syntax; a
 * host name as server gives no listen address. */
static void test_quoting_and_host(void **state)
{
    struct conf *c = load("domain = notify.example.org\n"
                          "server = xmpp.example.org\n"
                          "secret = a\"b\\c'd\n",
                          NULL);
    char *out = NULL;

    assert_int_equal(conf_setup_text(c, "prosody", &out), 0);
    assert_non_null(strstr(out, "component_secret = \"a\\\"b\\\\c'd\"\n"));
    assert_non_null(strstr(out, "component_ports = { 5347 }"));
    assert_null(strstr(out, "component_interfaces"));
    free(out);
    assert_int_equal(conf_setup_text(c, "ejabberd", &out), 0);
    assert_non_null(strstr(out, "password: \"a\\\"b\\\\c'd\"\n"));
    assert_non_null(strstr(out, "    # ip: "));
    assert_null(strstr(out, "\n    ip: "));
    free(out);
    out = (char *)"untouched";
    assert_int_equal(conf_setup_text(c, "openfire", &out), XMTA_E_INVAL);
    assert_null(out);
    assert_int_equal(conf_setup_text(NULL, "prosody", &out), XMTA_E_INVAL);
    conf_free(c);
}

static void test_room_password(void **state)
{
    struct conf *c = load(comp_basic, "room = ops@conference.example.org\n"
                                      "room_password = open sesame\n");
    struct conf_diag diag;

    assert_string_equal(c->hooks[0].room_password, "open sesame");
    conf_free(c);
    c = load(comp_basic, NULL);
    assert_null(c->hooks[0].room_password);
    conf_free(c);
    assert_null(conf_load_string("[component]\n"
                                 "domain = n.example.org\n"
                                 "server = 127.0.0.1\n"
                                 "secret = s\n"
                                 "[hook a]\n"
                                 "token = 0123456789abcdef0123456789abcdef\n"
                                 "to = alice@localhost\n"
                                 "room_password =\n",
                                 "t.conf", &diag));
    assert_int_equal(diag.line, 8);
    assert_non_null(strstr(diag.msg, "room_password"));
}

static void test_avatar(void **state)
{
    char path[64], extra[512];
    struct conf_diag diag;
    struct conf *c;
    FILE *f;
    char *big;

    snprintf(path, sizeof(path), "/tmp/xmta-setup-%ld.png", (long)getpid());
    assert_non_null(f = fopen(path, "wb"));
    fputs("\x89PNG....", f);
    fclose(f);
    snprintf(extra, sizeof(extra), "avatar = %s\n", path);
    c = load(comp_basic, extra);
    assert_string_equal(c->hooks[0].avatar, path);
    assert_string_equal(c->hooks[0].avatar_type, "image/png");
    conf_free(c);

    /* Too big: a config error on its line. */
    assert_non_null(big = calloc(1, CONF_AVATAR_MAX + 1));
    assert_non_null(f = fopen(path, "wb"));
    assert_int_equal(fwrite(big, 1, CONF_AVATAR_MAX + 1, f),
                     CONF_AVATAR_MAX + 1);
    fclose(f);
    free(big);
    snprintf(extra, sizeof(extra),
             "[component]\ndomain = n.example.org\nserver = h\nsecret = s\n"
             "[hook a]\ntoken = 0123456789abcdef0123456789abcdef\n"
             "to = a@b\navatar = %s\n",
             path);
    assert_null(conf_load_string(extra, "t.conf", &diag));
    assert_int_equal(diag.line, 8);
    assert_non_null(strstr(diag.msg, "bytes"));
    unlink(path);

    /* Missing file, and a type we do not know. */
    assert_null(conf_load_string(extra, "t.conf", &diag));
    assert_int_equal(diag.line, 8);
    assert_non_null(strstr(diag.msg, "cannot read avatar"));
    assert_null(conf_load_string(
        "[component]\ndomain = n.example.org\nserver = h\nsecret = s\n"
        "[hook a]\ntoken = 0123456789abcdef0123456789abcdef\n"
        "to = a@b\navatar = face.bmp\n",
        "t.conf", &diag));
    assert_int_equal(diag.line, 8);
    assert_non_null(strstr(diag.msg, ".png"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prosody),
        cmocka_unit_test(test_ejabberd),
        cmocka_unit_test(test_quoting_and_host),
        cmocka_unit_test(test_room_password),
        cmocka_unit_test(test_avatar),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
