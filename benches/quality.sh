#!/bin/sh
# Audio quality benchmark (issue 5): real speech (espeak-ng) → Opus → RTP → sotto-netem →
# jitter buffer → decode, scored with wideband PESQ for four network conditions.
#
#   benches/quality.sh [OUT_DIR] [SEED]
#
# Needs: espeak-ng (Debian package), python3 with `pesq` and `numpy` (pip install pesq numpy).
set -eu
OUT=${1:-target/quality}
SEED=${2:-1}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
command -v espeak-ng >/dev/null || { echo "espeak-ng missing: apt-get install espeak-ng" >&2; exit 1; }
python3 -c "import pesq, numpy" 2>/dev/null || { echo "python pesq missing: pip install pesq numpy" >&2; exit 1; }

# Harvard sentences (IEEE 1969, public domain), about 20 s of speech.
espeak-ng -v en-us -s 150 -w "$OUT/speech.wav" \
  "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. \
It's easy to tell the depth of a well. These days a chicken leg is a rare dish. \
Rice is often served in round bowls. The juice of lemons makes fine punch. \
The box was thrown beside the parked truck. The hogs were fed chopped corn and garbage. \
Four hours of steady work faced us. A large size in stockings is hard to sell."

cargo run --quiet --release -p sotto-media --example quality -- "$OUT/speech.wav" "$OUT" "$SEED" \
  > "$OUT/stats.jsonl"
python3 benches/quality_pesq.py "$OUT" "$OUT/stats.jsonl"
