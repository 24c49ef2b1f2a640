#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make_devices.py DIR CA.pem CA.key ID...: for each ID, what a vendor's
factory and then the device itself would make, by python-cryptography (an
independent peer, not fleetsec), in DIR: a bootstrap key (ID.boot.key) and
its certificate from the manufacturer CA with ID as serialNumber and CN
(ID.boot.pem), and the device's new key (ID.key) with its CSR as EST's
simpleenroll body, base64 DER (ID.b64). One process for thousands of
devices, where openssl is three per device.
   make_devices.py --serials DIR ID...: "ID SERIAL" (hex, upper case) of
each DIR/ID.pem, the certificate a device was issued."""
import base64
import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def serials(out, ids):
    for ident in ids:
        with open(f"{out}/{ident}.pem", "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        print(f"{ident} {cert.serial_number:X}")


def make(out, ca_pem, ca_key, ids):
    with open(ca_pem, "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(ca_key, "rb") as f:
        ca_priv = serialization.load_pem_private_key(f.read(), None)
    now = datetime.datetime.now(datetime.timezone.utc)
    for ident in ids:
        name = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, ident),
                          x509.NameAttribute(NameOID.COMMON_NAME, ident)])
        boot = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca.subject)
                .public_key(boot.public_key())
                .serial_number(int.from_bytes(os.urandom(16), "big") >> 1)
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .sign(ca_priv, hashes.SHA256()))
        write(f"{out}/{ident}.boot.key", key_pem(boot))
        write(f"{out}/{ident}.boot.pem", cert.public_bytes(serialization.Encoding.PEM))
        key = ec.generate_private_key(ec.SECP256R1())
        req = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ident)]))
               .sign(key, hashes.SHA256()))
        write(f"{out}/{ident}.key", key_pem(key))
        write(f"{out}/{ident}.b64",
              base64.encodebytes(req.public_bytes(serialization.Encoding.DER)))


if sys.argv[1] == "--serials":
    serials(sys.argv[2], sys.argv[3:])
else:
    make(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
