/* An independent OTR peer on Debian's libotr (4.1), shared by sotto-otr's interop tests
 * (tests/interop_libotr.rs) and `sotto chat`'s end-to-end tests (apps/sotto/tests/
 * chat_prosody.rs, behind apps/sotto/tests/peers/xmpp_otr_bridge.py).
 *
 * Line protocol on stdin/stdout; payloads are hex so that texts with newlines (query
 * messages) stay on one line:
 *   stdin:  net HEX | send HEX | query | smp HEXSECRET [HEXQUESTION] | smp_respond HEXSECRET
 *           | smp_abort | end | symkey USE HEXDATA | quit
 *   stdout: net HEX                  a network message for sotto
 *           insecure                 the private conversation ended on our side (only with
 *                                    the "insecure" flag)
 *           msg ENC HEX              a message shown to the user (ENC 1 if it came encrypted)
 *           smp success|failure|abort|cheated|error|ask [HEXQUESTION]
 *           secure VERSION THEIRFP   gone secure (their fingerprint, 40 hex digits)
 *           state N                  msgstate of the active context after each command
 *                                    (0 plaintext, 1 encrypted, 2 finished)
 *           symkey USE HEXDATA HEXKEY  / symkey_sent USE HEXKEY
 *           fp HUMANFP               our fingerprint, at start
 *           ready                    command processed
 * Usage: libotr_peer WORKDIR [FRAGMENT_SIZE [FLAGS [ACCOUNT PEER]]]
 *   FLAGS may contain "v2only" (policy without ALLOW_V3), "tag" (SEND_WHITESPACE_TAG),
 *   "keep" (a peer that lives longer than one conversation: its DSA key and instance tag are
 *   kept in WORKDIR and re-read on the next start, so sotto sees the same fingerprint across
 *   restarts) and "insecure" (report gone_insecure). FLAGS "-" means none.
 *   ACCOUNT and PEER default to libotr@example.org and sotto@example.org.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gcrypt.h>
#include <libotr/proto.h>
#include <libotr/userstate.h>
#include <libotr/message.h>
#include <libotr/privkey.h>
#include <libotr/instag.h>

#define PROTO "xmpp"

static const char *ACC = "libotr@example.org";
static const char *PEER = "sotto@example.org";
static int report_insecure = 0;

static OtrlUserState us;
static ConnContext *secure_ctx = NULL;
static int frag_size = 0;
static OtrlPolicy policy = OTRL_POLICY_ALLOW_V2 | OTRL_POLICY_ALLOW_V3 |
    OTRL_POLICY_WHITESPACE_START_AKE | OTRL_POLICY_ERROR_START_AKE;
static char keyfile[4096], instagfile[4096];

static void put_hex(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
}

static void out_hex_line(const char *tag, const char *s) {
    printf("%s ", tag);
    put_hex((const unsigned char *)s, strlen(s));
    printf("\n");
    fflush(stdout);
}

static char *from_hex(const char *h) {
    size_t n = strlen(h) / 2;
    char *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned int v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    out[n] = 0;
    return out;
}

static OtrlPolicy op_policy(void *o, ConnContext *c) {
    (void)o; (void)c;
    return policy;
}
static void op_create_privkey(void *o, const char *a, const char *p) {
    (void)o; otrl_privkey_generate(us, keyfile, a, p);
}
static int op_is_logged_in(void *o, const char *a, const char *p, const char *r) {
    (void)o; (void)a; (void)p; (void)r; return 1;
}
static void op_inject(void *o, const char *a, const char *p, const char *r, const char *m) {
    (void)o; (void)a; (void)p; (void)r; out_hex_line("net", m);
}
static void op_update_context_list(void *o) { (void)o; }
static void op_new_fingerprint(void *o, OtrlUserState u, const char *a, const char *p,
                               const char *n, unsigned char fp[20]) {
    (void)o; (void)u; (void)a; (void)p; (void)n; (void)fp;
}
static void op_write_fingerprints(void *o) { (void)o; }
static void op_gone_secure(void *o, ConnContext *c) {
    (void)o;
    secure_ctx = c;
    printf("secure %u ", c->protocol_version);
    if (c->active_fingerprint) put_hex(c->active_fingerprint->fingerprint, 20);
    printf("\n");
    fflush(stdout);
}
static void op_gone_insecure(void *o, ConnContext *c) {
    (void)o; (void)c;
    if (!report_insecure) return;
    printf("insecure\n");
    fflush(stdout);
}
static void op_still_secure(void *o, ConnContext *c, int r) {
    (void)r; op_gone_secure(o, c);
}
static int op_max_message_size(void *o, ConnContext *c) { (void)o; (void)c; return frag_size; }
static const char *op_account_name(void *o, const char *a, const char *p) {
    (void)o; (void)p; return a;
}
static void op_account_name_free(void *o, const char *n) { (void)o; (void)n; }
static void op_received_symkey(void *o, ConnContext *c, unsigned int use,
                               const unsigned char *ud, size_t udl, const unsigned char *k) {
    (void)o; (void)c;
    printf("symkey %u ", use);
    put_hex(ud, udl);
    if (udl == 0) printf("-");
    printf(" ");
    put_hex(k, OTRL_EXTRAKEY_BYTES);
    printf("\n");
    fflush(stdout);
}
static const char *op_error_message(void *o, ConnContext *c, OtrlErrorCode e) {
    (void)o; (void)c;
    char *s = malloc(64);
    snprintf(s, 64, "libotr error %d", (int)e);
    return s;
}
static void op_error_message_free(void *o, const char *m) { (void)o; free((void *)m); }
static const char *op_resent_prefix(void *o, ConnContext *c) { (void)o; (void)c; return "[resent]"; }
static void op_resent_prefix_free(void *o, const char *p) { (void)o; (void)p; }
static void op_smp_event(void *o, OtrlSMPEvent ev, ConnContext *c, unsigned short pct, char *q) {
    (void)o; (void)pct;
    secure_ctx = c;
    switch (ev) {
    case OTRL_SMPEVENT_ASK_FOR_SECRET: printf("smp ask\n"); break;
    case OTRL_SMPEVENT_ASK_FOR_ANSWER: out_hex_line("smp ask", q ? q : ""); return;
    case OTRL_SMPEVENT_SUCCESS: printf("smp success\n"); break;
    case OTRL_SMPEVENT_FAILURE: printf("smp failure\n"); break;
    case OTRL_SMPEVENT_ABORT: printf("smp abort\n"); break;
    case OTRL_SMPEVENT_CHEATED: printf("smp cheated\n"); break;
    case OTRL_SMPEVENT_ERROR: printf("smp error\n"); break;
    default: return;
    }
    fflush(stdout);
}
static void op_msg_event(void *o, OtrlMessageEvent ev, ConnContext *c, const char *m,
                         gcry_error_t e) {
    (void)o; (void)c; (void)m; (void)e;
    printf("msgevent %d\n", (int)ev);
    fflush(stdout);
}
static void op_create_instag(void *o, const char *a, const char *p) {
    (void)o; otrl_instag_generate(us, instagfile, a, p);
}
static void op_timer_control(void *o, unsigned int i) { (void)o; (void)i; }

static OtrlMessageAppOps ops = {
    op_policy, op_create_privkey, op_is_logged_in, op_inject, op_update_context_list,
    op_new_fingerprint, op_write_fingerprints, op_gone_secure, op_gone_insecure,
    op_still_secure, op_max_message_size, op_account_name, op_account_name_free,
    op_received_symkey, op_error_message, op_error_message_free, op_resent_prefix,
    op_resent_prefix_free, op_smp_event, op_msg_event, op_create_instag, NULL, NULL,
    op_timer_control,
};

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (argc > 2) frag_size = atoi(argv[2]);
    if (argc > 3 && strstr(argv[3], "v2only")) policy &= ~OTRL_POLICY_ALLOW_V3;
    if (argc > 3 && strstr(argv[3], "tag")) policy |= OTRL_POLICY_SEND_WHITESPACE_TAG;
    int keep = argc > 3 && strstr(argv[3], "keep");
    report_insecure = argc > 3 && strstr(argv[3], "insecure");
    if (argc > 5) {
        ACC = argv[4];
        PEER = argv[5];
    }
    snprintf(keyfile, sizeof keyfile, "%s/otr.key", argv[1]);
    snprintf(instagfile, sizeof instagfile, "%s/otr.instag", argv[1]);
    OTRL_INIT;
    us = otrl_userstate_create();
    if (keep) {
        /* Read the key and instance tag if there are some; make (and save) the missing. */
        otrl_privkey_read(us, keyfile);
        otrl_instag_read(us, instagfile);
    }
    if (otrl_privkey_find(us, ACC, PROTO) == NULL)
        otrl_privkey_generate(us, keyfile, ACC, PROTO);
    if (otrl_instag_find(us, ACC, PROTO) == NULL)
        otrl_instag_generate(us, instagfile, ACC, PROTO);
    char fp[OTRL_PRIVKEY_FPRINT_HUMAN_LEN];
    otrl_privkey_fingerprint(us, fp, ACC, PROTO);
    printf("fp %s\nready\n", fp);
    fflush(stdout);

    static char line[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        char *arg = strchr(line, ' ');
        if (arg) *arg++ = 0;
        if (!strcmp(line, "quit")) break;
        if (!strcmp(line, "net") && arg) {
            char *text = from_hex(arg);
            char *newmsg = NULL;
            OtrlTLV *tlvs = NULL;
            ConnContext *ctx = NULL;
            int ignore = otrl_message_receiving(us, &ops, NULL, ACC, PROTO, PEER, text, &newmsg,
                                                &tlvs, &ctx, NULL, NULL);
            if (!ignore) {
                int enc = newmsg != NULL && strncmp(text, "?OTR", 4) == 0;
                printf("msg %d ", enc);
                const char *shown = newmsg ? newmsg : text;
                put_hex((const unsigned char *)shown, strlen(shown));
                printf("\n");
            }
            otrl_tlv_free(tlvs);
            otrl_message_free(newmsg);
            free(text);
        } else if (!strcmp(line, "send") && arg) {
            char *text = from_hex(arg);
            char *newmsg = NULL;
            ConnContext *ctx = NULL;
            gcry_error_t err = otrl_message_sending(us, &ops, NULL, ACC, PROTO, PEER,
                                                    OTRL_INSTAG_BEST, text, NULL, &newmsg,
                                                    OTRL_FRAGMENT_SEND_ALL_BUT_LAST, &ctx,
                                                    NULL, NULL);
            if (err) printf("send_error %u\n", (unsigned)err);
            else out_hex_line("net", newmsg ? newmsg : text);
            otrl_message_free(newmsg);
            free(text);
        } else if (!strcmp(line, "query")) {
            char *q = otrl_proto_default_query_msg(ACC, op_policy(NULL, NULL));
            out_hex_line("net", q);
            free(q);
        } else if (!strcmp(line, "smp") && arg && secure_ctx) {
            char *qh = strchr(arg, ' ');
            if (qh) *qh++ = 0;
            char *secret = from_hex(arg);
            if (qh) {
                char *q = from_hex(qh);
                otrl_message_initiate_smp_q(us, &ops, NULL, secure_ctx, q,
                                            (unsigned char *)secret, strlen(secret));
                free(q);
            } else {
                otrl_message_initiate_smp(us, &ops, NULL, secure_ctx, (unsigned char *)secret,
                                          strlen(secret));
            }
            free(secret);
        } else if (!strcmp(line, "smp_respond") && arg && secure_ctx) {
            char *secret = from_hex(arg);
            otrl_message_respond_smp(us, &ops, NULL, secure_ctx, (unsigned char *)secret,
                                     strlen(secret));
            free(secret);
        } else if (!strcmp(line, "smp_abort") && secure_ctx) {
            otrl_message_abort_smp(us, &ops, NULL, secure_ctx);
        } else if (!strcmp(line, "end")) {
            otrl_message_disconnect_all_instances(us, &ops, NULL, ACC, PROTO, PEER);
        } else if (!strcmp(line, "symkey") && arg && secure_ctx) {
            char *dh = strchr(arg, ' ');
            if (dh) *dh++ = 0;
            unsigned int use = (unsigned int)strtoul(arg, NULL, 10);
            char *data = from_hex(dh ? dh : "");
            unsigned char key[OTRL_EXTRAKEY_BYTES];
            if (!otrl_message_symkey(us, &ops, NULL, secure_ctx, use, (unsigned char *)data,
                                     strlen(data), key)) {
                printf("symkey_sent %u ", use);
                put_hex(key, OTRL_EXTRAKEY_BYTES);
                printf("\n");
            }
            free(data);
        }
        otrl_message_poll(us, &ops, NULL);
        if (secure_ctx) printf("state %d\n", (int)secure_ctx->msgstate);
        printf("ready\n");
        fflush(stdout);
    }
    otrl_userstate_free(us);
    return 0;
}
