"""The receiver's TLS identity: one self-signed certificate per memory, pinned by fingerprint.

Made once into ``<data>/devices/tls/`` (``cert.pem``, ``key.pem`` with mode 0600) with an EC
P-256 key, valid for 20 years, with the host's addresses and ``localhost`` as subject
alternative names. Clients do not check it against any certificate authority or host name:
they compare the SHA-256 of the certificate's DER bytes with the fingerprint they received
through pairing (QR code / PIN offer) and refuse any other. The certificate is never
regenerated silently — a new one would break every pairing — only when the files are missing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

TLS_DIR = Path("devices") / "tls"
CERT_NAME = "cert.pem"
KEY_NAME = "key.pem"
VALID_DAYS = 20 * 365


@dataclass(frozen=True)
class TlsIdentity:
    cert_path: Path
    key_path: Path
    fingerprint: str  # SHA-256 of the certificate's DER bytes, lowercase hex, no separators

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.cert_path), str(self.key_path))
        return ctx


def fingerprint_of_der(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def normalize_fingerprint(fp: str) -> str:
    """``AB:CD:…`` / ``abcd…`` / with spaces → lowercase hex; ValueError when not 64 hex digits."""
    s = fp.replace(":", "").replace(" ", "").strip().lower()
    if len(s) != 64 or any(c not in "0123456789abcdef" for c in s):
        raise ValueError("a certificate fingerprint is 64 hexadecimal digits (SHA-256)")
    return s


def local_addresses() -> list[str]:
    """IPv4 addresses of this machine's interfaces, non-loopback first (best effort)."""
    out: list[str] = []
    try:
        import psutil

        for addrs in psutil.net_if_addrs().values():
            for a in addrs:
                if a.family == socket.AF_INET and a.address and not a.address.startswith("127."):
                    out.append(a.address)
    except Exception:  # an exotic platform: the QR code falls back to the hostname
        pass
    return sorted(set(out), key=lambda a: (a.startswith("169.254."), a))


def ensure_identity(data_dir: Path) -> TlsIdentity:
    """The memory's certificate, made on first use."""
    d = data_dir / TLS_DIR
    cert, key = d / CERT_NAME, d / KEY_NAME
    if not (cert.is_file() and key.is_file()):
        _generate(d, cert, key)
    return TlsIdentity(cert, key, fingerprint_of_der(_der(cert)))


def _der(cert_path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert_path.read_text("ascii"))


def _generate(d: Path, cert_path: Path, key_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from lifelog.store.files import atomic_write

    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    host = socket.gethostname() or "lifelog"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"lifelog on {host}"[:64])])
    sans: list[x509.GeneralName] = [x509.DNSName("localhost")]
    if host and host != "localhost":
        sans.append(x509.DNSName(host))
    for a in ["127.0.0.1", "::1", *local_addresses()]:
        sans.append(x509.IPAddress(ipaddress.ip_address(a)))
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    atomic_write(key_path, key_pem)  # mkstemp makes the file 0600 before a byte is written
    os.chmod(key_path, 0o600)
    atomic_write(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def client_context() -> ssl.SSLContext:
    """A TLS client context that accepts any certificate: the caller MUST pin the fingerprint
    (see :func:`check_peer`) before sending anything."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class FingerprintMismatch(ssl.SSLError):
    """The server presented another certificate than the pinned one."""


def check_peer(sock: ssl.SSLSocket, expected: str) -> None:
    der = sock.getpeercert(binary_form=True)
    got = fingerprint_of_der(der) if der else ""
    if got != normalize_fingerprint(expected):
        raise FingerprintMismatch(
            f"the receiver's certificate fingerprint {got[:16]}… is not the paired one "
            f"{normalize_fingerprint(expected)[:16]}…; refusing to talk to it"
        )
