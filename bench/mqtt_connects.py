#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""TLS + MQTT connects for bench_mqtt.sh: each worker process walks its
share of the device identities, and for each opens a TLS connection with
that device's certificate, sends an MQTT 3.1.1 CONNECT (client ID = the
device ID), waits for the CONNACK, and disconnects. Prints one line:
connects, refused, seconds. Raw packets over Python's ssl (OpenSSL), so the
client costs the same against either broker.

usage: mqtt_connects.py HOST PORT CAFILE DIR WORKERS ID...
"""
import multiprocessing
import socket
import ssl
import struct
import sys
import time


def connect_packet(client_id):
    cid = client_id.encode()
    var = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack(">H", len(cid)) + cid
    n, rl = len(var), b""
    while True:
        b = n % 128
        n //= 128
        rl += bytes([b | (0x80 if n else 0)])
        if not n:
            break
    return b"\x10" + rl + var


def worker(args):
    host, port, ca, d, ids = args
    ok = refused = 0
    for i in ids:
        ctx = ssl.create_default_context(cafile=ca)
        ctx.check_hostname = False
        ctx.load_cert_chain(f"{d}/{i}.pem", f"{d}/{i}.key")
        with socket.create_connection((host, port)) as raw:
            with ctx.wrap_socket(raw) as s:
                s.sendall(connect_packet(i))
                ack = b""
                while len(ack) < 4:
                    chunk = s.recv(4 - len(ack))
                    if not chunk:
                        break
                    ack += chunk
                if len(ack) == 4 and ack[0] == 0x20 and ack[3] == 0:
                    ok += 1
                    s.sendall(b"\xe0\x00")
                else:
                    refused += 1
    return ok, refused


def main():
    host, port, ca, d, workers = sys.argv[1:6]
    ids, workers = sys.argv[6:], int(workers)
    shares = [(host, int(port), ca, d, ids[k::workers]) for k in range(workers)]
    t0 = time.monotonic()
    with multiprocessing.Pool(workers) as pool:
        res = pool.map(worker, shares)
    dt = time.monotonic() - t0
    print(sum(r[0] for r in res), sum(r[1] for r in res), "%.6f" % dt)


if __name__ == "__main__":
    main()
