#!/bin/sh
# Echo cancellation and noise suppression benchmark (issue 5): real speech (espeak-ng, two
# voices) through a simulated room echo path and noise, cleaned by sotto-media's processing
# stage; ERLE, near-end preservation and SNR from the simulation, wideband PESQ of the near end.
#
#   benches/processing.sh [OUT_DIR]
#
# Needs: espeak-ng (Debian package), python3 with `pesq` and `numpy` (pip install pesq numpy).
set -eu
OUT=${1:-target/processing}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
command -v espeak-ng >/dev/null || { echo "espeak-ng missing: apt-get install espeak-ng" >&2; exit 1; }
python3 -c "import pesq, numpy" 2>/dev/null || { echo "python pesq missing: pip install pesq numpy" >&2; exit 1; }

# Harvard sentences (IEEE 1969, public domain): the far end (male voice) and the near end
# (female voice), about 16 s each.
espeak-ng -v en-us -s 150 -w "$OUT/far.wav" \
  "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. \
It's easy to tell the depth of a well. These days a chicken leg is a rare dish. \
Rice is often served in round bowls. The juice of lemons makes fine punch."
espeak-ng -v en-us+f3 -s 140 -w "$OUT/near.wav" \
  "The box was thrown beside the parked truck. The hogs were fed chopped corn and garbage. \
Four hours of steady work faced us. A large size in stockings is hard to sell. \
The boy was there when the sun rose."

cargo run --quiet --release -p sotto-media --example processing -- \
  "$OUT/far.wav" "$OUT/near.wav" "$OUT" > "$OUT/stats.jsonl"
cat "$OUT/stats.jsonl"
python3 - "$OUT" <<'PY'
import sys, wave
import numpy as np
from pesq import pesq
out = sys.argv[1]
def read(p):
    with wave.open(p, "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)
print("| condition | PESQ WB of the near end, microphone | after the stage |")
print("|---|---|---|")
for c in ["near_only", "double_talk", "white_noise", "pink_noise"]:
    ref = read(f"{out}/{c}_ref.wav")
    s = []
    for k in ["in", "out"]:
        d = read(f"{out}/{c}_{k}.wav")
        n = min(len(ref), len(d))
        s.append(pesq(16000, ref[:n], d[:n], "wb"))
    print(f"| {c} | {s[0]:.2f} | {s[1]:.2f} |")
PY
