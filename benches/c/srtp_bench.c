/*
 * srtp_bench: libsrtp2 throughput, measured exactly the way `sotto bench srtp` measures ours
 * (same keys, same packet, same loop), so benches/srtp-vs-libsrtp.sh can compare the two.
 *
 *   srtp_bench PROFILE PAYLOAD_SIZE SECONDS [wall|cpu]
 *
 * `cpu` measures this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), like `sotto bench srtp
 * --clock cpu`; `wall` (default) the elapsed time.
 * Protect: copy the RTP packet into the work buffer, set the sequence number, srtp_protect.
 * Unprotect: a second sender protects a batch of 512 packets (not timed), then each is copied
 * into the work buffer and srtp_unprotect'ed (timed). One thread. Prints one JSON line:
 * {"profile":..,"size":..,"protect_pps":..,"unprotect_pps":..}
 */
#include <srtp2/srtp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 512

static clockid_t clock_kind = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec ts;
    clock_gettime(clock_kind, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int set_profile(const char *name, srtp_crypto_policy_t *rtp, srtp_crypto_policy_t *rtcp,
                       int *key_len, int *salt_len, int *tag_len) {
    *salt_len = 14;
    *tag_len = 10;
    if (!strcmp(name, "AES_CM_128_HMAC_SHA1_80")) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(rtcp);
        *key_len = 16;
    } else if (!strcmp(name, "AES_CM_128_HMAC_SHA1_32")) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(rtcp);
        *key_len = 16;
        *tag_len = 4;
    } else if (!strcmp(name, "AES_256_CM_HMAC_SHA1_80")) {
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(rtp);
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(rtcp);
        *key_len = 32;
    } else if (!strcmp(name, "AES_256_CM_HMAC_SHA1_32")) {
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(rtp);
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(rtcp);
        *key_len = 32;
        *tag_len = 4;
    } else if (!strcmp(name, "AEAD_AES_128_GCM")) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(rtcp);
        *key_len = 16;
        *salt_len = 12;
        *tag_len = 16;
    } else if (!strcmp(name, "AEAD_AES_256_GCM")) {
        srtp_crypto_policy_set_aes_gcm_256_16_auth(rtp);
        srtp_crypto_policy_set_aes_gcm_256_16_auth(rtcp);
        *key_len = 32;
        *salt_len = 12;
        *tag_len = 16;
    } else {
        return -1;
    }
    return 0;
}

static srtp_t session(srtp_policy_t *pol, int outbound) {
    srtp_t s;
    pol->ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
    if (srtp_create(&s, pol) != srtp_err_status_ok) {
        fprintf(stderr, "srtp_create failed\n");
        exit(70);
    }
    return s;
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s PROFILE PAYLOAD_SIZE SECONDS [wall|cpu]\n", argv[0]);
        return 64;
    }
    if (argc == 5 && !strcmp(argv[4], "cpu")) clock_kind = CLOCK_THREAD_CPUTIME_ID;
    const char *name = argv[1];
    int size = atoi(argv[2]);
    double seconds = atof(argv[3]);
    if (size < 0 || size > 8192 || !(seconds > 0)) return 64;

    srtp_policy_t pol;
    memset(&pol, 0, sizeof pol);
    int key_len, salt_len, tag_len;
    if (set_profile(name, &pol.rtp, &pol.rtcp, &key_len, &salt_len, &tag_len)) {
        fprintf(stderr, "unknown profile %s\n", name);
        return 64;
    }
    /* Same key material as `sotto bench srtp`. */
    unsigned char key[64];
    for (int i = 0; i < key_len; i++) key[i] = (unsigned char)(i * 29 + 3);
    for (int i = 0; i < salt_len; i++) key[key_len + i] = (unsigned char)(i * 13 + 7);
    pol.key = key;
    pol.window_size = 128;
    pol.allow_repeat_tx = 0;
    pol.next = NULL;
    if (srtp_init() != srtp_err_status_ok) return 70;

    /* Same RTP packet as `sotto bench srtp`: 12-octet header, payload bytes 0, 1, 2, ... */
    int len = 12 + size;
    int stride = len + tag_len;
    unsigned char *tmpl = malloc((size_t)len);
    unsigned char tmpl_hdr[12] = {0x80, 0x6F, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78};
    memcpy(tmpl, tmpl_hdr, 12);
    for (int i = 0; i < size; i++) tmpl[12 + i] = (unsigned char)i;
    unsigned char *buf = malloc((size_t)stride + SRTP_MAX_TRAILER_LEN);

    /* Protect. */
    srtp_t tx = session(&pol, 1);
    uint16_t seq = 0;
    uint64_t protected_n = 0;
    double t0 = now(), elapsed;
    for (;;) {
        for (int k = 0; k < 4096; k++) {
            memcpy(buf, tmpl, (size_t)len);
            buf[2] = (unsigned char)(seq >> 8);
            buf[3] = (unsigned char)seq;
            seq++;
            int l = len;
            if (srtp_protect(tx, buf, &l) != srtp_err_status_ok) { fprintf(stderr, "protect failed\n"); return 1; }
        }
        protected_n += 4096;
        elapsed = now() - t0;
        if (elapsed >= seconds) break;
    }
    double protect_elapsed = elapsed;

    /* Unprotect. */
    srtp_t tx2 = session(&pol, 1);
    srtp_t rx = session(&pol, 0);
    unsigned char *batch = malloc((size_t)BATCH * (size_t)(stride + SRTP_MAX_TRAILER_LEN));
    int *lens = malloc(sizeof(int) * BATCH);
    size_t bstride = (size_t)(stride + SRTP_MAX_TRAILER_LEN);
    seq = 0;
    uint64_t unprotected_n = 0;
    double unprotect_elapsed = 0;
    while (unprotect_elapsed < seconds) {
        for (int k = 0; k < BATCH; k++) {
            unsigned char *p = batch + (size_t)k * bstride;
            memcpy(p, tmpl, (size_t)len);
            p[2] = (unsigned char)(seq >> 8);
            p[3] = (unsigned char)seq;
            seq++;
            lens[k] = len;
            if (srtp_protect(tx2, p, &lens[k]) != srtp_err_status_ok) { fprintf(stderr, "protect failed\n"); return 1; }
        }
        double t1 = now();
        for (int k = 0; k < BATCH; k++) {
            int l = lens[k];
            memcpy(buf, batch + (size_t)k * bstride, (size_t)l);
            if (srtp_unprotect(rx, buf, &l) != srtp_err_status_ok) { fprintf(stderr, "unprotect failed\n"); return 1; }
        }
        unprotect_elapsed += now() - t1;
        unprotected_n += BATCH;
    }
    printf("{\"profile\":\"%s\",\"size\":%d,\"protect_pps\":%.0f,\"unprotect_pps\":%.0f}\n", name, size,
           (double)protected_n / protect_elapsed, (double)unprotected_n / unprotect_elapsed);
    srtp_dealloc(tx);
    srtp_dealloc(tx2);
    srtp_dealloc(rx);
    srtp_shutdown();
    free(tmpl);
    free(buf);
    free(batch);
    free(lens);
    return 0;
}
