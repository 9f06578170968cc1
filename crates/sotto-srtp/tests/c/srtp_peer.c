/*
 * srtp_peer: a line-oriented libsrtp2 peer for sotto-srtp's interop tests (ours, not fetched).
 *
 *   srtp_peer PROFILE MASTER_KEY_HEX MASTER_SALT_HEX [MKI_HEX]
 *
 * Two libsrtp sessions share the master key: one ssrc_any_outbound (protect), one
 * ssrc_any_inbound (unprotect), replay window 1024. Commands on stdin, one per line:
 *   P <hex>   protect RTP       U <hex>   unprotect RTP
 *   PC <hex>  protect RTCP      UC <hex>  unprotect RTCP
 * Each answers one line on stdout: "OK <hex>" or "ERR <srtp_err_status_t>".
 * With SRTP_PEER_SRTCP_LIKE_SRTP=1 in the environment, the _32 profiles use 32-bit SRTCP tags
 * too (as linphone does under ZRTP HS32) instead of libsrtp's default 80.
 */
#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PKT 4096

static int unhex(const char *s, unsigned char *out, int max) {
    int n = 0;
    while (s[0] && s[1] && s[0] != '\n' && s[0] != '\r') {
        unsigned int b;
        if (n >= max || sscanf(s, "%2x", &b) != 1) return -1;
        out[n++] = (unsigned char)b;
        s += 2;
    }
    return n;
}

static void puthex(const unsigned char *b, int n) {
    for (int i = 0; i < n; i++) printf("%02x", b[i]);
}

static int set_profile(const char *name, srtp_crypto_policy_t *rtp, srtp_crypto_policy_t *rtcp,
                       int *key_len, int *salt_len) {
    const char *env = getenv("SRTP_PEER_SRTCP_LIKE_SRTP");
    int like_srtp = env && !strcmp(env, "1");
    *salt_len = 14;
    if (!strcmp(name, "AES_CM_128_HMAC_SHA1_80")) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(rtcp);
        *key_len = 16;
    } else if (!strcmp(name, "AES_CM_128_HMAC_SHA1_32")) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(rtp);
        if (like_srtp) srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(rtcp);
        else srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(rtcp); /* SRTCP keeps 80 bits */
        *key_len = 16;
    } else if (!strcmp(name, "AES_256_CM_HMAC_SHA1_80")) {
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(rtp);
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(rtcp);
        *key_len = 32;
    } else if (!strcmp(name, "AES_256_CM_HMAC_SHA1_32")) {
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(rtp);
        if (like_srtp) srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(rtcp);
        else srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(rtcp);
        *key_len = 32;
    } else if (!strcmp(name, "AEAD_AES_128_GCM")) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(rtcp);
        *key_len = 16;
        *salt_len = 12;
    } else if (!strcmp(name, "AEAD_AES_256_GCM")) {
        srtp_crypto_policy_set_aes_gcm_256_16_auth(rtp);
        srtp_crypto_policy_set_aes_gcm_256_16_auth(rtcp);
        *key_len = 32;
        *salt_len = 12;
    } else {
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s PROFILE KEY_HEX SALT_HEX [MKI_HEX]\n", argv[0]);
        return 64;
    }
    srtp_policy_t pol;
    memset(&pol, 0, sizeof pol);
    int key_len, salt_len;
    if (set_profile(argv[1], &pol.rtp, &pol.rtcp, &key_len, &salt_len)) {
        fprintf(stderr, "unknown profile %s\n", argv[1]);
        return 64;
    }
    static unsigned char key[64 + 32];
    memset(key, 0, sizeof key);
    if (unhex(argv[2], key, 32) != key_len || unhex(argv[3], key + key_len, 14) != salt_len) {
        fprintf(stderr, "bad key or salt length\n");
        return 64;
    }
    static unsigned char mki[SRTP_MAX_MKI_LEN];
    int mki_len = 0;
    srtp_master_key_t mk;
    srtp_master_key_t *mks[1] = { &mk };
    if (argc > 4) {
        mki_len = unhex(argv[4], mki, SRTP_MAX_MKI_LEN);
        if (mki_len <= 0) return 64;
        mk.key = key;
        mk.mki_id = mki;
        mk.mki_size = (unsigned int)mki_len;
        pol.keys = mks;
        pol.num_master_keys = 1;
    } else {
        pol.key = key;
    }
    pol.window_size = 1024;
    pol.allow_repeat_tx = 0;
    pol.next = NULL;

    if (srtp_init() != srtp_err_status_ok) return 70;
    srtp_t tx, rx;
    pol.ssrc.type = ssrc_any_outbound;
    srtp_err_status_t st = srtp_create(&tx, &pol);
    if (st != srtp_err_status_ok) { fprintf(stderr, "srtp_create tx: %d\n", st); return 70; }
    pol.ssrc.type = ssrc_any_inbound;
    st = srtp_create(&rx, &pol);
    if (st != srtp_err_status_ok) { fprintf(stderr, "srtp_create rx: %d\n", st); return 70; }

    static char line[2 * MAX_PKT + 16];
    static unsigned char buf[MAX_PKT + SRTP_MAX_TRAILER_LEN + 16];
    while (fgets(line, sizeof line, stdin)) {
        char *sp = strchr(line, ' ');
        if (!sp) { printf("ERR syntax\n"); fflush(stdout); continue; }
        *sp = 0;
        int len = unhex(sp + 1, buf, MAX_PKT);
        if (len < 0) { printf("ERR hex\n"); fflush(stdout); continue; }
        int use_mki = mki_len > 0;
        if (!strcmp(line, "P")) st = srtp_protect_mki(tx, buf, &len, use_mki, 0);
        else if (!strcmp(line, "U")) st = srtp_unprotect_mki(rx, buf, &len, use_mki);
        else if (!strcmp(line, "PC")) st = srtp_protect_rtcp_mki(tx, buf, &len, use_mki, 0);
        else if (!strcmp(line, "UC")) st = srtp_unprotect_rtcp_mki(rx, buf, &len, use_mki);
        else { printf("ERR command\n"); fflush(stdout); continue; }
        if (st == srtp_err_status_ok) {
            printf("OK ");
            puthex(buf, len);
            printf("\n");
        } else {
            printf("ERR %d\n", (int)st);
        }
        fflush(stdout);
    }
    srtp_dealloc(tx);
    srtp_dealloc(rx);
    srtp_shutdown();
    return 0;
}
