#!/usr/bin/env python3
"""An independent OTR peer for sotto-otr's interop tests, built on python-potr (OTR v2).

Protocol with the Rust test, one JSON object per line:
  stdin  (commands): {"cmd": "net", "text": ...}        a network message for potr
                     {"cmd": "send", "text": ...}       the user sends a message
                     {"cmd": "query"}                   ask to start OTR
                     {"cmd": "smp_start", "secret": ..., "question": ... or null}
                     {"cmd": "smp_respond", "secret": ...}
                     {"cmd": "smp_abort"}
                     {"cmd": "end"}                     end the private conversation
                     {"cmd": "quit"}
  stdout (reports):  {"net": ...}                       a network message for sotto
                     {"event": ...}                     what potr told its user
                     {"ready": true}                    the command has been processed

python-potr 1.0.2 was written for the dead `pycrypto`; on current Python only `pycryptodome`
installs. pycryptodome removed the raw DSA sign/verify methods and only accepts its own counter
objects for CTR mode, so this script adapts those two crypto calls (same mathematics: DSA over
the integer value of the 32-byte MAC, AES-CTR with an 8-byte prefix and 8-byte block counter).
All protocol logic (AKE, data messages, key rotation, SMP, fragments) is python-potr's own.

Usage: potr_peer.py [--fragment-size N]
"""

import json
import sys

from Crypto.Cipher import AES
from Crypto.PublicKey import DSA
import Crypto.Random.random

import potr
import potr.crypt
import potr.compatcrypto.pycrypto as pc
from potr.utils import bytes_to_long, long_to_bytes


# ---- pycryptodome adapters -------------------------------------------------------------------

def _aesctr(key, counter=0):
    if isinstance(counter, int):
        counter = pc.Counter(counter)
    return AES.new(key, AES.MODE_CTR, nonce=counter.byteprefix(), initial_value=counter.val)


def _sign(self, data):
    k = Crypto.Random.random.randrange(2, self.priv.q)
    r, s = self.priv._sign(bytes_to_long(data), k)
    return long_to_bytes(r, 20) + long_to_bytes(s, 20)


def _verify(self, data, sig):
    r, s = bytes_to_long(sig[:20]), bytes_to_long(sig[20:])
    return self.pub._verify(bytes_to_long(data), (r, s))


pc.AESCTR = _aesctr
potr.crypt.AESCTR = _aesctr
potr.compatcrypto.AESCTR = _aesctr
pc.DSAKey.sign = _sign
pc.DSAKey.verify = _verify


def new_key():
    k = DSA.generate(1024)
    return pc.DSAKey((int(k.y), int(k.g), int(k.p), int(k.q), int(k.x)), private=True)


# ---- the peer --------------------------------------------------------------------------------

def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


POLICY = {
    "ALLOW_V1": False,
    "ALLOW_V2": True,
    "REQUIRE_ENCRYPTION": False,
    "SEND_TAG": False,
    "WHITESPACE_START_AKE": True,
    "ERROR_START_AKE": True,
}


class Ctx(potr.context.Context):
    def getPolicy(self, key):
        return POLICY.get(key, False)

    def inject(self, msg, appdata=None):
        if isinstance(msg, bytes):
            msg = msg.decode("utf-8")
        emit({"net": msg})

    def setState(self, newstate):
        names = {
            potr.context.STATE_PLAINTEXT: "plaintext",
            potr.context.STATE_ENCRYPTED: "encrypted",
            potr.context.STATE_FINISHED: "finished",
        }
        if newstate != self.state:
            super().setState(newstate)
            emit({"event": "state", "state": names.get(newstate, str(newstate))})
        else:
            super().setState(newstate)


class Account(potr.context.Account):
    contextclass = Ctx

    def __init__(self, fragment_size):
        super().__init__("potr@example.org", "xmpp", fragment_size, privkey=new_key())

    def loadPrivkey(self):
        return self.privkey

    def savePrivkey(self):
        pass

    def saveTrusts(self):
        pass

    def setTrust(self, key, fingerprint, trustLevel):
        super().setTrust(key, fingerprint, trustLevel)
        emit({"event": "trust", "fingerprint": fingerprint, "level": trustLevel})


def main():
    frag = 0
    if len(sys.argv) == 3 and sys.argv[1] == "--fragment-size":
        frag = int(sys.argv[2])
    account = Account(frag)
    ctx = account.getContext("sotto@example.org")
    emit({"event": "fingerprint", "ours": account.privkey.cfingerprint()})
    emit({"ready": True})
    for line in sys.stdin:
        cmd = json.loads(line)
        c = cmd["cmd"]
        try:
            if c == "net":
                try:
                    text, tlvs = ctx.receiveMessage(cmd["text"].encode("utf-8"))
                    if text:
                        emit({"event": "message", "text": text.decode("utf-8"), "encrypted": True})
                    for t in tlvs:
                        if isinstance(t, potr.proto.SMP1QTLV):
                            emit({"event": "smp_request", "question": t.msg.decode("utf-8")})
                        elif isinstance(t, potr.proto.SMP1TLV):
                            emit({"event": "smp_request", "question": None})
                        elif isinstance(t, potr.proto.SMPABORTTLV):
                            emit({"event": "smp_abort"})
                except potr.context.NotOTRMessage as e:
                    m = e.args[0]
                    if isinstance(m, bytes):
                        m = m.decode("utf-8")
                    if m:
                        emit({"event": "message", "text": m, "encrypted": False})
                except potr.context.UnencryptedMessage as e:
                    emit({"event": "unencrypted", "text": str(e.args[0])})
                except potr.context.ErrorReceived as e:
                    emit({"event": "otr_error", "text": repr(e.args[0])})
                except potr.context.NotEncryptedError as e:
                    emit({"event": "not_encrypted", "text": str(e)})
                except potr.crypt.InvalidParameterError as e:
                    emit({"event": "invalid", "text": repr(e)})
            elif c == "send":
                out = ctx.sendMessage(potr.context.FRAGMENT_SEND_ALL, cmd["text"].encode("utf-8"))
                if out:
                    emit({"net": out.decode("utf-8")})
            elif c == "query":
                emit({"net": account.getDefaultQueryMessage(ctx.getPolicy).decode("ascii")})
            elif c == "smp_start":
                q = cmd.get("question")
                ctx.smpInit(cmd["secret"].encode("utf-8"),
                            question=q.encode("utf-8") if q is not None else None)
            elif c == "smp_respond":
                ctx.smpGotSecret(cmd["secret"].encode("utf-8"))
            elif c == "smp_abort":
                ctx.smpAbort()
            elif c == "end":
                ctx.disconnect()
            elif c == "quit":
                emit({"ready": True})
                return
            if ctx.crypto.smp is not None and c in ("net", "smp_respond"):
                emit({"event": "smp_progress", "prog": ctx.crypto.smp.prog})
        except Exception as e:  # report, keep running: the Rust side decides what matters
            emit({"event": "exception", "text": repr(e)})
        emit({"ready": True})


if __name__ == "__main__":
    main()
