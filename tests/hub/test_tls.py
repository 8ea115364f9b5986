"""The pages over TLS on loopback: HSTS and Secure cookies over HTTPS only, forwarded headers from trusted proxies."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import ipaddress
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from litestar import Litestar

from hub.web.app import create_app
from hub.web.security_headers import HSTS
from hub.web.server import SERVER_OPTIONS
from tests.hub.builders import PASSWORDS, csrf_of
from tests.hub.test_app import do_sync
from tests.hub.test_cli import run

pytestmark = pytest.mark.timeout(60)


@dataclasses.dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost, signed by it (PEM files)."""
    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test county CA"))
        .issuer_name(_name("test county CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = Tls(ca=folder / "ca.pem", cert=folder / "hub.pem", key=folder / "hub.key")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@contextlib.contextmanager
def serving(app: Litestar, tls: Tls | None = None) -> Iterator[str]:
    """The app under uvicorn on 127.0.0.1 as ``hub serve`` runs it (no proxy headers of uvicorn's own), TLS or not."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        **SERVER_OPTIONS,
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.01)
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _client(url: str, tls: Tls) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=10, verify=ssl.create_default_context(cafile=str(tls.ca)))


def _cookies(response: httpx.Response) -> dict[str, str]:
    return {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}


def _carry(http: httpx.Client, response: httpx.Response) -> None:
    for name, cookie in _cookies(response).items():
        http.cookies.set(name, cookie.split(";")[0].split("=", 1)[1])


def _log_in(http: httpx.Client, name: str, headers: dict[str, str] | None = None) -> httpx.Response:
    form = http.get("/login", headers=headers)
    return http.post(
        "/login",
        data={"username": name, "password": PASSWORDS[name], "csrf": csrf_of(form.text)},
        headers=headers,
        follow_redirects=False,
    )


def test_over_https_the_pages_get_hsts_and_secure_cookies(settings, clock, users, tls):
    with serving(create_app(settings, now=clock), tls) as url, _client(url, tls) as http:
        form = http.get("/login?lang=en")
        assert form.status_code == 200 and form.headers["strict-transport-security"] == HSTS
        assert set(_cookies(form)) == {"hub_login", "hub_lang"}
        assert all("; Secure" in c for c in _cookies(form).values())
        logged = http.post(
            "/login",
            data={"username": "admin", "password": PASSWORDS["admin"], "csrf": csrf_of(form.text)},
            follow_redirects=False,
        )
        assert logged.status_code == 303 and logged.headers["strict-transport-security"] == HSTS
        assert "; Secure" in _cookies(logged)["hub_session"] and "HttpOnly" in _cookies(logged)["hub_session"]
        dashboard = http.get("/dashboard")  # the Secure session cookie goes back over https
        assert dashboard.status_code == 200 and dashboard.headers["strict-transport-security"] == HSTS
        assert dashboard.headers["cache-control"] == "no-store"
        health = http.get("/healthz")  # the station protocol: no browser headers over TLS either
        assert health.status_code == 200 and "strict-transport-security" not in health.headers


def test_over_http_no_hsts_and_no_secure_cookies(settings, clock, users):
    with serving(create_app(settings, now=clock)) as url, httpx.Client(base_url=url, timeout=10) as http:
        form = http.get("/login?lang=en", headers={"x-forwarded-proto": "https"})  # nobody is trusted
        assert form.status_code == 200 and "strict-transport-security" not in form.headers
        assert not any("Secure" in c for c in _cookies(form).values())
        logged = _log_in(http, "admin", {"x-forwarded-proto": "https"})
        assert logged.status_code == 303 and "Secure" not in _cookies(logged)["hub_session"]


@pytest.mark.parametrize("trusted", [(), ("10.9.9.9",), ("127.0.0.1",), ("127.0.0.0/8", "::1")])
def test_forwarded_headers_count_only_from_a_trusted_proxy(settings, clock, users, station, store, trusted):
    """A department reveals a case through a 'proxy' on loopback: the audit log says who, HSTS says how."""
    app = create_app(dataclasses.replace(settings, trusted_proxies=trusted), now=clock)
    believed = "127.0.0.1" in trusted or "127.0.0.0/8" in trusted
    forwarded = {"x-forwarded-for": "6.6.6.6, 203.0.113.7", "x-forwarded-proto": "https"}
    with serving(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        number, changes = station.new_case()
        assert do_sync(http, station, [station.seal(changes)]).status_code == 200
        # The proxy's leg is plain HTTP: httpx keeps a Secure cookie for https only, so carry them by hand.
        form = http.get("/login", headers=forwarded)
        assert ("; Secure" in _cookies(form)["hub_login"]) is believed
        _carry(http, form)
        logged = http.post(
            "/login",
            data={"username": "rs", "password": PASSWORDS["rs"], "csrf": csrf_of(form.text)},
            headers=forwarded,
            follow_redirects=False,
        )
        assert logged.status_code == 303
        assert ("strict-transport-security" in logged.headers) is believed
        assert ("; Secure" in _cookies(logged)["hub_session"]) is believed
        _carry(http, logged)
        page = http.get(f"/desk/cases/{number}?reveal=1", headers=forwarded)
        assert page.status_code == 200 and ("strict-transport-security" in page.headers) is believed
    (entry,) = store.audit_entries(limit=10, offset=0)
    assert entry["ip"] == ("203.0.113.7" if believed else "127.0.0.1")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def hub_serve(hub_dir: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``hub serve`` as the operator runs it, in its own process; stopped (by its pid) on the way out."""
    port = _free_port()
    env = {**os.environ, "LANG": "C.UTF-8"}
    env.pop("HUB_TRUSTED_PROXIES", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "--data-dir", str(hub_dir), "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield process, port
    finally:
        process.terminate()
        process.wait(10)


def _wait(get: callable) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return get()
        except httpx.TransportError:
            assert time.monotonic() < deadline, "hub serve did not answer"
            time.sleep(0.1)


def test_hub_serve_with_tls_cert_and_key(hub_dir, tls):
    with (
        hub_serve(hub_dir, "--host", "127.0.0.1", "--tls-cert", str(tls.cert), "--tls-key", str(tls.key)) as (
            process,
            port,
        ),
        _client(f"https://127.0.0.1:{port}", tls) as http,
    ):
        assert _wait(lambda: http.get("/healthz")).json()["status"] == "ok"
        form = http.get("/login")
        assert form.headers["strict-transport-security"] == HSTS and "; Secure" in _cookies(form)["hub_login"]
        with pytest.raises(httpx.TransportError):  # plain HTTP to the TLS port gets no page
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
    out, err = process.communicate()
    assert f"https://127.0.0.1:{port}" in out and "Warning" not in err and "警告" not in err


def test_hub_serve_warns_without_tls_off_loopback_and_trusts_no_proxy_by_default(hub_dir):
    with (
        hub_serve(hub_dir, "--host", "0.0.0.0") as (process, port),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http,
    ):
        assert _wait(lambda: http.get("/healthz")).status_code == 200
        # uvicorn alone would believe X-Forwarded-Proto from 127.0.0.1; hub serve trusts no proxy unless told.
        form = http.get("/login", headers={"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7"})
        assert "strict-transport-security" not in form.headers and "Secure" not in _cookies(form)["hub_login"]
    _, err = process.communicate()
    assert "警告：0.0.0.0 不是本机回环地址，且未启用 TLS" in err
    assert "Warning: listening on 0.0.0.0, not a loopback address, without TLS" in err


def test_hub_serve_believes_the_proxy_it_is_told_of(hub_dir):
    with (
        hub_serve(hub_dir, "--host", "127.0.0.1", "--trusted-proxy", "127.0.0.1") as (process, port),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http,
    ):
        assert _wait(lambda: http.get("/healthz")).status_code == 200
        form = http.get("/login", headers={"x-forwarded-proto": "https"})
        assert form.headers["strict-transport-security"] == HSTS and "; Secure" in _cookies(form)["hub_login"]
    _, err = process.communicate()
    assert "Warning" not in err and "警告" not in err


def test_hub_serve_refuses_half_a_tls_pair_or_a_bad_proxy(hub_dir, tls, tmp_path):
    half = run(hub_dir, "--lang", "en", "serve", "--tls-cert", str(tls.cert))
    assert half.exit_code == 2 and "--tls-cert and --tls-key go together" in half.output
    wrong = tmp_path / "other.key"
    wrong.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    mismatched = run(hub_dir, "serve", "--tls-cert", str(tls.cert), "--tls-key", str(wrong))
    assert mismatched.exit_code == 2 and "TLS 证书与私钥无法一同加载" in mismatched.output
    proxy = run(hub_dir, "--lang", "en", "serve", "--trusted-proxy", "proxy.example")
    assert proxy.exit_code == 2 and re.search(r"trusted proxy 'proxy\.example' is not an IP address", proxy.output)
