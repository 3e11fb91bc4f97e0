"""A real cross-site HTTPS deployment for browser tests: a CA made here, nginx from Debian
terminating TLS for two sites (`lms.test`, `tool.test`) on one loopback port, and Chromium
told to resolve both names to 127.0.0.1 and to trust the CA.

`.test` is reserved (RFC 6761) and has no public suffix entry, so each name is its own
registrable domain: the LMS and the tool are different sites, as in a council's deployment.
nginx also serves a few probe URLs of its own (never the tool's) that set and report
cookies, so a test can show what the browser did with a third-party cookie.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NGINX = "/usr/sbin/nginx"
SETPRIV = "/usr/bin/setpriv"
LMS_HOST = "lms.test"
TOOL_HOST = "tool.test"
HOSTS = (LMS_HOST, TOOL_HOST)


# -- the certificate authority -----------------------------------------------------------------
@dataclass(frozen=True)
class CertificateAuthority:
    ca_pem: Path  # the root certificate (for Python's requests)
    chain_pem: Path  # the server certificate, then the root (for nginx)
    key_pem: Path  # the server's private key (for nginx)
    ca_spki_sha256: str  # base64 SHA-256 of the root's SubjectPublicKeyInfo (for Chromium)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(directory: Path, hosts: tuple[str, ...] = HOSTS) -> CertificateAuthority:
    """A root CA and one server certificate for `hosts`, valid from an hour ago for a day."""
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Corporate Parenting cross-site test CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_pem, chain_pem, key_pem = (
        directory / "ca.pem",
        directory / "server-chain.pem",
        directory / "server.key",
    )
    ca_pem.write_bytes(ca.public_bytes(pem))
    chain_pem.write_bytes(server.public_bytes(pem) + ca.public_bytes(pem))
    key_pem.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_pem.chmod(0o600)
    spki = ca_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return CertificateAuthority(
        ca_pem, chain_pem, key_pem, base64.b64encode(hashlib.sha256(spki).digest()).decode()
    )


# -- nginx -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Cookie probes, answered by nginx on the tool's host name: what a framed tool page could
# store. `Path=/probe` keeps them away from the tool's own pages.
_PROBES = """
    location = /probe/set {
      default_type text/html;
      add_header Set-Cookie "probe_plain=1; Path=/probe; Secure; SameSite=None" always;
      add_header Set-Cookie "probe_chips=1; Path=/probe; Secure; SameSite=None; Partitioned"
        always;
      return 200 "<!DOCTYPE html><html lang=en><title>probe</title><h1>set</h1></html>";
    }
    location = /probe/read {
      default_type text/plain;
      return 200 "plain=$cookie_probe_plain chips=$cookie_probe_chips site=$http_sec_fetch_site";
    }
"""


def nginx_config(
    directory: Path, ca: CertificateAuthority, port: int, upstreams: dict[str, int]
) -> str:
    """One TLS port, one server per host name (SNI), each proxying to a loopback port."""
    servers = []
    for host, upstream in upstreams.items():
        servers.append(
            f"""
  server {{
    listen 127.0.0.1:{port} ssl;
    server_name {host};
    location / {{
      proxy_pass http://127.0.0.1:{upstream};
    }}
    {_PROBES if host == TOOL_HOST else ""}
  }}"""
        )
    # One process, no workers: nothing is left to outlive it, and it runs as whoever runs
    # the tests (workers of a root master would switch to `nobody`).
    return f"""
master_process off;
error_log {directory}/error.log info;
events {{ worker_connections 256; }}
http {{
  log_format crosssite '$ssl_server_name $request_method $request_uri $status '
                       'site=$http_sec_fetch_site dest=$http_sec_fetch_dest';
  access_log {directory}/access.log crosssite;
  client_body_temp_path {directory}/tmp/body;
  proxy_temp_path {directory}/tmp/proxy;
  fastcgi_temp_path {directory}/tmp/fastcgi;
  uwsgi_temp_path {directory}/tmp/uwsgi;
  scgi_temp_path {directory}/tmp/scgi;
  ssl_certificate {ca.chain_pem};
  ssl_certificate_key {ca.key_pem};
  ssl_protocols TLSv1.2 TLSv1.3;
  proxy_http_version 1.1;
  proxy_set_header Host $http_host;
  proxy_set_header X-Forwarded-Host $http_host;
  proxy_set_header X-Forwarded-Proto $scheme;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  proxy_read_timeout 60s;
  server {{
    listen 127.0.0.1:{port} ssl default_server;
    return 421;
  }}
{"".join(servers)}
}}
"""


@dataclass
class Nginx:
    directory: Path
    port: int
    process: subprocess.Popen[bytes]

    def url(self, host: str) -> str:
        return f"https://{host}:{self.port}"

    def access_log(self) -> list[str]:
        path = self.directory / "access.log"
        return path.read_text().splitlines() if path.exists() else []

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""


def _require_nginx() -> None:
    if not (os.path.isfile(NGINX) and os.access(NGINX, os.X_OK)):
        pytest.fail(
            f"{NGINX} is missing: the cross-site browser test needs Debian's 'nginx' package "
            "(apt-get install nginx; scripts/test installs it).",
            pytrace=False,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """A fast shutdown (SIGTERM), then SIGKILL if it has not gone in 10 seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def run_nginx(
    directory: Path, ca: CertificateAuthority, upstreams: dict[str, int]
) -> Iterator[Nginx]:
    """nginx in the foreground with everything (config, pid, logs, temp files) in
    `directory`; stopped however the block ends."""
    _require_nginx()
    (directory / "tmp").mkdir(exist_ok=True)
    port = free_port()
    config = directory / "nginx.conf"
    config.write_text(nginx_config(directory, ca, port, upstreams))
    # setpriv (util-linux) has the kernel end nginx if this process dies without stopping
    # it (a test run killed by a timeout): it then leaves no server behind either.
    command = [
        *([SETPRIV, "--pdeathsig", "KILL"] if os.access(SETPRIV, os.X_OK) else []),
        NGINX,
        "-p",
        str(directory),
        "-c",
        str(config),
        "-e",
        str(directory / "error.log"),
        "-g",
        f"daemon off; pid {directory}/nginx.pid;",
    ]
    check = subprocess.run(
        [*command[command.index(NGINX) :], "-t"], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        pytest.fail(f"nginx refused its configuration:\n{check.stderr}", pytrace=False)
    with (directory / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
        )
    # From here on, nginx is stopped however the block ends.
    try:
        server = Nginx(directory, port, process)
        _wait_for_port(port, process, server)
        yield server
    finally:
        _stop(process)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], server: Nginx) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nginx exited ({process.returncode}):\n{server.error_log()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    pytest.fail(f"nginx did not listen on 127.0.0.1:{port}:\n{server.error_log()}")


# -- name resolution for this process ----------------------------------------------------------
def resolve_test_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process (the tool fetching the LMS's keys, the LMS fetching the tool's) finds
    both host names on loopback, as Chromium does with --host-resolver-rules."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host in HOSTS else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


# -- Chromium's profile ------------------------------------------------------------------------
# The cookie settings a person can choose in chrome://settings/cookies, as a profile stores
# them: profile.cookie_controls_mode 1 is "Block third-party cookies"; a cookies exception
# with a secondary pattern is "Sites that can never use cookies" for one site embedded in
# another (the tool's site when it is inside the LMS's).
def blocked_third_party_prefs() -> dict[str, Any]:
    return {"profile": {"cookie_controls_mode": 1, "block_third_party_cookies": True}}


def tool_cookies_refused_in_lms_prefs() -> dict[str, Any]:
    return {
        "profile": {
            "content_settings": {
                "exceptions": {"cookies": {f"[*.]{TOOL_HOST},[*.]{LMS_HOST}": {"setting": 2}}}
            }
        }
    }


def chromium_flags(ca: CertificateAuthority, nginx_port: int) -> list[str]:
    """Both names on loopback; the test CA's key trusted (headless Chromium has no trust
    store to add it to without NSS tools; errors are ignored only for chains holding it)."""
    rules = ",".join(f"MAP {h} 127.0.0.1" for h in HOSTS)
    return [
        f"--host-resolver-rules={rules}",
        f"--ignore-certificate-errors-spki-list={ca.ca_spki_sha256}",
    ]


def parse_probe(text: str) -> dict[str, str]:
    """`plain=1 chips= site=cross-site` -> {"plain": "1", "chips": "", "site": "cross-site"}"""
    return dict(part.partition("=")[::2] for part in text.split())
