"""Broker URLs with a password (and TLS when the local redis-server supports it)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celeriac
from celeriac.errors import BrokerError
from helpers import free_port, wait_for


@pytest.fixture
def auth_redis() -> Any:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--requirepass", "s3cret", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    yield port
    proc.terminate()
    proc.wait(10)


def test_password_in_url(auth_redis: int, worker: Any) -> None:
    app = Celeriac("auth", broker=f"redis://:s3cret@127.0.0.1:{auth_redis}/2", set_as_current=False)

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    wait_for(lambda: _connects(app), 10, what="redis with a password")
    w = worker(app)
    assert add.delay(2, 3).get(timeout=10) == 5
    w.stop()
    app.close()
    wrong = Celeriac("auth", broker=f"redis://:wrong@127.0.0.1:{auth_redis}/2", set_as_current=False)
    with pytest.raises(BrokerError):
        wrong.send_task("auth.add", [1, 1])
    wrong.close()


def _connects(app: Celeriac) -> bool:
    try:
        app.broker.known_queues()
        return True
    except BrokerError:
        time.sleep(0.05)
        return False


def test_tls_url(worker: Any) -> None:
    binary = shutil.which("redis-server")
    openssl = shutil.which("openssl")
    if binary is None or openssl is None:
        pytest.skip("redis-server or openssl missing")
    tmp = Path(tempfile.mkdtemp())
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem")],
                   check=True, capture_output=True, timeout=60)
    port = free_port()
    proc = subprocess.Popen([binary, "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(tmp / "cert.pem"),
                             "--tls-key-file", str(tmp / "key.pem"), "--tls-ca-cert-file", str(tmp / "cert.pem"),
                             "--tls-auth-clients", "no", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        if proc.poll() is not None:
            pytest.skip(f"this redis-server has no TLS support: {proc.stdout.read()[:200]!r}")  # type: ignore[union-attr]
        app = Celeriac("tls", broker=f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=none", set_as_current=False)

        @app.task
        def add(x: int, y: int) -> int:
            return x + y

        wait_for(lambda: _connects(app), 10, what="redis over TLS")
        w = worker(app)
        assert add.delay(2, 3).get(timeout=10) == 5
        w.stop()
        app.close()
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
        shutil.rmtree(tmp, ignore_errors=True)
