#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Give a certificate a subject that openssl's command line cannot write, and
sign it again with its issuer's key (openssl dgst does the signing).

openssl -subj cannot put a NUL byte in a value, choose a string type for
serialNumber (it is always a PrintableString) or write one longer than 64
characters, so the hostile bootstrap certificates of the tests are made here:
an ordinary certificate from openssl, its subject replaced, re-signed.

usage: resubject.py IN.pem CA.key OUT.pem ATTR...
       resubject.py --name-der OUT.der ATTR...     (the Name alone, for a fuzz seed)
ATTR is TYPE:OID_NAME:VALUE, with TYPE one of printable, utf8, ia5, bmp, t61
and OID_NAME serialNumber or CN; VALUE may hold \\xNN escapes.
"""
import base64
import subprocess
import sys

OIDS = {"serialNumber": bytes([0x55, 0x04, 0x05]), "CN": bytes([0x55, 0x04, 0x03])}
TAGS = {"printable": 0x13, "utf8": 0x0C, "ia5": 0x16, "bmp": 0x1E, "t61": 0x14}


def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        head = bytes([n])
    else:
        nb = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(nb)]) + nb
    return bytes([tag]) + head + body


def read_tlv(buf, off):
    """(tag, start of the whole element, start of its body, end)"""
    tag = buf[off]
    n = buf[off + 1]
    body = off + 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[body:body + k], "big")
        body += k
    return tag, off, body, body + n


def children(buf, start, end):
    out = []
    while start < end:
        el = read_tlv(buf, start)
        out.append(el)
        start = el[3]
    return out


def name_der(attrs):
    rdns = b""
    for a in attrs:
        kind, oid, value = a.split(":", 2)
        raw = value.encode("latin-1").decode("unicode_escape").encode("latin-1")
        if kind == "bmp":
            raw = b"".join(b"\x00" + bytes([c]) for c in raw)
        atv = tlv(0x30, tlv(0x06, OIDS[oid]) + tlv(TAGS[kind], raw))
        rdns += tlv(0x31, atv)
    return tlv(0x30, rdns)


def main():
    if sys.argv[1] == "--name-der":
        with open(sys.argv[2], "wb") as f:
            f.write(name_der(sys.argv[3:]))
        return
    inp, cakey, outp = sys.argv[1:4]
    pem = open(inp).read()
    b64 = "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))
    der = base64.b64decode(b64)
    _, _, cbody, cend = read_tlv(der, 0)
    tbs, alg, _sig = children(der, cbody, cend)
    fields = children(der, tbs[2], tbs[3])
    # version [0], serial, signature, issuer, validity, subject, ...
    parts = [der[f[1]:f[3]] for f in fields]
    parts[5] = name_der(sys.argv[4:])
    new_tbs = tlv(0x30, b"".join(parts))
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", cakey], input=new_tbs,
                         capture_output=True, check=True).stdout
    cert = tlv(0x30, new_tbs + der[alg[1]:alg[3]] + tlv(0x03, b"\x00" + sig))
    text = base64.encodebytes(cert).decode().replace("\n", "")
    with open(outp, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\n")
        for i in range(0, len(text), 64):
            f.write(text[i:i + 64] + "\n")
        f.write("-----END CERTIFICATE-----\n")


if __name__ == "__main__":
    main()
