#!/usr/bin/env python3
"""Writes seed corpora for every fuzz target into fuzz/corpus/<target>/ from the captures
bundled in tests/data (the 830 malformed tcpdump test captures, the lab corpus): whole
files for pcap_file, and the frames, application payloads and TCP conversations found in
the classic-pcap ones, in each target's input format. Run from anywhere:

    python3 fuzz/seeds.py
"""

import hashlib
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
OUT = ROOT / "fuzz" / "corpus"

# decode_packet's LINKS order, by pcap link type.
LINK_INDEX = {1: 0, 113: 1, 276: 2, 101: 3, 12: 3, 228: 4, 229: 5, 0: 6, 108: 7}
# tcp_streams' PORTS order.
TCP_PORTS = [21, 23, 25, 80, 110, 143, 389, 445, 3306, 5432, 5900, 6379, 6667, 5060, 27017,
             554, 88, 8080]
UDP_SELECTOR = {53: 0, 5353: 0, 67: 3, 68: 3, 1900: 4, 137: 5, 138: 6}
MAX_PER_TARGET = 4000


def frames(path):
    """(linktype, frame) of a classic pcap file; nothing for pcapng or damage."""
    data = path.read_bytes()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        return
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x03FFFFFF
    pos = 24
    while pos + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[pos + 8:pos + 12])[0]
        frame = data[pos + 16:pos + 16 + incl]
        if len(frame) != incl:
            return
        yield linktype, frame
        pos += 16 + incl


def ipv4_transport(frame):
    """(proto, src, dst, sport, dport, payload) of an Ethernet/IPv4 TCP or UDP frame."""
    off, ethertype = 14, frame[12:14]
    while ethertype in (b"\x81\x00", b"\x88\xa8") and len(frame) >= off + 4:
        ethertype, off = frame[off + 2:off + 4], off + 4
    if ethertype != b"\x08\x00" or len(frame) < off + 20:
        return None
    ihl = (frame[off] & 0x0F) * 4
    proto = frame[off + 9]
    src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
    t = off + ihl
    if proto == 6 and len(frame) >= t + 20:
        doff = (frame[t + 12] >> 4) * 4
        sport, dport = struct.unpack(">HH", frame[t:t + 4])
        return 6, src, dst, sport, dport, frame[t + doff:]
    if proto == 17 and len(frame) >= t + 8:
        sport, dport = struct.unpack(">HH", frame[t:t + 4])
        return 17, src, dst, sport, dport, frame[t + 8:]
    return None


class Corpus:
    def __init__(self, target):
        self.dir = OUT / target
        self.dir.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def add(self, data):
        if self.count >= MAX_PER_TARGET or not data:
            return
        name = hashlib.sha1(data).hexdigest()
        path = self.dir / name
        if not path.exists():
            path.write_bytes(data)
            self.count += 1


def main():
    captures = sorted(DATA.rglob("*.pcap")) + sorted(DATA.rglob("*.pcapng"))
    pcap_file = Corpus("pcap_file")
    decode_packet = Corpus("decode_packet")
    engine_feed = Corpus("engine_feed")
    parallel_identity = Corpus("parallel_identity")
    app_parsers = Corpus("app_parsers")
    tcp_streams = Corpus("tcp_streams")
    for path in captures:
        if path.stat().st_size <= 256 * 1024:
            pcap_file.add(path.read_bytes())
        feed = bytearray()
        conversations = {}
        for i, (linktype, frame) in enumerate(frames(path)):
            if i < 20 and linktype in LINK_INDEX:
                decode_packet.add(bytes([LINK_INDEX[linktype]]) + frame)
            if linktype != 1:
                continue
            if i < 64:
                cut = frame[:255]
                feed += bytes([len(cut), 1]) + cut
            if frame[12:14] == b"\x88\xcc":
                app_parsers.add(bytes([7]) + frame[14:])
            if frame[:6] == b"\x01\x00\x0c\xcc\xcc\xcc":
                app_parsers.add(bytes([8]) + frame[14:])
            found = ipv4_transport(frame)
            if not found:
                continue
            proto, src, dst, sport, dport, payload = found
            if proto == 17:
                for port in (dport, sport):
                    if port in UDP_SELECTOR and payload:
                        app_parsers.add(bytes([UDP_SELECTOR[port]]) + payload)
                        break
                continue
            if payload[:1] == b"\x16":
                app_parsers.add(bytes([2]) + payload)
            for port, from_client in ((dport, True), (sport, False)):
                if port in TCP_PORTS and payload:
                    key = (port, min(src, dst), max(src, dst))
                    chunks = conversations.setdefault(key, bytearray([TCP_PORTS.index(port)]))
                    for start in range(0, len(payload), 252):
                        piece = payload[start:start + 252]
                        length = (len(piece) + 3) // 4 * 4
                        piece = piece.ljust(length, b"\0")
                        chunks += bytes([(length // 4) << 2 | (0 if from_client else 1)]) + piece
                    break
        if feed:
            engine_feed.add(bytes(feed))
            parallel_identity.add(bytes(feed))
        for chunks in conversations.values():
            tcp_streams.add(bytes(chunks[:16384]))
    for c in (pcap_file, decode_packet, engine_feed, parallel_identity, app_parsers, tcp_streams):
        print(f"{c.dir.relative_to(ROOT)}: {c.count} new seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
