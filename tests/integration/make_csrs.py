#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make_csrs.py DIR N [PREFIX]: N P-256 CSRs made by python-cryptography
(an independent peer, not fleetsec), DIR/PREFIX-00000.csr ... in PEM, one
id,model,csr_path line each on stdout. Fast enough for a factory batch test
(openssl req is a process per CSR)."""
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

out, n = sys.argv[1], int(sys.argv[2])
prefix = sys.argv[3] if len(sys.argv) > 3 else "dev"
for i in range(n):
    ident = f"{prefix}-{i:05d}"
    key = ec.generate_private_key(ec.SECP256R1())
    req = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ident)]))
           .sign(key, hashes.SHA256()))
    with open(f"{out}/{ident}.csr", "wb") as f:
        f.write(req.public_bytes(serialization.Encoding.PEM))
    print(f"{ident},cam,{ident}.csr")
