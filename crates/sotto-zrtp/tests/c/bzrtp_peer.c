/*
 * bzrtp_peer: one libbzrtp endpoint over UDP on 127.0.0.1, for sotto's interop tests and
 * benchmarks. Written against libbzrtp's public API (bzrtp/bzrtp.h) only.
 *
 * usage: bzrtp_peer --listen PORT --peer PORT [--ka LIST] [--hash LIST] [--cipher LIST]
 *          [--auth LIST] [--sas LIST] [--cache FILE] [--self-uri URI] [--peer-uri URI]
 *          [--streams 1|2] [--loss PCT] [--seed N] [--verify] [--timeout MS] [--linger MS]
 *          [--peer-hello-hash "1.10 HEX"] [--hello-hash-out FILE] [--export-label L] [--aux HEX]
 *
 * Stream n (0-based) uses UDP port listen+n and sends to peer+n. One JSON line per stream is
 * printed on stdout when that stream is secure. Exit 0 when all streams are secure, 3 on timeout,
 * 2 on a channel error.
 */
#include <bzrtp/bzrtp.h>
#include <sqlite3.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_STREAMS 2

struct stream {
	int fd;
	uint32_t ssrc;
	struct sockaddr_in peer;
	int started;
	int secure;
	int index;
	uint8_t self_key[32], self_salt[14], peer_key[32], peer_salt[14];
	int key_len, salt_len;
};

static struct stream streams[MAX_STREAMS];
static int nstreams = 1;
static bzrtpContext_t *ctx;
static double loss = 0.0;
static int do_verify = 0;
static uint64_t t_start;
static const char *export_label = NULL;

static uint64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static double now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}
static double t_start_us;

static void hex(const uint8_t *b, int n, char *out) {
	for (int i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = 0;
}

static const char *algo_name(uint8_t v) {
	switch (v) {
	case ZRTP_HASH_S256: return "S256";
	case ZRTP_HASH_S384: return "S384";
	case ZRTP_CIPHER_AES1: return "AES1";
	case ZRTP_CIPHER_AES3: return "AES3";
	case ZRTP_AUTHTAG_HS32: return "HS32";
	case ZRTP_AUTHTAG_HS80: return "HS80";
	case ZRTP_KEYAGREEMENT_DH2k: return "DH2k";
	case ZRTP_KEYAGREEMENT_DH3k: return "DH3k";
	case ZRTP_KEYAGREEMENT_X255: return "X255";
	case ZRTP_KEYAGREEMENT_X448: return "X448";
	case ZRTP_KEYAGREEMENT_EC25: return "EC25";
	case ZRTP_KEYAGREEMENT_EC38: return "EC38";
	case ZRTP_KEYAGREEMENT_Mult: return "Mult";
	case ZRTP_SAS_B32: return "B32";
	case ZRTP_SAS_B256: return "B256";
	default: return "?";
	}
}

static int algo_value(const char *s, uint8_t type) {
	struct { const char *n; uint8_t t; uint8_t v; } map[] = {
		{"S256", ZRTP_HASH_TYPE, ZRTP_HASH_S256}, {"S384", ZRTP_HASH_TYPE, ZRTP_HASH_S384},
		{"AES1", ZRTP_CIPHERBLOCK_TYPE, ZRTP_CIPHER_AES1}, {"AES3", ZRTP_CIPHERBLOCK_TYPE, ZRTP_CIPHER_AES3},
		{"HS32", ZRTP_AUTHTAG_TYPE, ZRTP_AUTHTAG_HS32}, {"HS80", ZRTP_AUTHTAG_TYPE, ZRTP_AUTHTAG_HS80},
		{"DH2k", ZRTP_KEYAGREEMENT_TYPE, ZRTP_KEYAGREEMENT_DH2k}, {"DH3k", ZRTP_KEYAGREEMENT_TYPE, ZRTP_KEYAGREEMENT_DH3k},
		{"X255", ZRTP_KEYAGREEMENT_TYPE, ZRTP_KEYAGREEMENT_X255}, {"X448", ZRTP_KEYAGREEMENT_TYPE, ZRTP_KEYAGREEMENT_X448},
		{"EC25", ZRTP_KEYAGREEMENT_TYPE, ZRTP_KEYAGREEMENT_EC25}, {"EC38", ZRTP_KEYAGREEMENT_TYPE, ZRTP_KEYAGREEMENT_EC38},
		{"B32", ZRTP_SAS_TYPE, ZRTP_SAS_B32}, {"B256", ZRTP_SAS_TYPE, ZRTP_SAS_B256},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].t == type && strcasecmp(map[i].n, s) == 0) return map[i].v;
	return -1;
}

static int set_list(uint8_t type, const char *list) {
	uint8_t v[7];
	int n = 0;
	char buf[256];
	snprintf(buf, sizeof buf, "%s", list);
	for (char *tok = strtok(buf, ","); tok && n < 7; tok = strtok(NULL, ",")) {
		int x = algo_value(tok, type);
		if (x < 0) { fprintf(stderr, "unknown algorithm %s\n", tok); return -1; }
		v[n++] = (uint8_t)x;
	}
	bzrtp_setSupportedCryptoTypes(ctx, type, v, (uint8_t)n);
	return 0;
}

static int send_data(void *client, const uint8_t *pkt, uint16_t len) {
	struct stream *s = (struct stream *)client;
	sendto(s->fd, pkt, len, 0, (struct sockaddr *)&s->peer, sizeof s->peer);
	return 0;
}

static int secrets_available(void *client, const bzrtpSrtpSecrets_t *sec, uint8_t part) {
	struct stream *s = (struct stream *)client;
	if (part & ZRTP_SRTP_SECRETS_FOR_SENDER) {
		memcpy(s->self_key, sec->selfSrtpKey, sec->selfSrtpKeyLength);
		memcpy(s->self_salt, sec->selfSrtpSalt, sec->selfSrtpSaltLength);
	}
	if (part & ZRTP_SRTP_SECRETS_FOR_RECEIVER) {
		memcpy(s->peer_key, sec->peerSrtpKey, sec->peerSrtpKeyLength);
		memcpy(s->peer_salt, sec->peerSrtpSalt, sec->peerSrtpSaltLength);
	}
	s->key_len = sec->selfSrtpKeyLength;
	s->salt_len = sec->selfSrtpSaltLength;
	return 0;
}

static int start_srtp(void *client, const bzrtpSrtpSecrets_t *sec, int32_t verified) {
	struct stream *s = (struct stream *)client;
	char sk[65], ss[29], pk[65], ps[29];
	hex(s->self_key, s->key_len, sk);
	hex(s->self_salt, s->salt_len, ss);
	hex(s->peer_key, s->key_len, pk);
	hex(s->peer_salt, s->salt_len, ps);
	char exported[200] = "";
	if (export_label && s->index == 0) {
		uint8_t k[64];
		size_t kl = 64;
		/* bzrtp exports keys only from channel 0 once s0 is known: done in the ready callback. */
		(void)k; (void)kl;
	}
	printf("{\"result\":\"secure\",\"stream\":%d,\"sas\":\"%s\",\"sas_type\":\"%s\",\"hash\":\"%s\","
	       "\"cipher\":\"%s\",\"cipher_key_len\":%d,\"auth_tag\":\"%s\",\"key_agreement\":\"%s\","
	       "\"send_key\":\"%s\",\"send_salt\":\"%s\",\"recv_key\":\"%s\",\"recv_salt\":\"%s\","
	       "\"cache_mismatch\":%s,\"aux_mismatch\":%d,\"sas_verified\":%s,\"elapsed_ms\":%.3f%s}\n",
	       s->index + 1, sec->sas ? sec->sas : "", algo_name(sec->sasAlgo), algo_name(sec->hashAlgo),
	       algo_name(sec->cipherAlgo), sec->cipherKeyLength, algo_name(sec->authTagAlgo),
	       algo_name(sec->keyAgreementAlgo), sk, ss, pk, ps, sec->cacheMismatch ? "true" : "false",
	       sec->auxSecretMismatch,
	       verified ? "true" : "false", (now_us() - t_start_us) / 1000.0, exported);
	fflush(stdout);
	s->secure = 1;
	if (do_verify && s->index == 0) bzrtp_SASVerified(ctx);
	return 0;
}

static int ready_for_export(void *client, int zuid, uint8_t role) {
	(void)zuid; (void)role;
	struct stream *s = (struct stream *)client;
	if (export_label && s->index == 0) {
		uint8_t k[64];
		size_t kl = 64;
		if (bzrtp_exportKey(ctx, (char *)export_label, strlen(export_label), k, &kl) == 0) {
			char h[129];
			hex(k, (int)kl, h);
			fprintf(stderr, "exported_key %s\n", h);
		}
	}
	return 0;
}

static int open_socket(int port) {
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("bind"); exit(4); }
	return fd;
}

int main(int argc, char **argv) {
	int listen_port = 0, peer_port = 0, timeout_ms = 10000, linger_ms = 500;
	const char *ka = NULL, *hash = NULL, *cipher = NULL, *auth = NULL, *sas = NULL;
	const char *cache = NULL, *self_uri = "sip:self@sotto.invalid", *peer_uri = "sip:peer@sotto.invalid";
	const char *peer_hello_hash = NULL, *hello_hash_out = NULL, *aux = NULL;
	unsigned seed = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
		if (ARG("--listen")) listen_port = atoi(v);
		else if (ARG("--peer")) peer_port = atoi(v);
		else if (ARG("--ka")) ka = v;
		else if (ARG("--hash")) hash = v;
		else if (ARG("--cipher")) cipher = v;
		else if (ARG("--auth")) auth = v;
		else if (ARG("--sas")) sas = v;
		else if (ARG("--cache")) cache = v;
		else if (ARG("--self-uri")) self_uri = v;
		else if (ARG("--peer-uri")) peer_uri = v;
		else if (ARG("--streams")) nstreams = atoi(v);
		else if (ARG("--loss")) loss = atof(v) / 100.0;
		else if (ARG("--seed")) seed = (unsigned)atoi(v);
		else if (ARG("--timeout")) timeout_ms = atoi(v);
		else if (ARG("--linger")) linger_ms = atoi(v);
		else if (ARG("--peer-hello-hash")) peer_hello_hash = v;
		else if (ARG("--hello-hash-out")) hello_hash_out = v;
		else if (ARG("--export-label")) export_label = v;
		else if (ARG("--aux")) aux = v;
		else if (strcmp(a, "--verify") == 0) do_verify = 1;
		else { fprintf(stderr, "bad argument %s\n", a); return 1; }
	}
	if (!listen_port || !peer_port || nstreams < 1 || nstreams > MAX_STREAMS) {
		fprintf(stderr, "usage: bzrtp_peer --listen PORT --peer PORT ...\n");
		return 1;
	}
	srand(seed);
	t_start = now_ms();
	t_start_us = now_us();

	ctx = bzrtp_createBzrtpContext();
	bzrtpCallbacks_t cbs = {0};
	cbs.bzrtp_sendData = send_data;
	cbs.bzrtp_srtpSecretsAvailable = secrets_available;
	cbs.bzrtp_startSrtpSession = start_srtp;
	cbs.bzrtp_contextReadyForExportedKeys = ready_for_export;
	bzrtp_setCallbacks(ctx, &cbs);

	sqlite3 *db = NULL;
	if (cache) {
		if (sqlite3_open(cache, &db) != SQLITE_OK) { fprintf(stderr, "cannot open cache\n"); return 4; }
		bzrtp_initCache_lock(db, NULL);
		bzrtp_setZIDCache_lock(ctx, db, self_uri, peer_uri, NULL);
	}
	if ((ka && set_list(ZRTP_KEYAGREEMENT_TYPE, ka)) || (hash && set_list(ZRTP_HASH_TYPE, hash)) ||
	    (cipher && set_list(ZRTP_CIPHERBLOCK_TYPE, cipher)) || (auth && set_list(ZRTP_AUTHTAG_TYPE, auth)) ||
	    (sas && set_list(ZRTP_SAS_TYPE, sas)))
		return 1;

	for (int n = 0; n < nstreams; n++) {
		struct stream *s = &streams[n];
		s->index = n;
		s->fd = open_socket(listen_port + n);
		s->ssrc = 0x0b000000u + (unsigned)listen_port * 4 + (unsigned)n;
		s->peer.sin_family = AF_INET;
		s->peer.sin_port = htons((uint16_t)(peer_port + n));
		s->peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	bzrtp_initBzrtpContext(ctx, streams[0].ssrc);
	bzrtp_setClientData(ctx, streams[0].ssrc, &streams[0]);
	if (aux) {
		uint8_t a[64];
		size_t n = strlen(aux) / 2;
		if (n > sizeof a) n = sizeof a;
		for (size_t k = 0; k < n; k++) sscanf(aux + 2 * k, "%2hhx", &a[k]);
		bzrtp_setAuxiliarySharedSecret(ctx, a, n);
	}
	if (peer_hello_hash)
		bzrtp_setPeerHelloHash(ctx, streams[0].ssrc, (uint8_t *)peer_hello_hash, strlen(peer_hello_hash));
	if (hello_hash_out) {
		uint8_t h[128];
		if (bzrtp_getSelfHelloHash(ctx, streams[0].ssrc, h, sizeof h) == 0) {
			FILE *f = fopen(hello_hash_out, "w");
			if (f) { fprintf(f, "%s\n", h); fclose(f); }
		}
	}
	bzrtp_startChannelEngine(ctx, streams[0].ssrc);
	streams[0].started = 1;

	uint64_t secure_since = 0;
	for (;;) {
		uint64_t t = now_ms();
		if (t - t_start > (uint64_t)timeout_ms) { fprintf(stderr, "timeout\n"); return 3; }
		int all = 1;
		for (int n = 0; n < nstreams; n++) all &= streams[n].secure;
		if (all) {
			if (!secure_since) secure_since = t;
			if (t - secure_since >= (uint64_t)linger_ms) break;
		}
		/* Start the second stream once the first is secure (Multistream needs ZRTPSess). */
		if (nstreams > 1 && streams[0].secure && !streams[1].started) {
			bzrtp_addChannel(ctx, streams[1].ssrc);
			bzrtp_setClientData(ctx, streams[1].ssrc, &streams[1]);
			bzrtp_startChannelEngine(ctx, streams[1].ssrc);
			streams[1].started = 1;
		}
		struct pollfd pfd[MAX_STREAMS];
		for (int n = 0; n < nstreams; n++) { pfd[n].fd = streams[n].fd; pfd[n].events = POLLIN; }
		int r = poll(pfd, (nfds_t)nstreams, 1);
		if (r > 0) {
			for (int n = 0; n < nstreams; n++) {
				if (!(pfd[n].revents & POLLIN)) continue;
				uint8_t buf[3000];
				ssize_t len = recv(streams[n].fd, buf, sizeof buf, 0);
				if (len <= 0) continue;
				if (loss > 0 && (double)rand() / RAND_MAX < loss) continue;
				if (!streams[n].started) continue;
				bzrtp_processMessage(ctx, streams[n].ssrc, buf, (uint16_t)len);
				if (bzrtp_getChannelStatus(ctx, streams[n].ssrc) == BZRTP_CHANNEL_ERROR) {
					fprintf(stderr, "channel %d error\n", n + 1);
					return 2;
				}
			}
		}
		t = now_ms();
		for (int n = 0; n < nstreams; n++)
			if (streams[n].started) bzrtp_iterate(ctx, streams[n].ssrc, t);
	}
	for (int n = nstreams - 1; n >= 0; n--) bzrtp_destroyBzrtpContext(ctx, streams[n].ssrc);
	if (db) sqlite3_close(db);
	return 0;
}
