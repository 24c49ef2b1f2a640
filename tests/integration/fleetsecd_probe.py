#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Hostile TLS clients for fleetsecd_dos.sh, on loopback.

Common options: --cert FILE --key FILE (a client certificate; default none),
--src ADDR (the source address to bind, e.g. 127.0.0.2).

raw PORT        send stdin's bytes as they are, print every byte the server
                sends until it closes (or 30 s pass: exit 2); a connection
                refused before or during the handshake prints "refused"
hold PORT N S   open N TLS connections (handshakes done), print "held",
                keep them open S seconds
trickle PORT B  GET /crl, read the answer, then send the start of a second
                request one byte a second, B bytes at most; exit 0 printing
                "cut after K" if the server ends the connection, 1 if all B
                bytes went through
"""
import argparse
import select
import socket
import ssl
import sys
import time


def connect(a):
	ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
	ctx.check_hostname = False
	ctx.verify_mode = ssl.CERT_NONE
	if a.cert:
		ctx.load_cert_chain(a.cert, a.key)
	raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
	raw.settimeout(30)
	if a.src:
		raw.bind((a.src, 0))
	raw.connect(("127.0.0.1", a.port))
	return ctx.wrap_socket(raw)


def read_answer(s):
	"""One HTTP answer (headers and a Content-Length body)."""
	buf = b""
	while b"\r\n\r\n" not in buf:
		d = s.recv(4096)
		if not d:
			return None
		buf += d
	head, _, body = buf.partition(b"\r\n\r\n")
	n = 0
	for line in head.split(b"\r\n")[1:]:
		k, _, v = line.partition(b":")
		if k.strip().lower() == b"content-length":
			n = int(v.strip())
	while len(body) < n:
		d = s.recv(4096)
		if not d:
			return None
		body += d
	return head


def raw(a):
	try:
		s = connect(a)
	except (OSError, ssl.SSLError):
		print("refused")
		return 0
	s.sendall(sys.stdin.buffer.read())
	out = b""
	try:
		while True:
			d = s.recv(65536)
			if not d:
				break
			out += d
	except socket.timeout:
		sys.stdout.buffer.write(out)
		return 2
	except (OSError, ssl.SSLError):
		if not out:
			print("refused")
			return 0
	sys.stdout.buffer.write(out)
	return 0


def hold(a):
	socks = [connect(a) for _ in range(a.n)]
	print("held", flush=True)
	time.sleep(a.seconds)
	for s in socks:
		s.close()
	return 0


def trickle(a):
	try:
		s = connect(a)
		s.sendall(b"GET /crl HTTP/1.1\r\nHost: fleetsecd\r\n\r\n")
		if read_answer(s) is None:
			print("cut after 0")
			return 0
	except (OSError, ssl.SSLError):
		print("refused")
		return 0
	rest = b"GET /crl HTTP/1.1\r\nX-Slow: " + b"a" * a.bytes
	for k in range(a.bytes):
		try:
			# Readable means closed: the server never answers a half request.
			if select.select([s], [], [], 0)[0] and not s.recv(1):
				print("cut after %d" % k)
				return 0
			s.send(rest[k:k + 1])
		except (OSError, ssl.SSLError):
			print("cut after %d" % k)
			return 0
		time.sleep(1)
	return 1


p = argparse.ArgumentParser()
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--src")
sub = p.add_subparsers(dest="cmd", required=True)
r = sub.add_parser("raw")
r.add_argument("port", type=int)
h = sub.add_parser("hold")
h.add_argument("port", type=int)
h.add_argument("n", type=int)
h.add_argument("seconds", type=float)
t = sub.add_parser("trickle")
t.add_argument("port", type=int)
t.add_argument("bytes", type=int)
a = p.parse_args()
sys.exit({"raw": raw, "hold": hold, "trickle": trickle}[a.cmd](a))
