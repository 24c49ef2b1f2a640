#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Publish throughput for bench_mqtt.sh: one device connects (TLS, MQTT
3.1.1), sends N PUBLISH packets of a 200-byte JSON payload to TOPIC at QoS
0 or 1, all pipelined, and stops the clock when the broker has handled the
last one: the Nth PUBACK (QoS 1), or the PINGRESP to a PINGREQ sent after
them (QoS 0: a broker handles one connection's packets in order). Prints:
messages, seconds. Packets are built once, before the clock starts.

usage: mqtt_publish.py HOST PORT CAFILE CERT KEY CLIENTID TOPIC N QOS
"""
import json
import socket
import ssl
import struct
import sys
import time


def remaining_length(n):
    out = b""
    while True:
        b = n % 128
        n //= 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def packet(kind, body):
    return bytes([kind]) + remaining_length(len(body)) + body


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise SystemExit("connection closed by the broker")
        buf += chunk
    return buf


def read_packet(s):
    head = read_exact(s, 1)[0]
    mult, n = 1, 0
    while True:
        b = read_exact(s, 1)[0]
        n += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    return head, read_exact(s, n) if n else b""


def main():
    host, port, ca, cert, key, cid, topic, n, qos = sys.argv[1:10]
    n, qos = int(n), int(qos)
    # One JSON object of exactly 200 bytes: the privacy filter parses it
    # (a payload cut short would be dropped, not filtered).
    payload = (b'{"temp":21.5,"humidity":40.2,"battery":87,"rssi":-61,"fw":"2.1.0",'
               b'"lat":48.858370,"lon":2.294481,"uptime":123456,"errors":0,"mode":"heat",'
               b'"setpoint":20.0,"door":"closed","note":"bench payload, 200 b"}')
    assert len(payload) == 200 and json.loads(payload)
    t = topic.encode()
    tb = struct.pack(">H", len(t)) + t
    if qos == 0:
        batch = packet(0x30, tb + payload) * n + b"\xc0\x00"
    else:
        batch = b"".join(packet(0x32, tb + struct.pack(">H", i % 65535 + 1) + payload)
                         for i in range(n))
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    ctx.load_cert_chain(cert, key)
    with ctx.wrap_socket(socket.create_connection((host, int(port)))) as s:
        c = cid.encode()
        s.sendall(packet(0x10, b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack(">H", len(c)) + c))
        head, body = read_packet(s)
        if head != 0x20 or body[1] != 0:
            raise SystemExit("connection refused")
        t0 = time.monotonic()
        s.sendall(batch)
        if qos == 0:
            while read_packet(s)[0] != 0xD0:
                pass
        else:
            acks = 0
            while acks < n:
                if read_packet(s)[0] == 0x40:
                    acks += 1
        dt = time.monotonic() - t0
        s.sendall(b"\xe0\x00")
    print(n, "%.6f" % dt)


if __name__ == "__main__":
    main()
