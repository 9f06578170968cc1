#!/bin/sh
# ZRTP speed: sotto against libbzrtp (Debian libbzrtp-dev 5.1), same machine, same run.
#   1. CPU cost of a full handshake between two in-process engines (both sides' work).
#   2. Time to SECURE over UDP on 127.0.0.1 between two processes: `sotto zrtp-peer` pairs and
#      pairs of the libbzrtp test peer (tests/c/bzrtp_peer.c). The responder starts first; the
#      figure is the initiator's elapsed_ms (process start to SECURE), median and p90 of N runs.
# usage: crates/sotto-zrtp/benches/zrtp-vs-bzrtp.sh [N]      (from the repository root)
set -eu
N=${1:-20}
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=$root/target/zrtp-bench
mkdir -p "$out"
flags=$(pkg-config --cflags --libs libbzrtp bctoolbox sqlite3)
cc -O2 -o "$out/bzrtp_peer" "$root/crates/sotto-zrtp/tests/c/bzrtp_peer.c" $flags
cc -O2 -o "$out/bzrtp_bench" "$root/crates/sotto-zrtp/tests/c/bzrtp_bench.c" $flags
(cd "$root" && cargo build -q --release -p sotto)
sotto=$root/target/release/sotto

echo "## in-process handshake CPU"
(cd "$root" && cargo bench -q -p sotto-zrtp --bench handshake -- X255 500 2>/dev/null | grep handshake)
"$out/bzrtp_bench" X255 500
(cd "$root" && cargo bench -q -p sotto-zrtp --bench handshake -- DH3k 20 2>/dev/null | grep handshake)
"$out/bzrtp_bench" DH3k 20

stats() { sort -n | awk '{a[NR]=$1} END {printf "median %.2f ms, p90 %.2f ms, n=%d\n", a[int((NR+1)/2)], a[int(NR*0.9+0.5)], NR}'; }
elapsed() { sed -n 's/.*"elapsed_ms":\([0-9.]*\).*/\1/p' | head -1; }

echo "## UDP loopback, X255, time to SECURE (initiator process)"
port=45000
: > "$out/sotto.txt"; : > "$out/bzrtp.txt"
i=0
while [ $i -lt "$N" ]; do
  p=$((port + i * 4))
  "$sotto" zrtp-peer --listen 127.0.0.1:$((p+2)) --peer 127.0.0.1:$p --role responder --linger 100 > /dev/null &
  r=$!; sleep 0.1
  "$sotto" zrtp-peer --listen 127.0.0.1:$p --peer 127.0.0.1:$((p+2)) --role initiator --linger 100 | elapsed >> "$out/sotto.txt"
  wait $r
  p=$((p + 1000))
  "$out/bzrtp_peer" --listen $((p+2)) --peer $p --linger 100 > /dev/null &
  r=$!; sleep 0.1
  "$out/bzrtp_peer" --listen $p --peer $((p+2)) --linger 100 | elapsed >> "$out/bzrtp.txt"
  wait $r
  i=$((i + 1))
done
printf "sotto zrtp-peer pair: "; stats < "$out/sotto.txt"
printf "libbzrtp peer pair:   "; stats < "$out/bzrtp.txt"
