#!/usr/bin/env bash
# Call setup: INVITE → SAS shown, on 127.0.0.1, same machine, same run:
#   1. sotto → sotto (two processes): the caller's `time_to_secure_ms`, measured inside the
#      caller from the moment its INVITE is produced to the moment its Secure event (with the
#      SAS) is produced;
#   2. sotto → linphonec (Debian linphone-cli, ZRTP mandatory, auto-answer): the same figure;
#   3. linphonec → linphonec: from linphonec printing "Call N to ... in progress" (INVITE sent)
#      to it printing "... auth token is XXXX" (SAS shown), both lines time-stamped as they
#      arrive on its stdout.
#
#   benches/call-setup.sh [RUNS]        (default 10 runs of each)
#
# Needs linphonec (apt-get install -y linphone-cli) and python3 (free ports, statistics).
# Prints the median, min and max of each, in ms.
set -euo pipefail
RUNS=${1:-10}
cd "$(dirname "$0")/.."
command -v linphonec >/dev/null || { echo "linphonec missing: apt-get install -y linphone-cli" >&2; exit 1; }
[ -n "${SOTTO_NO_BUILD:-}" ] || cargo build --release -p sotto -q
SOTTO=$PWD/target/release/sotto
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
free_rtp_port() {
  python3 - <<'EOF'
import socket
while True:
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(("127.0.0.1", 0))
    p = a.getsockname()[1] & ~1
    a.close()
    try:
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(("127.0.0.1", p))
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.bind(("127.0.0.1", p + 1))
        print(p); break
    except OSError:
        pass
EOF
}
stats() { python3 -c 'import sys,statistics as s; v=[float(x) for x in sys.stdin.read().split()]; print(f"median {s.median(v):7.1f} ms   min {min(v):7.1f}   max {max(v):7.1f}   (n={len(v)})")'; }

# A private linphonerc: 127.0.0.1 only, IPv6 off, Opus only, ZRTP mandatory.
linphonerc() { # sip_port rtp_port user
  cat <<EOF
[sip]
sip_port=$1
sip_tcp_port=-1
sip_tls_port=-1
bind_address=127.0.0.1
contact="$3" <sip:$3@127.0.0.1>
guess_hostname=0
use_ipv6=0
ipv6_migration_done=1
media_encryption=zrtp
media_encryption_mandatory=1
[net]
firewall_policy=0
[rtp]
bind_address=127.0.0.1
audio_rtp_port=$2
[video]
enabled=0
capture=0
display=0
[sound]
echocancellation=0
[audio_codec_0]
mime=opus
rate=48000
channels=2
enabled=1
EOF
  local i=1
  for c in "speex 16000" "speex 8000" "speex 32000" "PCMU 8000" "PCMA 8000" "GSM 8000" "G722 8000" "G729 8000"; do
    set -- $c
    printf '[audio_codec_%d]\nmime=%s\nrate=%s\nchannels=1\nenabled=0\n' "$i" "$1" "$2"
    i=$((i + 1))
  done
}

# Starts linphonec NAME [-a]; its stdin is the fifo $TMP/NAME.in, its stdout lines go
# time-stamped (unix seconds) into $TMP/NAME.out. Sets LP_SIP.
start_linphonec() {
  local name=$1; shift
  local dir=$TMP/$name
  mkdir -p "$dir/home/.local/share/linphone" "$dir/home/.config"
  LP_SIP=$(free_port)
  linphonerc "$LP_SIP" "$(free_rtp_port)" "$name" > "$dir/rc"
  mkfifo "$TMP/$name.in"
  ( HOME=$dir/home linphonec -c "$dir/rc" "$@" < "$TMP/$name.in" 2>/dev/null \
      | while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "$line"; done \
      > "$TMP/$name.out" ) &
  PIDS+=($!)
  exec {fd}> "$TMP/$name.in"
  eval "FD_$name=$fd"
  echo "soundcard use files" >&"$fd"
  for _ in $(seq 100); do
    python3 -c "import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1',$LP_SIP))" 2>/dev/null || return 0
    sleep 0.05
  done
  echo "linphonec $name does not listen" >&2; exit 1
}
wait_line() { # file pattern after_line_count -> prints the matching line
  for _ in $(seq 400); do
    local l
    l=$(tail -n +"$(( $3 + 1 ))" "$1" | grep -m1 -- "$2" || true)
    if [ -n "$l" ]; then echo "$l"; return 0; fi
    sleep 0.025
  done
  echo "timed out waiting for '$2' in $1" >&2; return 1
}

echo "call setup (INVITE -> SAS shown), 127.0.0.1, $(nproc) cores, $RUNS runs each"

# 1. sotto -> sotto
: > "$TMP/sotto.ms"
for _ in $(seq "$RUNS"); do
  port=$(free_port)
  "$SOTTO" --ephemeral listen --auto-answer --sip "127.0.0.1:$port" --timeout 10 > /dev/null 2>&1 &
  lpid=$!
  for _ in $(seq 100); do
    python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1',$port))" 2>/dev/null || break
    sleep 0.02
  done
  "$SOTTO" --ephemeral call "sip:b@127.0.0.1:$port" --duration 0.2 --timeout 10 2>/dev/null \
    | python3 -c 'import sys,json
for l in sys.stdin:
    e=json.loads(l)
    if e.get("event")=="summary": print(e["time_to_secure_ms"])' >> "$TMP/sotto.ms"
  wait "$lpid" || true
done
printf 'sotto -> sotto         : '; stats < "$TMP/sotto.ms"

# 2. sotto -> linphonec (auto-answer)
start_linphonec callee -a
: > "$TMP/sotto_lp.ms"
for _ in $(seq "$RUNS"); do
  "$SOTTO" --ephemeral call "sip:callee@127.0.0.1:$LP_SIP" --duration 0.2 --timeout 10 2>/dev/null \
    | python3 -c 'import sys,json
for l in sys.stdin:
    e=json.loads(l)
    if e.get("event")=="summary" and e["time_to_secure_ms"] is not None: print(e["time_to_secure_ms"])' >> "$TMP/sotto_lp.ms"
  sleep 0.3
done
printf 'sotto -> linphonec     : '; stats < "$TMP/sotto_lp.ms"

# 3. linphonec -> linphonec
CALLEE_SIP=$LP_SIP
start_linphonec caller
: > "$TMP/lp.ms"
for _ in $(seq "$RUNS"); do
  n=$(wc -l < "$TMP/caller.out")
  echo "call sip:callee@127.0.0.1:$CALLEE_SIP" >&"$FD_caller"
  t0=$(wait_line "$TMP/caller.out" "in progress" "$n" | cut -d' ' -f1)
  t1=$(wait_line "$TMP/caller.out" "auth token is" "$n" | cut -d' ' -f1)
  python3 -c "print(($t1 - $t0) * 1000)" >> "$TMP/lp.ms"
  echo "terminate" >&"$FD_caller"
  wait_line "$TMP/caller.out" "ended" "$n" > /dev/null
  sleep 0.3
done
printf 'linphonec -> linphonec : '; stats < "$TMP/lp.ms"
echo "quit" >&"$FD_caller"
echo "quit" >&"$FD_callee"
