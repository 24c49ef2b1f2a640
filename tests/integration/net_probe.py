#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Real TCP/UDP endpoints for the namespace tests.

serve PORT...           answer on every IPv4 and IPv6 address: TCP sends "ok PORT\n" to
                        each connection, UDP answers each datagram likewise
resolve SERVER NAME     ask SERVER (udp 53) for NAME's A record; print the
                        first address and exit 0, or exit 1
probe tcp|udp DST PORT [SRC]
                        exit 0 if the answer came back within $PROBE_TIMEOUT
                        seconds (default 2; so the request went through and
                        the reply passed), else 1
"""
import os
import select
import socket
import sys


def serve(ports):
    socks = {}
    for p in ports:
        for fam, kind in ((f, k) for f in (socket.AF_INET, socket.AF_INET6)
                          for k in (socket.SOCK_STREAM, socket.SOCK_DGRAM)):
            s = socket.socket(fam, kind)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", p))
            if kind == socket.SOCK_STREAM:
                s.listen(64)
            socks[s] = (kind, p)
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select(list(socks), [], [])
        for s in ready:
            kind, p = socks[s]
            msg = b"ok %d\n" % p
            if kind == socket.SOCK_STREAM:
                c, _ = s.accept()
                try:
                    c.sendall(msg)
                finally:
                    c.close()
            else:
                _, addr = s.recvfrom(2048)
                s.sendto(msg, addr)


def probe(kind, dst, port, src):
    t = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, t)
    s.settimeout(float(os.environ.get("PROBE_TIMEOUT", "2")))
    if src:
        s.bind((src, 0))
    try:
        if kind == "tcp":
            s.connect((dst, port))
            data = s.recv(64)
        else:
            s.sendto(b"ping", (dst, port))
            data, _ = s.recvfrom(64)
    except OSError:
        return 1
    return 0 if data == b"ok %d\n" % port else 1


def resolve(server, name):
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00\x00\x01\x00\x01"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(float(os.environ.get("PROBE_TIMEOUT", "2")))
    try:
        s.sendto(q, (server, 53))
        r, _ = s.recvfrom(4096)
    except OSError:
        return 1
    if r[:2] != b"\x12\x34" or r[3] & 0x0F != 0 or int.from_bytes(r[6:8], "big") == 0:
        return 1
    i = len(q)  # the answer follows the echoed question
    for _ in range(int.from_bytes(r[6:8], "big")):
        if r[i] & 0xC0 == 0xC0:
            i += 2
        else:
            while r[i] != 0:
                i += r[i] + 1
            i += 1
        rtype, rdlen = int.from_bytes(r[i:i + 2], "big"), int.from_bytes(r[i + 8:i + 10], "big")
        i += 10
        if rtype == 1 and rdlen == 4:
            print(socket.inet_ntoa(r[i:i + 4]))
            return 0
        i += rdlen
    return 1


if __name__ == "__main__":
    if sys.argv[1] == "resolve":
        sys.exit(resolve(sys.argv[2], sys.argv[3]))
    if sys.argv[1] == "serve":
        serve([int(p) for p in sys.argv[2:]])
    else:
        sys.exit(probe(sys.argv[2], sys.argv[3], int(sys.argv[4]),
                       sys.argv[5] if len(sys.argv) > 5 else None))
