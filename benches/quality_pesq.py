#!/usr/bin/env python3
"""Scores the quality benchmark: wideband PESQ (ITU-T P.862.2, PyPI `pesq`) of each degraded
file against the reference, merged with the simulation's JSON lines. Prints a Markdown table.

usage: quality_pesq.py OUT_DIR STATS.jsonl
"""
import json
import sys
import wave

import numpy as np
from pesq import pesq


def read16(path):
    with wave.open(path, "rb") as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)


def main():
    out_dir, stats_path = sys.argv[1], sys.argv[2]
    ref = read16(f"{out_dir}/reference_16k.wav")
    rows = []
    with open(stats_path) as f:
        for line in f:
            s = json.loads(line)
            deg = read16(f"{out_dir}/{s['condition']}_16k.wav")
            n = min(len(ref), len(deg))
            s["mos_lqo"] = pesq(16000, ref[:n], deg[:n], "wb")
            rows.append(s)
    print("| condition | MOS-LQO (PESQ WB) | mean buffer delay | RED-recovered | FEC-recovered | concealed | CPU, wall (% of one core) | CPU, thread time (% of one core) |")
    print("|---|---|---|---|---|---|---|---|")
    for s in rows:
        print(
            f"| {s['label']} | {s['mos_lqo']:.2f} | {s['mean_buffer_delay_ms']:.1f} ms | {s['red_recovered']} | {s['fec']} | {s['concealed']} | {s['cpu_percent_of_one_core']:.2f} % | {s['thread_cpu_percent_whole_simulation']} % |"
        )
    with open(f"{out_dir}/results.json", "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
