"""A Redis primary, a replica and three sentinels on free localhost ports, owned by a test.

Debian's ``redis-server`` and ``redis-sentinel`` (scripts/bootstrap.sh installs both).
Short ``down-after-milliseconds`` and ``failover-timeout`` make a failover take a few
seconds. ``kill_primary()`` SIGKILLs the primary (what a crashed node looks like) and
``wait_failover()`` waits until every sentinel names the promoted replica;
``freeze_primary()`` / ``thaw()`` SIGSTOP and SIGCONT it (a partitioned primary that
comes back and accepts writes until the sentinels demote it).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from helpers import free_port, wait_for

MASTER_NAME = "mymaster"  #: the name the sentinels monitor the primary under
DOWN_AFTER_MS = 1000  #: how long the primary must be silent before it is subjectively down
FAILOVER_TIMEOUT_MS = 4000


def binaries() -> tuple[str, str] | None:
    server, sentinel = shutil.which("redis-server"), shutil.which("redis-sentinel")
    return (server, sentinel) if server and sentinel else None


class SentinelCluster:
    """A primary (``ports[0]`` at first), ``replicas`` replicas and three sentinels.

    Two replicas are what a failover test with ``broker_wait_replicas = 1`` needs: after
    the primary dies, one is promoted and the other follows it, so a write can again reach
    a replica (with one replica, nothing could until the dead node came back)."""

    def __init__(self, server: str, sentinel: str, *, replicas: int = 1, appendonly: bool = False) -> None:
        self.server_bin = server
        self.sentinel_bin = sentinel
        self.appendonly = appendonly
        self.dir = Path(tempfile.mkdtemp(prefix="celeriac-sentinel-"))
        self.ports = [free_port() for _ in range(1 + replicas)]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    # -- topology ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Celery's form: one ``sentinel://`` part per sentinel, joined by ``;``."""
        return ";".join(f"sentinel://127.0.0.1:{p}" for p in self.sentinel_ports) + "/0"

    @property
    def options(self) -> dict[str, Any]:
        return {"master_name": MASTER_NAME}

    def start(self) -> None:
        primary, *replicas = self.ports
        self._server(primary)
        for replica in replicas:
            self._server(replica, "--replicaof", "127.0.0.1", str(primary))
        wait_for(lambda: self._replicas_synced(primary, len(replicas)), 15, interval=0.05,
                 what="the replicas to sync")
        for port in self.sentinel_ports:
            conf = self.dir / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            self.procs[port] = subprocess.Popen([self.sentinel_bin, str(conf)], stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL)
        # A failover needs every sentinel to know the replica and its peers (hello messages
        # every 2 s on the primary's channel).
        wait_for(self._sentinels_ready, 20, interval=0.1, what="three sentinels that know each other and the replica")

    def _server(self, port: int, *extra: str) -> None:
        self.procs[port] = subprocess.Popen(
            [self.server_bin, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--dbfilename", f"dump-{port}.rdb", "--appendfilename", f"aof-{port}.aof",
             "--appendonly", "yes" if self.appendonly else "no", "--save", "", "--daemonize", "no",
             "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def client(self, port: int) -> Any:
        import redis

        return redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=1)

    def _replicas_synced(self, primary: int, n: int) -> bool:
        try:
            info = self.client(primary).info("replication")
        except Exception:
            return False
        return sum(1 for i in range(n) if "online" in str(info.get(f"slave{i}", ""))) == n

    def _sentinels_ready(self) -> bool:
        for port in self.sentinel_ports:
            try:
                c = self.client(port)
                if len(c.sentinel_slaves(MASTER_NAME)) < len(self.ports) - 1 or len(c.sentinel_sentinels(MASTER_NAME)) < 2:
                    return False
            except Exception:
                return False
        return True

    def primary_port(self) -> int | None:
        """The primary every sentinel names, or None while they disagree."""
        seen = set()
        for port in self.sentinel_ports:
            try:
                addr = self.client(port).sentinel_get_master_addr_by_name(MASTER_NAME)
            except Exception:
                return None
            seen.add(int(addr[1]) if addr else None)
        return seen.pop() if len(seen) == 1 else None

    # -- faults --------------------------------------------------------------------------------

    def kill_primary(self) -> int:
        """SIGKILL the current primary; returns its port."""
        port = self.primary_port()
        assert port is not None, "the sentinels disagree on the primary"
        proc = self.procs.pop(port)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        return port

    def freeze_primary(self) -> int:
        """SIGSTOP the current primary (a node cut off by a partition: its clients'
        connections stay open, the sentinels lose it); returns its port."""
        port = self.primary_port()
        assert port is not None, "the sentinels disagree on the primary"
        self.procs[port].send_signal(signal.SIGSTOP)
        return port

    def thaw(self, port: int) -> None:
        """SIGCONT a frozen node: it answers its clients as a primary until the sentinels
        turn it into a replica of the new one (its writes since the freeze are dropped)."""
        self.procs[port].send_signal(signal.SIGCONT)

    def wait_demoted(self, port: int, timeout: float = 30.0) -> None:
        def demoted() -> bool:
            try:
                return self.client(port).info("replication").get("role") == "slave"
            except Exception:
                return False

        wait_for(demoted, timeout, interval=0.1, what="the sentinels to demote the old primary")

    def wait_failover(self, old_port: int, timeout: float = 30.0) -> int:
        """Wait until the sentinels promoted another node and it accepts writes; its port."""
        def promoted() -> int | None:
            port = self.primary_port()
            if port is None or port == old_port:
                return None
            try:
                role = self.client(port).info("replication").get("role")
            except Exception:
                return None
            return port if role == "master" else None

        return int(wait_for(promoted, timeout, interval=0.05, what="the sentinels to promote the replica"))

    def flush(self) -> None:
        port = self.primary_port()
        assert port is not None
        c = self.client(port)
        c.flushall()
        c.script_flush()
        c.close()

    def cleanup(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        self.procs.clear()
        shutil.rmtree(self.dir, ignore_errors=True)


def started_cluster(**kwargs: Any) -> SentinelCluster:
    found = binaries()
    assert found is not None
    cluster = SentinelCluster(*found, **kwargs)
    try:
        cluster.start()
    except BaseException:
        cluster.cleanup()
        raise
    return cluster
