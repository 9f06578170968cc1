/* Interop harness for sotto-media's Opus tests: wraps the system libopus.
 *
 *   opus_harness decode   stdin: repeated [u16 BE length][packet]; length 0 = lost packet.
 *                         stdout: per packet [u32 BE final_range][960 x s16 LE PCM].
 *   opus_harness encode BITRATE FEC LOSS_PERC [MAX_BANDWIDTH]
 *                         (MAX_BANDWIDTH: 1101 NB .. 1105 FB, default FB)
 *                         stdin: 960 x s16 LE per frame; stdout: [u16 BE length][packet]
 *                         [u32 BE final_range] per frame.
 * 48 kHz mono, 20 ms frames. Exit code != 0 on any libopus error. */
#include <opus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAME 960

static int read_exact(void *buf, size_t n) { return fread(buf, 1, n, stdin) == n; }

static void put_u32(opus_uint32 v) {
    unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};
    fwrite(b, 1, 4, stdout);
}

static int do_decode(void) {
    int err;
    OpusDecoder *dec = opus_decoder_create(48000, 1, &err);
    if (err != OPUS_OK) return 2;
    unsigned char len_b[2];
    unsigned char pkt[1500];
    opus_int16 pcm[FRAME];
    while (read_exact(len_b, 2)) {
        int len = (len_b[0] << 8) | len_b[1];
        if (len > (int)sizeof pkt || (len > 0 && !read_exact(pkt, len))) return 3;
        int n = opus_decode(dec, len ? pkt : NULL, len, pcm, FRAME, 0);
        if (n != FRAME) { fprintf(stderr, "opus_decode: %d\n", n); return 4; }
        opus_uint32 rng = 0;
        opus_decoder_ctl(dec, OPUS_GET_FINAL_RANGE(&rng));
        put_u32(rng);
        for (int i = 0; i < FRAME; i++) {
            unsigned char s[2] = {pcm[i] & 0xff, (pcm[i] >> 8) & 0xff};
            fwrite(s, 1, 2, stdout);
        }
    }
    opus_decoder_destroy(dec);
    return 0;
}

static int do_encode(int bitrate, int fec, int loss, int bw) {
    int err;
    OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
    if (err != OPUS_OK) return 2;
    opus_encoder_ctl(enc, OPUS_SET_BITRATE(bitrate));
    opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(fec));
    opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(loss));
    opus_encoder_ctl(enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
    opus_encoder_ctl(enc, OPUS_SET_MAX_BANDWIDTH(bw));
    unsigned char raw[FRAME * 2];
    opus_int16 pcm[FRAME];
    unsigned char pkt[1500];
    while (read_exact(raw, sizeof raw)) {
        for (int i = 0; i < FRAME; i++) pcm[i] = (opus_int16)(raw[2 * i] | (raw[2 * i + 1] << 8));
        int n = opus_encode(enc, pcm, FRAME, pkt, sizeof pkt);
        if (n < 0) { fprintf(stderr, "opus_encode: %d\n", n); return 4; }
        unsigned char l[2] = {n >> 8, n & 0xff};
        fwrite(l, 1, 2, stdout);
        fwrite(pkt, 1, n, stdout);
        opus_uint32 rng = 0;
        opus_encoder_ctl(enc, OPUS_GET_FINAL_RANGE(&rng));
        put_u32(rng);
    }
    opus_encoder_destroy(enc);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "decode") == 0) return do_decode();
    if (argc >= 5 && strcmp(argv[1], "encode") == 0)
        return do_encode(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]),
                         argc >= 6 ? atoi(argv[5]) : OPUS_BANDWIDTH_FULLBAND);
    fprintf(stderr, "usage: opus_harness decode | encode BITRATE FEC LOSS\n");
    return 1;
}
