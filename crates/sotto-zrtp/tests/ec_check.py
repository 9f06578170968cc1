#!/usr/bin/env python3
"""Independent check of EC25/EC38 ZRTP handshakes (RFC 6189), written from the RFC only.

Input: a JSON file from tests/zrtp_ec_kat.rs (captured messages, the random bytes each engine
drew, the values each engine reported). Uses pycryptodome for P-256/P-384 point arithmetic,
SHA-2, HMAC and AES-CFB; none of sotto's code. Prints one line per case and "<n> cases ok", or
the first mismatch and exits 1.
"""

import hashlib
import hmac
import json
import struct
import sys

try:
    from Crypto.Cipher import AES
    from Crypto.PublicKey import ECC
except ImportError:
    sys.exit("pycryptodome is missing: python3 -m pip install pycryptodome")

FIELD_LEN = {"P-256": 32, "P-384": 48}
HASHES = {"S256": hashlib.sha256, "S384": hashlib.sha384}
B32 = "ybndrfg8ejkmcpqxot1uwisza345h769"


class Mismatch(Exception):
    pass


def check(what, got, want):
    if got != want:
        raise Mismatch(f"{what}: got {got!r}, want {want!r}")


def kdf(hash_fn, ki, label, context, bits):
    # §4.5.1: KDF(KI, Label, Context, L) = HMAC(KI, i || Label || 0x00 || Context || L),
    # i = 1 and L in bits, both 32-bit big-endian; the leftmost L bits are kept.
    data = struct.pack(">I", 1) + label + b"\x00" + context + struct.pack(">I", bits)
    return hmac.new(ki, data, hash_fn).digest()[: bits // 8]


def mac8(key, data):
    # The hash-chain MACs of §9 (Hello, Commit, DHPart) use HMAC-SHA-256, truncated to 64 bits.
    return hmac.new(key, data, hashlib.sha256).digest()[:8]


def point(curve, pv):
    # §5.1.5: EC25/EC38 public values are x || y, each big-endian and field-length long.
    n = FIELD_LEN[curve]
    check("public value length", len(pv), 2 * n)
    x = int.from_bytes(pv[:n], "big")
    y = int.from_bytes(pv[n:], "big")
    try:
        return ECC.EccPoint(x, y, curve)
    except ValueError as e:
        raise Mismatch(f"public value is not a point of {curve}: {e}") from e


def find_scalar(curve, chunks, pub):
    # The private scalar is one of the chunks the engine drew from its Random: the one d with
    # d·G = the public value it sent.
    n = FIELD_LEN[curve]
    for c in chunks:
        b = bytes.fromhex(c)
        if len(b) != n:
            continue
        d = int.from_bytes(b, "big")
        if d == 0:
            continue
        try:
            key = ECC.construct(curve=curve, d=d)
        except ValueError:
            continue
        q = key.pointQ
        if q.x == pub.x and q.y == pub.y:
            return d
    raise Mismatch("no drawn chunk is the private scalar of the public value sent")


def fields(msg, kind):
    """Splits a message by the §5 layouts (12-byte header: preamble, length, type)."""
    check(f"{kind} preamble", msg[:2], b"\x50\x5a")
    check(f"{kind} length field", struct.unpack(">H", msg[2:4])[0] * 4, len(msg))
    check(f"{kind} type", msg[4:12], kind.ljust(8).encode())
    body = msg[12:]
    if kind == "Commit":
        return {"h2": body[0:32], "zid": body[32:44], "algos": body[44:64], "hvi": body[64:96],
                "mac": body[-8:]}
    if kind.startswith("DHPart"):
        return {"h1": body[0:32], "rs1": body[32:40], "rs2": body[40:48], "aux": body[48:56],
                "pbx": body[56:64], "pv": body[64:-8], "mac": body[-8:]}
    if kind.startswith("Confirm"):
        return {"mac": body[0:8], "iv": body[8:24], "enc": body[24:]}
    raise ValueError(kind)


def check_confirm(name, msg, mackey, zrtpkey, dhpart, dhpart_name):
    c = fields(msg, name)
    hash_len = len(mackey)
    # §5.7: confirm_mac = MAC(mackey, encrypted part), truncated to 64 bits, with the
    # negotiated hash.
    fn = hashlib.sha256 if hash_len == 32 else hashlib.sha384
    check(f"{name} MAC", c["mac"], hmac.new(mackey, c["enc"], fn).digest()[:8])
    plain = AES.new(zrtpkey, AES.MODE_CFB, iv=c["iv"], segment_size=128).decrypt(c["enc"])
    h0 = plain[:32]
    # §9: H1 = SHA-256(H0) is the H1 sent in that side's DHPart, whose MAC is keyed by H0.
    d = fields(dhpart, dhpart_name)
    check(f"{name} H0 -> {dhpart_name} H1", hashlib.sha256(h0).digest(), d["h1"])
    check(f"{dhpart_name} MAC (H0)", d["mac"], mac8(h0, dhpart[:-8]))
    return plain


def run_case(case):
    curve = case["curve"]
    hash_fn = HASHES[case["hash"]]
    hash_len = hash_fn().digest_size
    key_len = case["cipher_key_len"]
    m = {k: bytes.fromhex(case[k]) for k in
         ("hello_r", "commit", "dhpart1", "dhpart2", "confirm1", "confirm2")}
    zid_i, zid_r = bytes.fromhex(case["zid_i"]), bytes.fromhex(case["zid_r"])

    commit = fields(m["commit"], "Commit")
    d1 = fields(m["dhpart1"], "DHPart1")
    d2 = fields(m["dhpart2"], "DHPart2")
    check("Commit ZID", commit["zid"], zid_i)
    check("responder Hello ZID", m["hello_r"][12 + 4 + 16 + 32: 12 + 4 + 16 + 32 + 12], zid_r)
    ka = {"P-256": b"EC25", "P-384": b"EC38"}[curve]
    check("Commit key agreement", commit["algos"][12:16], ka)
    check("Commit hash", commit["algos"][0:4], case["hash"].encode())

    # Public values: on the curve, x || y, and d·G for a scalar the engine really drew.
    p_r = point(curve, d1["pv"])
    p_i = point(curve, d2["pv"])
    d_r = find_scalar(curve, case["random_r"], p_r)
    d_i = find_scalar(curve, case["random_i"], p_i)

    # §4.4.1.4 / §5.1.5: the ECDH result is the x-coordinate of the shared point.
    n = FIELD_LEN[curve]
    s_r = p_i * d_r
    s_i = p_r * d_i
    check("both sides' ECDH results", int(s_r.x), int(s_i.x))
    dh_result = int(s_r.x).to_bytes(n, "big")

    # §4.4.1.1: hvi = hash(DHPart2 || responder's Hello), truncated to 256 bits.
    check("hvi", commit["hvi"], hash_fn(m["dhpart2"] + m["hello_r"]).digest()[:32])
    # §9: the Commit MAC is keyed by the initiator's H1 (revealed in DHPart2), H2 = hash(H1).
    check("Commit H2", commit["h2"], hashlib.sha256(d2["h1"]).digest())
    check("Commit MAC (H1)", commit["mac"], mac8(d2["h1"], m["commit"][:-8]))

    # §4.4.1.4: total_hash and s0 (no retained, auxiliary or PBX secret: all three lengths 0).
    total_hash = hash_fn(m["hello_r"] + m["commit"] + m["dhpart1"] + m["dhpart2"]).digest()
    context = zid_i + zid_r + total_hash
    s0 = hash_fn(struct.pack(">I", 1) + dh_result + b"ZRTP-HMAC-KDF" + zid_i + zid_r +
                 total_hash + struct.pack(">III", 0, 0, 0)).digest()

    def k(label, bits):
        return kdf(hash_fn, s0, label, context, bits)

    # §4.5.3: SRTP master keys and salts.
    want = {
        "srtp_key_i": k(b"Initiator SRTP master key", key_len * 8),
        "srtp_salt_i": k(b"Initiator SRTP master salt", 112),
        "srtp_key_r": k(b"Responder SRTP master key", key_len * 8),
        "srtp_salt_r": k(b"Responder SRTP master salt", 112),
        # §4.5.2: ZRTPSess and the exported key (applications derive with the same KDF).
        "zrtp_sess": k(b"ZRTP Session Key", hash_len * 8),
    }
    exported = k(b"Exported key", hash_len * 8)
    want["exported_sotto_kat"] = kdf(hash_fn, exported, b"sotto-kat", context, hash_len * 8)
    # §4.5.2 / §5.1.6: sashash = KDF(s0, "SAS", context, 256), sasvalue its leftmost 32 bits;
    # B32 renders the leftmost 20 bits as four z-base-32 characters.
    sashash = k(b"SAS", 256)
    sas_value = int.from_bytes(sashash[:4], "big")
    sas = "".join(B32[(sas_value >> (27 - 5 * j)) & 31] for j in range(4))

    for side in ("initiator", "responder"):
        got = case[side]
        for name, value in want.items():
            check(f"{side} {name}", bytes.fromhex(got[name]), value)
        check(f"{side} sas_value", got["sas_value"], sas_value)
        check(f"{side} sas", got["sas"], sas)

    # §4.5.3 / §5.7: both Confirms decrypt and authenticate with the derived keys, and their
    # H0 closes each side's hash chain.
    check_confirm("Confirm1", m["confirm1"], k(b"Responder HMAC key", hash_len * 8),
                  k(b"Responder ZRTP key", key_len * 8), m["dhpart1"], "DHPart1")
    check_confirm("Confirm2", m["confirm2"], k(b"Initiator HMAC key", hash_len * 8),
                  k(b"Initiator ZRTP key", key_len * 8), m["dhpart2"], "DHPart2")
    return f"{curve} {case['hash']} AES-{key_len * 8}: SAS {sas}, ECDH, hvi, s0, keys, " \
           f"Confirm1/2 ok"


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    for i, case in enumerate(cases):
        try:
            print(f"case {i}: {run_case(case)}")
        except Mismatch as e:
            print(f"case {i} ({case['curve']} {case['hash']}): MISMATCH {e}")
            sys.exit(1)
    print(f"{len(cases)} cases ok")


if __name__ == "__main__":
    main()
