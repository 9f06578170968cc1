#!/usr/bin/env bash
# SRTP throughput: sotto-srtp vs Debian's libsrtp2, same machine, same run, same packets.
#
#   benches/srtp-vs-libsrtp.sh [SECONDS] [wall|cpu]
#
# SECONDS per measurement (default 2). The clock (default cpu) is what both benchmarks divide
# by: `cpu` is the benchmark thread's own on-CPU time, i.e. the per-core rate even when other
# processes share the machine; `wall` is elapsed time (only meaningful on an idle machine).
#
# Builds `sotto` in release, builds our C benchmark benches/c/srtp_bench.c against
# libsrtp2-dev (pkg-config) into a temporary directory, then for every profile and payload size
# runs both, one thread each, pinned to the same CPU when `taskset` exists, and prints a
# markdown table with the ratios. Needs: cargo, gcc (cc), pkg-config, libsrtp2-dev.
# Honours CARGO_TARGET_DIR (default: target/ under the repository root).
set -euo pipefail

secs="${1:-2}"
clock="${2:-cpu}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

command -v pkg-config >/dev/null || { echo "pkg-config missing (apt-get install pkg-config)" >&2; exit 1; }
pkg-config --exists libsrtp2 || { echo "libsrtp2 missing (apt-get install libsrtp2-dev)" >&2; exit 1; }

cargo build --release -q -p sotto
sotto="${CARGO_TARGET_DIR:-$root/target}/release/sotto"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2046 # pkg-config output is meant to be split
cc -O2 -o "$tmp/srtp_bench" benches/c/srtp_bench.c $(pkg-config --cflags --libs libsrtp2)

pin=()
if command -v taskset >/dev/null; then pin=(taskset -c "$(($(nproc) - 1))"); fi

field() { # field NAME JSON
    sed -E "s/.*\"$1\":([0-9.]+).*/\1/" <<<"$2"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }
mpps() { awk -v a="$1" 'BEGIN { printf "%.2f", a / 1e6 }'; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
     "flags: $(grep -o -w 'aes\|sha_ni\|pclmulqdq\|avx2\|vaes\|vpclmulqdq' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "libsrtp2 $(pkg-config --modversion libsrtp2); $(rustc --version); ${secs}s per measurement, $clock clock; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| profile | payload B | sotto protect Mpps | libsrtp protect Mpps | ratio | sotto unprotect Mpps | libsrtp unprotect Mpps | ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for size in 160 1200; do
    for profile in AES_CM_128_HMAC_SHA1_80 AES_CM_128_HMAC_SHA1_32 AES_256_CM_HMAC_SHA1_80 \
                   AES_256_CM_HMAC_SHA1_32 AEAD_AES_128_GCM AEAD_AES_256_GCM; do
        ours="$("${pin[@]}" "$sotto" bench srtp --profile "$profile" --size "$size" --seconds "$secs" --clock "$clock")"
        theirs="$("${pin[@]}" "$tmp/srtp_bench" "$profile" "$size" "$secs" "$clock")"
        op="$(field protect_pps "$ours")"; ou="$(field unprotect_pps "$ours")"
        tp="$(field protect_pps "$theirs")"; tu="$(field unprotect_pps "$theirs")"
        echo "| $profile | $size | $(mpps "$op") | $(mpps "$tp") | $(ratio "$op" "$tp")× | $(mpps "$ou") | $(mpps "$tu") | $(ratio "$ou" "$tu")× |"
    done
done
