"""TLS to Redis with a test CA: verified server certificate, client certificate, wrong CA refused.

Certificates are made in the test with the ``openssl`` CLI: a CA, a server certificate it
signs (``localhost`` and ``127.0.0.1``), a client certificate it signs, and a second CA
that signed nothing of the server's. ``redis-server --tls-port`` (Redis 7 built with TLS,
as Debian's is) serves them.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celeriac
from celeriac.errors import BrokerError
from helpers import free_port, wait_for


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=d)


def make_signed(d: Path, name: str, ca: str, *, server: bool) -> None:
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={'localhost' if server else name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
    ext = d / f"{name}.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n" if server else "extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "1", "-out", f"{name}.pem", "-extfile", ext.name, cwd=d)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    binary = shutil.which("redis-server")
    if binary is None or shutil.which("openssl") is None:
        pytest.skip("redis-server or openssl missing")
    d = tmp_path_factory.mktemp("tls")
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    make_signed(d, "server", "ca", server=True)
    make_signed(d, "client", "ca", server=False)
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", "0", "--bind", "127.0.0.1", "--tls-port", str(port), "--tls-cert-file", "server.pem",
         "--tls-key-file", "server.key", "--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "optional",
         "--save", "", "--appendonly", "no"], cwd=d, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def listening() -> bool:
            if proc.poll() is not None:
                pytest.skip(f"this redis-server has no TLS support: {proc.stdout.read()[:300]!r}")  # type: ignore[union-attr]
            try:
                with ssl.create_default_context(cafile=str(d / "ca.pem")).wrap_socket(
                        __import__("socket").create_connection(("127.0.0.1", port), timeout=0.5),
                        server_hostname="localhost"):
                    return True
            except OSError:
                return False

        wait_for(listening, 15, interval=0.05, what="redis-server with TLS")
        yield port, d
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def round_trip(app: Celeriac, worker: Any) -> None:
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    w = worker(app)
    assert add.delay(2, 3).get(timeout=10) == 5
    w.stop()


def test_ca_in_the_url_query(tls_redis: tuple[int, Path], worker: Any) -> None:
    port, d = tls_redis
    app = Celeriac("tls", set_as_current=False,
                   broker=f"rediss://localhost:{port}/0?ssl_cert_reqs=CERT_REQUIRED&ssl_ca_certs={d / 'ca.pem'}")
    try:
        round_trip(app, worker)
    finally:
        app.close()


def test_client_certificate_from_broker_use_ssl(tls_redis: tuple[int, Path], worker: Any) -> None:
    port, d = tls_redis
    app = Celeriac("tls", set_as_current=False, broker=f"rediss://127.0.0.1:{port}/1",
                   broker_use_ssl={"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": str(d / "ca.pem"),
                                   "ssl_certfile": str(d / "client.pem"), "ssl_keyfile": str(d / "client.key")})
    try:
        round_trip(app, worker)
    finally:
        app.close()


def test_wrong_ca_is_refused_clearly(tls_redis: tuple[int, Path]) -> None:
    port, d = tls_redis
    app = Celeriac("tls", set_as_current=False, task_publish_retry=False,
                   broker=f"rediss://localhost:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={d / 'other-ca.pem'}")
    try:
        started = time.monotonic()
        with pytest.raises(BrokerError, match="certificate verify failed") as caught:
            app.send_task("tls.add", [1, 1])
        print(f"\nwrong CA: {caught.value} ({time.monotonic() - started:.1f} s)")
    finally:
        app.close()
