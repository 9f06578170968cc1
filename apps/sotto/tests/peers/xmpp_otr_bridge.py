#!/usr/bin/python3
"""XMPP side of the independent OTR peer in sotto chat's end-to-end tests.

An independent XMPP stack (Debian's python3-slixmpp) logs in as the second account and relays
between the XMPP server and the libotr harness (crates/sotto-otr/tests/c/libotr_peer.c on
Debian's libotr 4.1, run with the keep,insecure flags), which
does all the OTR work: message bodies from PEER go to the harness as "net HEX" lines, the
harness's "net HEX" lines go to PEER as chat messages. Every other harness line is copied to
our stdout, and every line on our stdin is a harness command (send/query/smp/end/...), except
"xmpp offer-file", which offers the contact a file (XEP-0066 IQ) and prints
"xmpp offer accepted|refused CONDITION|unanswered". End of stdin ends the harness and logs out.

Usage: xmpp_otr_bridge.py JID PASSWORD HOST PORT CAFILE PEER_JID -- HARNESS ARGS...
Our own status lines: "xmpp online" once logged in, "xmpp closed" at the end, and for every
message relayed "xmpp in KIND HINTS" / "xmpp out KIND" where KIND is fragment, otr or plain
(never the text) and HINTS is "hints" if the stanza carried the XEP-0334 no-store and no-copy
hints, else "nohints".
"""

import asyncio
import logging
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ET


def kind_of(body):
    if body.startswith("?OTR|") or body.startswith("?OTR,"):
        return "fragment"
    if body.startswith("?OTR"):
        return "otr"
    return "plain"


class Bridge(slixmpp.ClientXMPP):
    def __init__(self, jid, password, peer, harness):
        super().__init__(jid, password)
        self.peer = peer
        self.target = peer
        self.harness = harness
        self.proc = None
        self.tasks = []
        self.done = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("failed_auth", lambda _: self.fail("authentication failed"))
        self.add_event_handler("disconnected", lambda _: self.fail("disconnected"))

    def fail(self, why):
        if not self.done.done():
            print(f"xmpp error {why}", flush=True)
            self.done.set_result(1)

    async def on_start(self, _event):
        self.send_presence()
        # One IQ round trip after the presence: the server handles a session's stanzas in
        # order, so once the answer is here we are reachable on the bare JID.
        await self.get_roster()
        self.proc = await asyncio.create_subprocess_exec(
            *self.harness, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        # Keep strong references: asyncio holds tasks only weakly, and a task waiting on the
        # stdin pipe would otherwise be garbage-collected mid-test.
        self.tasks = [
            asyncio.ensure_future(self.from_harness()),
            asyncio.ensure_future(self.from_test()),
        ]

    def on_message(self, msg):
        if msg["type"] not in ("chat", "normal") or msg["from"].bare != self.peer:
            return
        body = msg["body"]
        if not body or self.proc is None:
            return
        # Answer the resource that wrote to us (as Pidgin does).
        self.target = msg["from"].full
        hinted = (
            msg.xml.find("{urn:xmpp:hints}no-store") is not None
            and msg.xml.find("{urn:xmpp:hints}no-copy") is not None
        )
        print(f"xmpp in {kind_of(body)} {'hints' if hinted else 'nohints'}", flush=True)
        self.proc.stdin.write(b"net " + body.encode("utf-8").hex().encode() + b"\n")

    async def from_harness(self):
        online_said = False
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            text = line.decode().rstrip("\n")
            if text.startswith("net "):
                body = bytes.fromhex(text[4:]).decode("utf-8")
                self.send_message(mto=self.target, mbody=body, mtype="chat")
                print(f"xmpp out {kind_of(body)}", flush=True)
                continue
            print(text, flush=True)
            if text == "ready" and not online_said:
                # The harness printed its fingerprint and is ready: we are usable.
                online_said = True
                print("xmpp online", flush=True)
        if not self.done.done():
            self.done.set_result(0)

    async def offer_file(self):
        await offer_file_to(self, self.target)

    async def from_test(self):
        loop = asyncio.get_event_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = await reader.readline()
            if not line:
                break
            if line.strip() == b"xmpp offer-file":
                await self.offer_file()
                continue
            self.proc.stdin.write(line)
            await self.proc.stdin.drain()
        self.proc.stdin.write(b"quit\n")
        await self.proc.stdin.drain()
        await self.proc.wait()
        if not self.done.done():
            self.done.set_result(0)


async def offer_file_to(xmpp, to):
    """XEP-0066 out-of-band file offer (an IQ set): prints how the client answered."""
    iq = xmpp.make_iq_set(ito=to)
    query = ET.Element("{jabber:iq:oob}query")
    url = ET.SubElement(query, "{jabber:iq:oob}url")
    url.text = "http://127.0.0.1:9/plans.pdf"
    iq.xml.append(query)
    try:
        await iq.send(timeout=10)
        print("xmpp offer accepted", flush=True)
    except IqError as e:
        print(f"xmpp offer refused {e.condition}", flush=True)
    except IqTimeout:
        print("xmpp offer unanswered", flush=True)


def main():
    if len(sys.argv) < 8 or sys.argv[7] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    jid, password, host, port, cafile, peer = sys.argv[1:7]
    harness = sys.argv[8:]
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    # slixmpp leaves its filter task pending at exit; asyncio would log that as an error.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    xmpp = Bridge(jid, password, peer, harness)
    xmpp.ca_certs = cafile
    xmpp.connect((host, int(port)))
    code = xmpp.loop.run_until_complete(xmpp.done)
    xmpp.disconnect()
    try:
        xmpp.loop.run_until_complete(asyncio.wait_for(xmpp.disconnected, 3))
    except Exception:
        pass
    print("xmpp closed", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
