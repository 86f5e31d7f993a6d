"""Files made once per appliance rather than rendered: the self-signed certificate that
nginx (HTTPS) and coturn (TLS) use until the administrator brings their own.

Away from the appliance (ROOT is not "/") also what Debian's packages and systemd make
there: SSH host keys and the services' state folders, under ROOT, so that each
service's own config check (and a local run) finds them."""

from __future__ import annotations

import datetime as dt
import grp
import os
import socket
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from controlplane.store.documents import atomic_write

CERT = "etc/vcbox/tls/vcbox.crt"
KEY = "etc/vcbox/tls/vcbox.key"
VALID_DAYS = 3650


def self_signed_certificate(root: Path) -> bool:
    """Create the certificate and key under root once; True when they were made now."""
    cert_path, key_path = root / CERT, root / KEY
    if cert_path.exists() and key_path.exists():
        return False
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, socket.gethostname()),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vcbox")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(socket.gethostname())]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    atomic_write(key_path, key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()), 0o600)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    atomic_write(cert_path, cert_pem, 0o644)
    # FreeSWITCH (sofia) reads key and certificate from one file, and its CA file, from the
    # same folder.
    atomic_write(cert_path.parent / "agent.pem", key_pem + cert_pem, 0o600)
    atomic_write(cert_path.parent / "cafile.pem", cert_pem, 0o644)
    return True


SSH_HOST_KEY_KINDS = ("rsa", "ecdsa", "ed25519")
# Folders the rendered configs name for pid files, logs and state (the packages' own).
STATE_DIRS = ("run", "run/chrony", "var/lib/nginx", "var/log/nginx", "var/lib/chrony",
              "var/log/chrony", "var/spool/rsyslog", "var/lib/vcbox")


def on_appliance(root: Path) -> bool:
    return str(root) == "/"


def ssh_host_keys(root: Path) -> list[str]:
    """Create the SSH host keys sshd_config names under root once; the kinds made now."""
    made = []
    for kind in SSH_HOST_KEY_KINDS:
        path = root / f"etc/ssh/ssh_host_{kind}_key"
        if path.exists():
            continue
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        if kind == "rsa":
            key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        elif kind == "ecdsa":
            key = ec.generate_private_key(ec.SECP256R1())
        else:
            key = ed25519.Ed25519PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.OpenSSH,
                                             serialization.NoEncryption()), 0o600)
        atomic_write(path.with_name(path.name + ".pub"),
                     key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                   serialization.PublicFormat.OpenSSH)
                     + b" root@vcbox\n", 0o644)
        made.append(kind)
    return made


def state_dirs(root: Path) -> None:
    for name in STATE_DIRS:
        (root / name).mkdir(parents=True, exist_ok=True)


# Private keys that a service reads as its own user (on the appliance): readable by that
# user's group too. sofia refuses to start the SIP profile, UDP included, without its
# agent.pem ("Bad WSS.PEM certificate").
KEY_READERS = (("etc/vcbox/tls/agent.pem", "freeswitch"), (KEY, "turnserver"))


def share_keys(root: Path) -> list[str]:
    """Give each key of KEY_READERS to its service's group (0640); the keys changed."""
    changed = []
    for path, group in KEY_READERS:
        target = root / path
        try:
            gid = grp.getgrnam(group).gr_gid
            st = target.stat()
        except (KeyError, OSError):  # service not installed, or no key yet
            continue
        if st.st_gid != gid or stat.S_IMODE(st.st_mode) != 0o640:
            os.chown(target, -1, gid)
            os.chmod(target, 0o640)
            changed.append(path)
    return changed


def ensure(root: Path) -> None:
    self_signed_certificate(root)
    if on_appliance(root):
        share_keys(root)
    if not on_appliance(root):
        # On the appliance the packages made these (and own them).
        state_dirs(root)
        ssh_host_keys(root)
