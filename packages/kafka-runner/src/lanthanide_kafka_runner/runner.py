#!/usr/bin/env python3
"""Run a real Apache Kafka broker (KRaft mode) from Maven-fetched jars, without Docker.

Stdlib only, so CI needs nothing but Java 17 and Maven. The workspace's dev member
lanthanide-kafka-runner (packages/kafka-runner): tests, benchmarks and `make run` import it.

Library use::

    from lanthanide_kafka_runner import KafkaCluster

    with KafkaCluster() as kafka:              # single node, combined broker+controller
        use(kafka.bootstrap_servers)           # "127.0.0.1:PORT"

    with KafkaCluster(nodes=3) as kafka:       # 3 combined nodes on one machine
        kafka.kill_node(2)                     # kill -9
        kafka.start_node(2)                    # restart on the same ports and data

    users = {"admin": "...", "intake": "..."}  # SCRAM-SHA-512 (and PLAIN) users, made at format
    with KafkaCluster(security=Security("SASL_SSL", users)) as kafka:
        kafka.security.ca_file                 # PEM CA the clients trust (generated per cluster)

CLI (``python -m lanthanide_kafka_runner``, or ``python3 deploy/kafka/kafka_runner.py`` without a venv)::

    python -m lanthanide_kafka_runner fetch
    python -m lanthanide_kafka_runner start [--port N] [--nodes 1|3] [--data-dir DIR]
        [--security SASL_SSL|SASL_PLAINTEXT --users-file users.json]

``start`` prints ``KAFKA_BOOTSTRAP_SERVERS=host:port[,...]`` on one stdout line once the
cluster is ready, then stays in the foreground until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "KafkaCluster",
    "KafkaError",
    "Security",
    "default_libs_dir",
    "ensure_jars",
    "generate_cluster_id",
    "generate_tls_material",
    "main",
]

HERE = Path(__file__).resolve().parent
POM_PATH = HERE / "pom.xml"


def _checkout_root() -> Path | None:
    """The workspace checkout this file belongs to (the first parent holding uv.lock: the runner is
    an editable workspace member), or None when it is installed elsewhere."""
    return next((p for p in HERE.parents if (p / "uv.lock").is_file()), None)


#: Where the jars (and the JVM class-data archive) are cached: the checkout's git-ignored
#: .cache, or the user's cache dir for an installed copy.
CACHE_ROOT = root / ".cache" if (root := _checkout_root()) else Path.home() / ".cache" / "lanthanide"

DEFAULT_KAFKA_VERSION = "3.9.1"
LIBS_ENV = "LANTHANIDE_KAFKA_LIBS"
VERSION_ENV = "LANTHANIDE_KAFKA_VERSION"
MARKER_NAME = ".lanthanide-fetched.json"

STARTED_MESSAGE = "Kafka Server started"  # logged by KafkaRaftServer once fully up
HOST = "127.0.0.1"  # not "localhost": avoids clients trying ::1 first

_TAIL_LINES = 60


class KafkaError(RuntimeError):
    """Fetching the jars, formatting storage, or starting/stopping a node failed."""


# --------------------------------------------------------------------------- jars


def default_libs_dir() -> Path:
    """``$LANTHANIDE_KAFKA_LIBS`` if set, else ``<checkout>/.cache/kafka/libs``."""
    env = os.environ.get(LIBS_ENV)
    return Path(env).expanduser().resolve() if env else CACHE_ROOT / "kafka" / "libs"


def _kafka_version() -> str:
    return os.environ.get(VERSION_ENV) or DEFAULT_KAFKA_VERSION


def _fetch_fingerprint(version: str) -> str:
    """Changes whenever the pom or requested version changes, forcing a re-fetch."""
    h = hashlib.sha256(POM_PATH.read_bytes())
    h.update(version.encode())
    return h.hexdigest()


def _libs_complete(libs: Path, fingerprint: str) -> bool:
    try:
        marker = json.loads((libs / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return False
    if marker.get("fingerprint") != fingerprint:
        return False
    jars = marker.get("jars") or []
    return bool(jars) and all((libs / j).is_file() for j in jars)


def _tail(text: str, lines: int = _TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def ensure_jars(libs_dir: str | os.PathLike[str] | None = None, *, timeout: float = 900.0) -> Path:
    """Make sure the Kafka broker jars are in ``libs_dir`` (default :func:`default_libs_dir`).

    Runs ``mvn dependency:copy-dependencies`` on the pom.xml beside this file only when the folder
    lacks a marker matching the current pom and version (or a jar listed there is gone),
    so repeated calls cost one small file read. A file lock serialises concurrent callers
    (e.g. parallel test workers). Returns the absolute libs dir.
    """
    libs = Path(libs_dir).expanduser().resolve() if libs_dir else default_libs_dir()
    version = _kafka_version()
    fingerprint = _fetch_fingerprint(version)
    if _libs_complete(libs, fingerprint):
        return libs

    libs.parent.mkdir(parents=True, exist_ok=True)
    lock_path = libs.parent / f".{libs.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _libs_complete(libs, fingerprint):  # another process fetched while we waited
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaError("Maven ('mvn') is not on PATH; it is needed to fetch the Kafka jars")
        # Start clean so jars of an older version never end up on the same classpath. Only
        # jars are removed: the env var might point at a folder holding other things.
        libs.mkdir(parents=True, exist_ok=True)
        for old in [*libs.glob("*.jar"), libs / MARKER_NAME]:
            old.unlink(missing_ok=True)
        cmd = [
            mvn,
            "-B",
            "-q",
            "-Dstyle.color=never",
            "-f",
            str(POM_PATH),
            "dependency:copy-dependencies",
            f"-Dkafka.libs.dir={libs}",
            f"-Dkafka.version={version}",
        ]
        try:
            proc = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode(errors="replace")
            raise KafkaError(f"mvn timed out after {timeout:.0f}s fetching Kafka {version}:\n{_tail(out)}") from None
        jars = sorted(p.name for p in libs.glob("*.jar"))
        if proc.returncode != 0 or not any(j.startswith("kafka_") for j in jars):
            raise KafkaError(
                f"mvn failed (exit {proc.returncode}) fetching Kafka {version} into {libs}:\n{_tail(proc.stdout)}"
            )
        marker = {"fingerprint": fingerprint, "kafka_version": version, "jars": jars}
        (libs / MARKER_NAME).write_text(json.dumps(marker, indent=1) + "\n")
    return libs


# --------------------------------------------------------------------------- helpers


def generate_cluster_id() -> str:
    """A Kafka cluster id like ``kafka-storage random-uuid``: 16 random bytes, base64url, 22 chars.

    Done in Python to save a JVM start. Kafka's own generator rejects ids starting with
    '-' (they look like CLI flags), and so do we.
    """
    while True:
        cid = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _free_ports(count: int, host: str = HOST) -> list[int]:
    """Ask the kernel for ``count`` distinct free ports (all sockets held until all are picked)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _file_tail(path: Path, lines: int = _TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            return _tail(f.read().decode(errors="replace"), lines)
    except OSError:
        return "(no file)"


def _write_properties(path: Path, props: Mapping[str, object]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))


def _read_properties(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


# log4j 1.x (reload4j) config: everything INFO+ to a rolling file in the node dir (the
# readiness check greps it), only WARN+ to stderr so a foreground run stays readable.
_LOG4J_TEMPLATE = """\
log4j.rootLogger=INFO, file, stderr
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File={log_file}
log4j.appender.file.Append=true
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.Threshold=WARN
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p [kafka-{node_id}] %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.authorizer.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
"""

_TOOL_LOG4J = """\
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=%p %m (%c)%n
"""


def _watchdog_main() -> int:
    """Body of the ``_watchdog`` helper process (see :class:`_Watchdog`).

    Reads ``+PGID`` / ``-PGID`` lines from stdin; at EOF, i.e. when the Python process
    owning the cluster is gone in any way (even SIGKILL, where atexit never runs),
    SIGKILLs every process group still registered.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only EOF ends us, so we can't be skipped
    groups: set[int] = set()
    for line in sys.stdin:
        line = line.strip()
        with contextlib.suppress(ValueError):
            if line[:1] == "+":
                groups.add(int(line[1:]))
            elif line[:1] == "-":
                groups.discard(int(line[1:]))
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    return 0


class _Watchdog:
    """Owner-death guard for the JVMs: a tiny child process holding the read end of a pipe.

    It runs in its own session, so a Ctrl-C aimed at the owner does not reach it.
    """

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).resolve()), "_watchdog"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
        )
        self._lock = threading.Lock()

    def _send(self, line: str) -> None:
        with self._lock:
            stdin = self._proc.stdin
            if stdin is None or stdin.closed:
                return
            with contextlib.suppress(OSError):
                stdin.write(line + "\n")
                stdin.flush()

    def watch(self, pgid: int) -> None:
        self._send(f"+{pgid}")

    def unwatch(self, pgid: int) -> None:
        self._send(f"-{pgid}")

    def close(self) -> None:
        """Close our end; the watchdog exits, killing only groups still registered."""
        with self._lock:
            if self._proc.stdin and not self._proc.stdin.closed:
                with contextlib.suppress(OSError):
                    self._proc.stdin.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


# --------------------------------------------------------------------------- security


@dataclass
class Security:
    """A secured listener: SASL (SCRAM-SHA-512, and PLAIN for development) over TLS or plaintext,
    with the KRaft StandardAuthorizer (no ACL = no access) and ``admin`` as the one super user.

    ``users`` maps user name to password; every one becomes a SCRAM-SHA-512 credential at
    format time (``kafka-storage format --add-scram``) and a PLAIN user of the broker listener.
    ``admin`` is the principal the brokers and controllers use among themselves (inter-broker
    SCRAM on the client listener, PLAIN on the controller listener: KRaft controllers cannot use
    SCRAM, whose credentials live in the metadata they serve). TLS material (a CA and a broker
    certificate for 127.0.0.1, valid for 30 days) is generated with keytool into ``tls/`` of the
    cluster's data dir the first time; clients trust :attr:`ca_file`.
    """

    protocol: str = "SASL_SSL"
    users: dict[str, str] = field(default_factory=dict)
    admin: str = "admin"
    ca_file: Path | None = None  # set by the cluster when TLS material exists
    _store_password: str = field(default_factory=lambda: os.urandom(12).hex(), repr=False)

    def __post_init__(self) -> None:
        if self.protocol not in ("SASL_SSL", "SASL_PLAINTEXT"):
            raise ValueError(f"protocol must be SASL_SSL or SASL_PLAINTEXT, not {self.protocol!r}")
        if self.admin not in self.users:
            raise ValueError(f"users must include the admin principal {self.admin!r}")
        for name, password in self.users.items():
            # They end up inside JAAS strings and --add-scram arguments: keep them plain.
            if not name.replace("-", "").replace("_", "").isalnum() or not password.isalnum():
                raise ValueError(f"user {name!r}: names are [A-Za-z0-9_-], passwords [A-Za-z0-9]")

    @property
    def tls(self) -> bool:
        return self.protocol == "SASL_SSL"


def _keytool(*args: str, cwd: Path) -> None:
    keytool = shutil.which("keytool")
    if keytool is None:
        raise KafkaError("'keytool' (from Java 17+) is not on PATH; it generates the TLS material")
    proc = subprocess.run(
        [keytool, "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", *args],
        cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False,
    )
    if proc.returncode != 0:
        raise KafkaError(f"keytool {args[0]} failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")


def generate_tls_material(tls_dir: Path, store_password: str) -> tuple[Path, Path]:
    """A throw-away CA and a broker key pair it signed (SAN 127.0.0.1 and localhost).

    Returns (ca.pem for clients, broker.p12 holding the broker key, its chain and the CA as a
    trusted entry: the brokers use it as key store and, for inter-broker TLS, as trust store).
    """
    tls_dir.mkdir(parents=True, exist_ok=True)
    ca_pem, broker_p12 = tls_dir / "ca.pem", tls_dir / "broker.p12"
    if ca_pem.is_file() and broker_p12.is_file() and (tls_dir / "store-password").is_file():
        return ca_pem, broker_p12
    for old in tls_dir.iterdir():
        old.unlink()
    pw = store_password
    common = ["-storetype", "PKCS12", "-storepass", pw, "-keypass", pw]
    key = ["-keyalg", "EC", "-groupname", "secp256r1", "-validity", "30"]
    _keytool("-genkeypair", "-alias", "ca", "-dname", "CN=Lanthanide test CA", "-ext", "bc:c",
             *key, "-keystore", "ca.p12", *common, cwd=tls_dir)
    _keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", "ca.p12", "-storepass", pw,
             "-file", "ca.pem", cwd=tls_dir)
    _keytool("-genkeypair", "-alias", "broker", "-dname", f"CN={HOST}", *key,
             "-keystore", "broker.p12", *common, cwd=tls_dir)
    _keytool("-certreq", "-alias", "broker", "-keystore", "broker.p12", "-storepass", pw,
             "-file", "broker.csr", cwd=tls_dir)
    _keytool("-gencert", "-alias", "ca", "-keystore", "ca.p12", "-storepass", pw, "-rfc",
             "-infile", "broker.csr", "-outfile", "broker.pem", "-validity", "30",
             "-ext", f"SAN=ip:{HOST},dns:localhost", "-ext", "KU=digitalSignature",
             "-ext", "EKU=serverAuth,clientAuth", cwd=tls_dir)
    _keytool("-importcert", "-noprompt", "-alias", "ca", "-file", "ca.pem", "-keystore", "broker.p12",
             "-storepass", pw, cwd=tls_dir)
    _keytool("-importcert", "-noprompt", "-alias", "broker", "-file", "broker.pem",
             "-keystore", "broker.p12", "-storepass", pw, cwd=tls_dir)
    (tls_dir / "ca.p12").unlink()  # the CA key is not needed once the broker cert is signed
    (tls_dir / "store-password").write_text(pw)
    os.chmod(tls_dir / "store-password", 0o600)
    os.chmod(broker_p12, 0o600)
    return ca_pem, broker_p12


def _jaas(module: str, user: str, password: str, users: Mapping[str, str] | None = None) -> str:
    extra = "".join(f' user_{u}="{p}"' for u, p in (users or {}).items())
    return f'{module} required username="{user}" password="{password}"{extra};'


_SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"
_PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"


def _security_properties(security: Security, broker_p12: Path | None, store_password: str) -> dict[str, object]:
    admin_pw = security.users[security.admin]
    props: dict[str, object] = {
        "listener.security.protocol.map": f"BROKER:{security.protocol},CONTROLLER:SASL_PLAINTEXT",
        "inter.broker.listener.name": "BROKER",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.broker.sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
        "listener.name.broker.scram-sha-512.sasl.jaas.config": _jaas(_SCRAM, security.admin, admin_pw),
        "listener.name.broker.plain.sasl.jaas.config": _jaas(_PLAIN, security.admin, admin_pw, security.users),
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": _jaas(
            _PLAIN, security.admin, admin_pw, {security.admin: admin_pw}
        ),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{security.admin}",
        "allow.everyone.if.no.acl.found": "false",
    }
    if broker_p12 is not None:
        props.update({
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": broker_p12,
            "ssl.keystore.password": store_password,
            "ssl.key.password": store_password,
            "ssl.truststore.type": "PKCS12",
            "ssl.truststore.location": broker_p12,
            "ssl.truststore.password": store_password,
            "ssl.client.auth": "none",
        })
    return props


# --------------------------------------------------------------------------- cluster


_LIVE_CLUSTERS: set[KafkaCluster] = set()
_LIVE_LOCK = threading.Lock()


def _stop_all_at_exit() -> None:
    with _LIVE_LOCK:
        clusters = list(_LIVE_CLUSTERS)
    for cluster in clusters:
        with contextlib.suppress(Exception):
            cluster.stop(timeout=5.0)


atexit.register(_stop_all_at_exit)


@dataclass
class _Node:
    node_id: int
    port: int
    controller_port: int
    dir: Path
    proc: subprocess.Popen[bytes] | None = None
    log_offset: int = 0  # server.log size when the current process was launched
    console: IO[bytes] | None = field(default=None, repr=False)  # JVM stdout/stderr file
    cds_dump: Path | None = None  # where this process writes a class-data archive at exit

    @property
    def config_path(self) -> Path:
        return self.dir / "server.properties"

    @property
    def log_path(self) -> Path:
        return self.dir / "server.log"

    @property
    def console_path(self) -> Path:
        return self.dir / "console.log"

    @property
    def log4j_path(self) -> Path:
        return self.dir / "log4j.properties"

    @property
    def data_path(self) -> Path:
        return self.dir / "data"


class KafkaCluster:
    """A real Kafka cluster of ``nodes`` KRaft combined (broker+controller) JVMs on 127.0.0.1.

    Node ids are 1..nodes; every method taking ``node_id`` uses those ids. Each node lives in
    ``<data_dir>/node-<id>/`` (server.properties, log4j.properties, server.log with the
    broker's INFO log, console.log with JVM stdout/stderr, data/ with the partitions).

    ``port`` is the first broker port; node i listens on ``port + i - 1``. Without it, free
    ports are picked. Controller ports are always picked free. Without ``data_dir`` a temp
    dir is used and deleted by :meth:`stop`; a given ``data_dir`` is kept and, when already
    formatted, reused with its cluster id.

    Replication settings follow the cluster size: with one node every replication factor
    and min ISR is 1; with three, replication factors are 3 and min ISR 2, so one node may
    be killed (:meth:`kill_node`) without losing acks=all writes.
    """

    def __init__(
        self,
        nodes: int = 1,
        *,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        num_partitions: int = 3,
        heap_mb: int | None = None,
        jvm_opts: Sequence[str] = (),
        class_data_sharing: bool = True,
        extra_config: Mapping[str, object] | None = None,
        libs_dir: str | os.PathLike[str] | None = None,
        startup_timeout: float = 90.0,
        stop_timeout: float = 20.0,
        inherit_stderr: bool = False,
        security: Security | None = None,
    ) -> None:
        """``heap_mb`` defaults to 512 for one node and 384 per node otherwise.

        ``jvm_opts`` are appended to the broker JVM's options (after the defaults).
        ``class_data_sharing`` keeps a JVM class-data archive (AppCDS) of the Kafka classes
        next to the libs dir: the first cleanly stopped broker writes it, later brokers
        load it, which cuts broker startup by about a third on this 2-core machine.
        ``extra_config`` entries override/extend every node's server.properties.
        ``inherit_stderr`` lets the JVMs' WARN+ logs reach our stderr (the CLI does this);
        otherwise they go to each node's console.log, so nothing can block on a full pipe.
        ``security`` secures the broker listener (see :class:`Security`); without it the
        listener is PLAINTEXT with no authorizer, as a quick local start wants.
        """
        if nodes < 1:
            raise ValueError("nodes must be >= 1")
        self.num_nodes = nodes
        self.num_partitions = num_partitions
        self.heap_mb = heap_mb or (512 if nodes == 1 else 384)
        self.jvm_opts = list(jvm_opts)
        self.class_data_sharing = class_data_sharing
        self._cds_archive: Path | None = None
        self.extra_config = dict(extra_config or {})
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.inherit_stderr = inherit_stderr
        self.security = security
        self._broker_p12: Path | None = None
        self._libs_arg = libs_dir
        self._libs: Path | None = None
        self._owns_data_dir = data_dir is None
        # A temp dir is only named here and created by start(), so a cluster that is
        # never started leaves nothing behind.
        self.data_dir = (
            Path(data_dir).expanduser().resolve()
            if data_dir is not None
            else Path(tempfile.gettempdir()) / f"lanthanide-kafka-{os.getpid()}-{os.urandom(4).hex()}"
        )
        if port is not None:
            broker_ports = [port + i for i in range(nodes)]
            controller_ports = _free_ports(nodes)
            while set(controller_ports) & set(broker_ports):
                controller_ports = _free_ports(nodes)
        else:
            ports = _free_ports(2 * nodes)
            broker_ports, controller_ports = ports[:nodes], ports[nodes:]
        self._nodes: dict[int, _Node] = {
            i + 1: _Node(i + 1, broker_ports[i], controller_ports[i], self.data_dir / f"node-{i + 1}")
            for i in range(nodes)
        }
        self.cluster_id = self._existing_cluster_id() or generate_cluster_id()
        self._watchdog: _Watchdog | None = None
        self._started = False

    # ------------------------------------------------------------------ public API

    @property
    def bootstrap_servers(self) -> str:
        """Comma-separated ``host:port`` of every broker (all nodes, alive or not)."""
        return ",".join(f"{HOST}:{n.port}" for n in self._nodes.values())

    @property
    def node_ids(self) -> list[int]:
        return list(self._nodes)

    def node_bootstrap(self, node_id: int) -> str:
        """``host:port`` of one node's broker listener."""
        return f"{HOST}:{self._node(node_id).port}"

    def node_log_path(self, node_id: int) -> Path:
        """The node's server.log (INFO level), useful for test failure reports."""
        return self._node(node_id).log_path

    def is_node_running(self, node_id: int) -> bool:
        proc = self._node(node_id).proc
        return proc is not None and proc.poll() is None

    def start(self) -> KafkaCluster:
        """Fetch jars if needed, format storage, launch every node, wait until all are ready.

        Nodes are launched together because in a multi-node cluster none finishes starting
        before a controller quorum exists. On failure everything is stopped and
        :class:`KafkaError` is raised with the relevant log tail. Returns ``self``.
        """
        if self._started:
            return self
        self._libs = ensure_jars(self._libs_arg)
        self._cds_archive = self._cds_archive_path() if self.class_data_sharing else None
        with _LIVE_LOCK:
            _LIVE_CLUSTERS.add(self)
        self._started = True
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            if self.security is not None and self.security.tls:
                tls_dir = self.data_dir / "tls"
                existing = tls_dir / "store-password"
                if existing.is_file():  # a kept data dir: reuse its key store and password
                    self.security._store_password = existing.read_text().strip()
                self.security.ca_file, self._broker_p12 = generate_tls_material(
                    tls_dir, self.security._store_password
                )
            self._watchdog = _Watchdog()
            for node in self._nodes.values():
                self._write_node_files(node)
            self._format_storage()
            for node in self._nodes.values():
                self._launch(node)
            deadline = time.monotonic() + self.startup_timeout
            for node in self._nodes.values():
                self._wait_ready(node, deadline)
        except BaseException:
            self.stop(timeout=5.0)
            raise
        return self

    def stop(self, timeout: float | None = None, *, kill: bool = False) -> None:
        """SIGTERM every node (in parallel), SIGKILL those still alive after ``timeout``
        (default ``stop_timeout``), and delete the data dir if it was a temp dir. Idempotent.

        A graceful stop takes about 1 s for one node but about 6 s for three: the last
        KRaft leader waits 5 s (hard-coded) for a successor that can no longer be elected.
        ``kill=True`` skips all that with an immediate SIGKILL, fine when the data is
        thrown away anyway.
        """
        timeout = self.stop_timeout if timeout is None else timeout
        nodes = [n for n in self._nodes.values() if n.proc is not None]
        for node in nodes:
            self._signal(node, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node in nodes:
            self._reap(node, deadline)
        if self._watchdog is not None:
            self._watchdog.close()
            self._watchdog = None
        with _LIVE_LOCK:
            _LIVE_CLUSTERS.discard(self)
        if self._started and self._owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self._started = False

    def kill_node(self, node_id: int) -> None:
        """``kill -9`` one node (no controlled shutdown), as a crash would. Its data is kept."""
        node = self._node(node_id)
        if node.proc is None:
            return
        self._signal(node, signal.SIGKILL)
        self._reap(node, time.monotonic() + 10.0)

    def stop_node(self, node_id: int, timeout: float | None = None) -> None:
        """Gracefully stop one node (SIGTERM, then SIGKILL after ``timeout``)."""
        node = self._node(node_id)
        if node.proc is None:
            return
        self._signal(node, signal.SIGTERM)
        self._reap(node, time.monotonic() + (self.stop_timeout if timeout is None else timeout))

    def start_node(self, node_id: int, *, wait: bool = True, timeout: float | None = None) -> None:
        """(Re)start a stopped or killed node on its old ports and data; by default wait
        until it logs it is started and accepts connections."""
        if not self._started:
            raise KafkaError("start the cluster before starting single nodes")
        node = self._node(node_id)
        if self.is_node_running(node_id):
            return
        self._launch(node)
        if wait:
            self._wait_ready(node, time.monotonic() + (self.startup_timeout if timeout is None else timeout))

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"KafkaCluster(nodes={self.num_nodes}, bootstrap_servers={self.bootstrap_servers!r})"

    # ------------------------------------------------------------------ internals

    def _node(self, node_id: int) -> _Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise ValueError(f"no node {node_id}; node ids are {list(self._nodes)}") from None

    def _existing_cluster_id(self) -> str | None:
        meta = self._nodes[1].data_path / "meta.properties"
        if meta.is_file():
            return _read_properties(meta).get("cluster.id")
        return None

    def _server_properties(self, node: _Node) -> dict[str, object]:
        n = self.num_nodes
        rf = min(n, 3)
        min_isr = max(1, rf - 1)  # tolerate one dead replica: 1 node -> 1, 3 nodes -> 2
        voters = ",".join(f"{m.node_id}@{HOST}:{m.controller_port}" for m in self._nodes.values())
        listener = "PLAINTEXT" if self.security is None else "BROKER"
        props: dict[str, object] = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            "listeners": f"{listener}://{HOST}:{node.port},CONTROLLER://{HOST}:{node.controller_port}",
            "advertised.listeners": f"{listener}://{HOST}:{node.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": node.data_path,
            "num.partitions": self.num_partitions,
            "auto.create.topics.enable": "true",
            "delete.topic.enable": "true",
            "default.replication.factor": rf,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": min_isr,
            # Internal topics are created on first use; fewer partitions = faster first
            # consumer-group join / first transaction on a 2-core machine.
            "offsets.topic.num.partitions": 10,
            "transaction.state.log.num.partitions": 5,
            "group.initial.rebalance.delay.ms": 0,
            # Small thread pools: the machine has 2 cores shared with the services under test.
            "num.network.threads": 2,
            "num.io.threads": 2,
            "num.recovery.threads.per.data.dir": 1,
            "background.threads": 4,
            "log.retention.hours": 24,
            "log.cleaner.dedupe.buffer.size": 8 * 1024 * 1024,  # default 128 MiB of heap
        }
        if n > 1:
            # Fence a killed broker after ~6 s instead of 9 s, so failover tests run faster;
            # not lower, to avoid spurious fencing when the machine is busy.
            props["broker.heartbeat.interval.ms"] = 1000
            props["broker.session.timeout.ms"] = 6000
        if self.security is not None:
            props.update(_security_properties(self.security, self._broker_p12, self.security._store_password))
        props.update(self.extra_config)
        return props

    def _write_node_files(self, node: _Node) -> None:
        node.dir.mkdir(parents=True, exist_ok=True)
        _write_properties(node.config_path, self._server_properties(node))
        node.log4j_path.write_text(_LOG4J_TEMPLATE.format(log_file=node.log_path, node_id=node.node_id))

    def _java_base(self) -> list[str]:
        assert self._libs is not None
        java = shutil.which("java")
        if java is None:
            raise KafkaError("'java' (17+) is not on PATH")
        return [java, "-cp", f"{self._libs}/*"]

    def _format_storage(self) -> None:
        """``kafka-storage format`` every unformatted node dir, all in parallel (JVM start
        dominates; running them one after another would cost seconds per node)."""
        tool_log4j = self.data_dir / "tools-log4j.properties"
        tool_log4j.write_text(_TOOL_LOG4J)
        procs: list[tuple[_Node, subprocess.Popen[str]]] = []
        archive = self._cds_archive
        cds = [f"-XX:SharedArchiveFile={archive}"] if archive is not None and archive.is_file() else []
        for node in self._nodes.values():
            if (node.data_path / "meta.properties").is_file():
                continue
            cmd = [
                *self._java_base(),
                # A short-lived tool: C1 only and serial GC start fastest, the archive helps too.
                "-Xmx128m",
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                *cds,
                f"-Dlog4j.configuration=file:{tool_log4j}",
                "kafka.tools.StorageTool",
                "format",
                "-t",
                self.cluster_id,
                "-c",
                str(node.config_path),
                *self._scram_args(),
            ]
            procs.append(
                (
                    node,
                    subprocess.Popen(
                        cmd,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                    ),
                )
            )
        errors = []
        for node, proc in procs:
            try:
                out, _ = proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            if proc.returncode != 0:
                errors.append(f"node {node.node_id} (exit {proc.returncode}):\n{_tail(out)}")
        if errors:
            raise KafkaError("kafka StorageTool format failed for " + "\n".join(errors))

    def _scram_args(self) -> list[str]:
        """``--add-scram`` for every user: SCRAM credentials must exist before the first broker
        authenticates (inter-broker traffic uses them), so they go into the bootstrap metadata."""
        if self.security is None:
            return []
        out: list[str] = []
        for name, password in self.security.users.items():
            out += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
        return out

    def _cds_archive_path(self) -> Path | None:
        """Archive path keyed by the fetched jars and the java binary.

        A dynamic CDS archive is only valid for the exact classpath (jar sizes and mtimes)
        and JVM build it was dumped with; a re-fetch or a JDK update yields a new key, so
        a stale archive is never used (the JVM would just ignore it, with a warning).
        """
        assert self._libs is not None
        java = shutil.which("java")
        if java is None:
            return None
        try:
            marker = self._libs / MARKER_NAME
            java_real = os.path.realpath(java)
            key = hashlib.sha256(
                marker.read_bytes()
                + f"|{marker.stat().st_mtime_ns}|{java_real}|{os.stat(java_real).st_mtime_ns}".encode()
            ).hexdigest()[:16]
            cds_dir = self._libs.parent / "cds"
            cds_dir.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None  # e.g. a read-only shared libs dir: just run without CDS
        return cds_dir / f"kafka-{key}.jsa"

    def _cds_opts(self, node: _Node) -> list[str]:
        archive = self._cds_archive
        if archive is None:
            return []
        if archive.is_file():
            return [f"-XX:SharedArchiveFile={archive}"]
        if any(n.cds_dump is not None for n in self._nodes.values()):
            return []  # one dumping node per cluster is enough
        # Written by the JVM at exit; _reap() moves it into place, so concurrent clusters
        # (or a killed JVM's partial file) never expose a half-written archive.
        node.cds_dump = archive.with_name(f"{archive.stem}.{os.getpid()}-{node.node_id}.tmp")
        return [f"-XX:ArchiveClassesAtExit={node.cds_dump}"]

    def _finish_cds_dump(self, node: _Node, returncode: int) -> None:
        tmp, node.cds_dump = node.cds_dump, None
        if tmp is None or self._cds_archive is None:
            return
        with contextlib.suppress(OSError):
            if returncode != -signal.SIGKILL and tmp.stat().st_size > 0:
                os.replace(tmp, self._cds_archive)
        with contextlib.suppress(OSError):
            tmp.unlink()

    def _launch(self, node: _Node) -> None:
        cmd = [
            *self._java_base(),
            f"-Xmx{self.heap_mb}m",
            f"-Xms{min(128, self.heap_mb)}m",
            # Kafka's own defaults from kafka-run-class.sh / kafka-server-start.sh.
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-Djava.awt.headless=true",
            *self._cds_opts(node),
            *self.jvm_opts,
            f"-Dlog4j.configuration=file:{node.log4j_path}",
            "kafka.Kafka",
            str(node.config_path),
        ]
        node.log_offset = node.log_path.stat().st_size if node.log_path.exists() else 0
        console = open(node.console_path, "ab")
        try:
            node.proc = subprocess.Popen(
                cmd,
                cwd=node.dir,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=None if self.inherit_stderr else console,
                start_new_session=True,  # own process group: stop() signals the whole group
            )
        except BaseException:
            console.close()
            raise
        node.console = console
        if self._watchdog is not None:
            self._watchdog.watch(node.proc.pid)

    def _log_has_started(self, node: _Node) -> bool:
        try:
            with open(node.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                # If the log rolled since launch, scan the new file from the beginning.
                f.seek(node.log_offset if size >= node.log_offset else 0)
                return STARTED_MESSAGE.encode() in f.read()
        except OSError:
            return False

    def _wait_ready(self, node: _Node, deadline: float) -> None:
        assert node.proc is not None
        logged = False
        while True:
            if node.proc.poll() is not None:
                raise KafkaError(
                    f"Kafka node {node.node_id} exited with code {node.proc.returncode} during startup\n"
                    f"--- {node.log_path} ---\n{_file_tail(node.log_path)}\n"
                    f"--- {node.console_path} ---\n{_file_tail(node.console_path)}"
                )
            logged = logged or self._log_has_started(node)
            if logged and _port_open(HOST, node.port):
                return
            if time.monotonic() > deadline:
                raise KafkaError(
                    f"Kafka node {node.node_id} not ready in time (log says started: {logged})\n"
                    f"--- {node.log_path} ---\n{_file_tail(node.log_path)}\n"
                    f"--- {node.console_path} ---\n{_file_tail(node.console_path)}"
                )
            time.sleep(0.2)

    @staticmethod
    def _signal(node: _Node, sig: signal.Signals) -> None:
        if node.proc is None or node.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(node.proc.pid, sig)

    def _reap(self, node: _Node, deadline: float) -> None:
        """Wait for the node's process until ``deadline``, then SIGKILL its group."""
        proc = node.proc
        if proc is None:
            return
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._signal(node, signal.SIGKILL)
            proc.wait()
        # The JVM starts no children, but kill any straggler in its group all the same.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if self._watchdog is not None:
            self._watchdog.unwatch(proc.pid)
        self._finish_cds_dump(node, proc.returncode)
        if node.console is not None:
            with contextlib.suppress(OSError):
                node.console.close()
            node.console = None
        node.proc = None


# --------------------------------------------------------------------------- CLI


def _cmd_fetch(_args: argparse.Namespace) -> int:
    print(ensure_jars())
    return 0


def _cmd_start(args: argparse.Namespace) -> int:
    ready = threading.Event()
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if not ready.is_set():
            # Abort a start in progress; KafkaCluster.start() cleans up on any exception.
            raise KeyboardInterrupt
        stop_requested.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    security = None
    if args.security:
        if not args.users_file:
            print("kafka_runner: --security needs --users-file (JSON: user -> password, with 'admin')",
                  file=sys.stderr)
            return 2
        security = Security(args.security, json.loads(Path(args.users_file).read_text()))
    cluster = KafkaCluster(
        nodes=args.nodes,
        port=args.port,
        data_dir=args.data_dir,
        num_partitions=args.partitions,
        inherit_stderr=True,
        security=security,
    )
    started_at = time.monotonic()
    try:
        cluster.start()
    except KafkaError as exc:
        print(f"kafka_runner: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    ready.set()
    print(f"KAFKA_BOOTSTRAP_SERVERS={cluster.bootstrap_servers}", flush=True)
    if security is not None:
        print(f"LANTHANIDE_KAFKA_SECURITY_PROTOCOL={security.protocol}", flush=True)
        if security.ca_file is not None:
            print(f"LANTHANIDE_KAFKA_SSL_CAFILE={security.ca_file}", flush=True)
    print(
        f"kafka_runner: {cluster.num_nodes} node(s) up in {time.monotonic() - started_at:.1f}s, "
        f"data in {cluster.data_dir}; Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )
    code = 0
    try:
        while not stop_requested.wait(1.0):
            if not any(cluster.is_node_running(i) for i in cluster.node_ids):
                print("kafka_runner: all Kafka nodes exited", file=sys.stderr)
                code = 1
                break
    finally:
        cluster.stop()
    return code


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_watchdog"]:  # internal, not in --help
        return _watchdog_main()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_fetch = sub.add_parser("fetch", help="only fetch the Kafka jars (prints the libs dir)")
    p_fetch.set_defaults(func=_cmd_fetch)
    p_start = sub.add_parser("start", help="start Kafka and stay in the foreground")
    p_start.add_argument("--port", type=int, default=None, help="first broker port (default: free port)")
    p_start.add_argument("--nodes", type=int, choices=(1, 3), default=1)
    p_start.add_argument("--data-dir", default=None, help="kept after exit (default: temp dir, deleted)")
    p_start.add_argument("--partitions", type=int, default=3, help="num.partitions for new topics")
    p_start.add_argument("--security", choices=("SASL_SSL", "SASL_PLAINTEXT"), default=None,
                         help="secure the listener: SASL users from --users-file, StandardAuthorizer")
    p_start.add_argument("--users-file", default=None, help="JSON object user -> password (with 'admin')")
    p_start.set_defaults(func=_cmd_start)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KafkaError as exc:
        print(f"kafka_runner: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
