/*
 * bzrtp_bench: CPU cost of a complete ZRTP handshake between two in-process libbzrtp contexts
 * (packets handed over in memory), for comparison with sotto's `benches/handshake.rs`.
 * Public libbzrtp API only.   usage: bzrtp_bench [KA] [N]     e.g. bzrtp_bench X255 200
 */
#include <bzrtp/bzrtp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QMAX 64
struct q { uint8_t pkt[QMAX][3000]; uint16_t len[QMAX]; int n; };
struct peer { bzrtpContext_t *ctx; uint32_t ssrc; struct q *to; int secure; };

static int send_data(void *c, const uint8_t *p, uint16_t len) {
	struct peer *me = c;
	if (me->to->n < QMAX) { memcpy(me->to->pkt[me->to->n], p, len); me->to->len[me->to->n++] = len; }
	return 0;
}
static int start_srtp(void *c, const bzrtpSrtpSecrets_t *s, int32_t v) { (void)s; (void)v; ((struct peer *)c)->secure = 1; return 0; }

static double cpu_now(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static double wall_now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }

static uint8_t ka_value(const char *s) {
	if (!strcmp(s, "X255")) return ZRTP_KEYAGREEMENT_X255;
	if (!strcmp(s, "X448")) return ZRTP_KEYAGREEMENT_X448;
	if (!strcmp(s, "EC25")) return ZRTP_KEYAGREEMENT_EC25;
	if (!strcmp(s, "DH3k")) return ZRTP_KEYAGREEMENT_DH3k;
	if (!strcmp(s, "DH2k")) return ZRTP_KEYAGREEMENT_DH2k;
	return 0;
}

static int handshake(uint8_t ka) {
	static struct q qa, qb;
	struct peer a = {0}, b = {0};
	struct q in_a, in_b;
	qa.n = qb.n = 0;
	a.ssrc = 0x11; b.ssrc = 0x22; a.to = &qb; b.to = &qa;
	struct peer *ps[2] = {&a, &b};
	for (int i = 0; i < 2; i++) {
		ps[i]->ctx = bzrtp_createBzrtpContext();
		bzrtpCallbacks_t cbs = {0};
		cbs.bzrtp_sendData = send_data;
		cbs.bzrtp_startSrtpSession = start_srtp;
		bzrtp_setCallbacks(ps[i]->ctx, &cbs);
		uint8_t k[7] = {ka};
		bzrtp_setSupportedCryptoTypes(ps[i]->ctx, ZRTP_KEYAGREEMENT_TYPE, k, 1);
		bzrtp_initBzrtpContext(ps[i]->ctx, ps[i]->ssrc);
		bzrtp_setClientData(ps[i]->ctx, ps[i]->ssrc, ps[i]);
	}
	uint64_t t = 1000;
	bzrtp_startChannelEngine(a.ctx, a.ssrc);
	bzrtp_startChannelEngine(b.ctx, b.ssrc);
	for (int round = 0; round < 200 && !(a.secure && b.secure); round++) {
		memcpy(&in_a, &qa, sizeof qa); qa.n = 0;
		memcpy(&in_b, &qb, sizeof qb); qb.n = 0;
		for (int i = 0; i < in_a.n; i++) bzrtp_processMessage(a.ctx, a.ssrc, in_a.pkt[i], in_a.len[i]);
		for (int i = 0; i < in_b.n; i++) bzrtp_processMessage(b.ctx, b.ssrc, in_b.pkt[i], in_b.len[i]);
		if (in_a.n == 0 && in_b.n == 0) { t += 10; bzrtp_iterate(a.ctx, a.ssrc, t); bzrtp_iterate(b.ctx, b.ssrc, t); }
	}
	int ok = a.secure && b.secure;
	bzrtp_destroyBzrtpContext(a.ctx, a.ssrc);
	bzrtp_destroyBzrtpContext(b.ctx, b.ssrc);
	return ok;
}

int main(int argc, char **argv) {
	const char *kas = argc > 1 ? argv[1] : "X255";
	int n = argc > 2 ? atoi(argv[2]) : 200;
	uint8_t ka = ka_value(kas);
	if (!ka || n < 1) { fprintf(stderr, "usage: bzrtp_bench [X255|X448|EC25|DH3k|DH2k] [N]\n"); return 1; }
	if (!handshake(ka)) { fprintf(stderr, "handshake did not complete\n"); return 2; }
	double c0 = cpu_now(), w0 = wall_now();
	for (int i = 0; i < n; i++) if (!handshake(ka)) { fprintf(stderr, "handshake %d failed\n", i); return 2; }
	printf("bzrtp handshake %s both initiators (contention, libbzrtp always commits): %.1f us CPU per handshake (both sides), %.1f us wall, n=%d\n", kas,
	       (cpu_now() - c0) / n, (wall_now() - w0) / n, n);
	return 0;
}
