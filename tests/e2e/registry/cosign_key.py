#!/usr/bin/python3
"""Write a private key in cosign's encrypted key format, for the tests.

usage: cosign_key.py KEY.pem PASSWORD > cosign.key

The format, as cosign writes it: PEM type "ENCRYPTED SIGSTORE PRIVATE KEY"
around JSON {"kdf": {"name": "scrypt", "params": {"N", "r", "p"}, "salt"},
"cipher": {"name": "nacl/secretbox", "nonce"}, "ciphertext"}, the plaintext
being the PKCS#8 DER private key and the secretbox key scrypt(PASSWORD, salt).
"""
import base64
import hashlib
import json
import os
import sys
import textwrap

import nacl.secret
from cryptography.hazmat.primitives import serialization


def main():
    with open(sys.argv[1], "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    der = key.private_bytes(serialization.Encoding.DER,
                            serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    n, r, p = 32768, 8, 1
    salt = os.urandom(32)
    box_key = hashlib.scrypt(sys.argv[2].encode(), salt=salt, n=n, r=r, p=p,
                             dklen=32, maxmem=1 << 30)
    nonce = os.urandom(nacl.secret.SecretBox.NONCE_SIZE)
    sealed = nacl.secret.SecretBox(box_key).encrypt(der, nonce).ciphertext
    doc = {
        "kdf": {"name": "scrypt", "params": {"N": n, "r": r, "p": p},
                "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "nacl/secretbox",
                   "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    body = base64.b64encode(json.dumps(doc).encode()).decode()
    sys.stdout.write("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    sys.stdout.write("\n".join(textwrap.wrap(body, 64)) + "\n")
    sys.stdout.write("-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")


if __name__ == "__main__":
    main()
