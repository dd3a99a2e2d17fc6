"""`make run`: a real single-node Kafka (KRaft, Maven Central jars) and every service as its own
process with SQLite stores under .data/. Logs stream to this terminal, each line prefixed with
its service; Ctrl-C stops everything and leaves no process behind.

Credentials for the HTTP APIs are generated at start and printed (nothing secret is stored in
the repository). Override any setting with LANTHANIDE_* environment variables.

E-mail: a local mail sink (aiosmtpd) listens on 127.0.0.1:LANTHANIDE_MAIL_PORT (default 8025) and
notification's SMTP points at it, so every e-mail notice lands as an .eml file under
<data dir>/mail/ instead of failing (set LANTHANIDE_NOTIFICATION_SMTP_HOST to use a real server).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import lanthanide_kafka_runner as kafka_runner

REPO = Path(__file__).resolve().parent.parent

SERVICES = {  # service -> HTTP port (None: no HTTP API)
    "intake": 8081,
    "review": 8082,
    "notification": 8083,
    "audit": 8084,
    "screening": 8085,
}
MAIL_PORT = int(os.environ.get("LANTHANIDE_MAIL_PORT", "8025"))
COLOURS = {"intake": 32, "screening": 36, "review": 33, "notification": 35, "audit": 34}


def _pump(name: str, stream: object) -> None:
    colour = COLOURS.get(name, 37) if sys.stdout.isatty() else None
    for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
        line = raw.decode(errors="replace").rstrip()
        prefix = f"\x1b[{colour}m{name:>12}\x1b[0m" if colour else f"{name:>12}"
        print(f"{prefix} | {line}", flush=True)


class MailDir:
    """aiosmtpd handler: each message received is written to `<folder>/<time>-<n>.eml`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.count += 1
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{self.count:04d}.eml"
        content = envelope.original_content or envelope.content  # type: ignore[attr-defined]
        (self.folder / name).write_bytes(content if isinstance(content, bytes) else str(content).encode())
        return "250 OK"


def start_mail_sink(folder: Path, port: int) -> object:
    """The local SMTP sink (aiosmtpd, a dev dependency) on 127.0.0.1:port, in its own thread."""
    from aiosmtpd.controller import Controller

    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(MailDir(folder), hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def warm_up(bootstrap: str, partitions: int) -> None:
    """Create the catalogue's topics and wait for the group coordinator. On a new broker the
    first consumer group makes Kafka create __consumer_offsets; until it exists every service's
    consumer logged "GroupCoordinatorNotAvailableError" at ERROR, though nothing was wrong."""
    import asyncio
    import logging

    from aiokafka import AIOKafkaConsumer
    from lanthanide.kafka import ensure_topics
    from lanthanide.settings import KafkaSettings
    from lanthanide.topics import Topics

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the same noise, here, by design

    async def go() -> None:
        await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap, partitions=partitions))
        consumer = AIOKafkaConsumer(Topics.DECISIONS, bootstrap_servers=bootstrap, group_id="lanthanide-warm-up")
        await consumer.start()
        try:
            deadline = time.monotonic() + 60
            while not consumer.assignment() and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
        finally:
            await consumer.stop()

    asyncio.run(go())


def _secure_files(
    secure_dir: Path, cluster: kafka_runner.KafkaCluster, passwords: dict[str, str],
    submitters: tuple[str, ...] = (),
) -> dict[str, dict[str, str]]:
    """Per principal: a password file and an env file (LANTHANIDE_KAFKA_* for that principal;
    an upstream submitter's names its own topic, LANTHANIDE_KAFKA_SUBMITTER)."""
    envs: dict[str, dict[str, str]] = {}
    for name, password in passwords.items():
        pw_file = secure_dir / f"{name}.password"
        pw_file.write_text(password)
        pw_file.chmod(0o600)
        env = {
            "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap_servers,
            "LANTHANIDE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "LANTHANIDE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "LANTHANIDE_KAFKA_SASL_USERNAME": name,
            "LANTHANIDE_KAFKA_SASL_PASSWORD_FILE": str(pw_file),
            "LANTHANIDE_KAFKA_SSL_CAFILE": str(cluster.security.ca_file if cluster.security else ""),
        }
        if name in submitters:
            env["LANTHANIDE_KAFKA_SUBMITTER"] = name
        (secure_dir / f"{name}.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        envs[name] = env
    return envs


def _start_secure(data_dir: Path, port: int) -> tuple[kafka_runner.KafkaCluster, dict[str, dict[str, str]]]:
    """`make run-secure`: SASL_SSL, SCRAM users per principal of deploy/kafka/acls.yaml (passwords
    generated once into .data/secure/, mode 0600), the StandardAuthorizer, topics and ACLs."""
    import asyncio

    from lanthanide.kafka_secure import ADMIN, load_acls, new_passwords, prepare_cluster

    acls = load_acls(REPO / "deploy" / "kafka" / "acls.yaml")
    secure_dir = data_dir / "secure"
    secure_dir.mkdir(parents=True, exist_ok=True)
    secure_dir.chmod(0o700)
    users_file = secure_dir / "users.json"
    if not users_file.exists():  # the kept broker data holds the SCRAM users made at format time
        users_file.write_text(json.dumps(new_passwords(list(acls.principals))))
        users_file.chmod(0o600)
    passwords = json.loads(users_file.read_text())
    cluster = kafka_runner.KafkaCluster(
        nodes=1, port=port, data_dir=data_dir / "kafka-secure", num_partitions=6,
        security=kafka_runner.Security("SASL_SSL", passwords),
    )
    print(f"starting secured Kafka (SASL_SSL) on 127.0.0.1:{port} ...", flush=True)
    cluster.start()
    envs = _secure_files(secure_dir, cluster, passwords, acls.submitters)
    envs["intake"]["LANTHANIDE_INTAKE_KAFKA_SUBMITTERS"] = local_submitters(acls.submitters)
    from lanthanide.settings import KafkaSettings

    asyncio.run(prepare_cluster(KafkaSettings(**{k.removeprefix("LANTHANIDE_KAFKA_").lower(): v
                                                 for k, v in envs[ADMIN].items()}, partitions=6), acls))
    return cluster, envs


def local_submitters(submitters: tuple[str, ...] | None = None) -> str:
    """LANTHANIDE_INTAKE_KAFKA_SUBMITTERS for a local stack: intake reads the own topic of each
    upstream submitter of deploy/kafka/acls.yaml (`lanthanide submit --submitter submitter`), and
    each may submit for every exporter, like the generated API key. Set the variable to bind them.
    On the open `make run` broker nothing stops a client writing another's topic (or the shared one)."""
    if "LANTHANIDE_INTAKE_KAFKA_SUBMITTERS" in os.environ:
        return os.environ["LANTHANIDE_INTAKE_KAFKA_SUBMITTERS"]
    if submitters is None:
        from lanthanide.kafka_secure import load_acls

        submitters = load_acls(REPO / "deploy" / "kafka" / "acls.yaml").submitters
    return json.dumps({name: ["*"] for name in submitters})


def local_tokens() -> dict[str, dict[str, object]]:
    """One bearer token per local user and role, generated per run (none is committed)."""
    return {
        f"{user}-{secrets.token_urlsafe(8)}": {"user": user, "roles": roles}
        for user, roles in (("alice", ["reviewer"]), ("bob", ["senior_reviewer"]),
                            ("carol", ["auditor"]), ("admin", ["admin"]), ("olga", ["operator"]))
    }


def token_settings(tokens: dict[str, dict[str, object]]) -> dict[str, str]:
    """The same people sign in to every service's HTTP API: review's, screening's, audit's (auditors
    read the ledger) and notification's (operators and admins list and replay failed deliveries)."""
    return {f"LANTHANIDE_{service}_TOKENS": json.dumps(tokens)
            for service in ("REVIEW", "SCREENING", "AUDIT", "NOTIFICATION")}


def main() -> int:
    data_dir = Path(os.environ.get("LANTHANIDE_DATA_DIR", REPO / ".data")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = int(os.environ.get("LANTHANIDE_KAFKA_PORT", "9092"))
    secure = "--secure" in sys.argv[1:]
    kafka_envs: dict[str, dict[str, str]] = {}
    if secure:
        cluster, kafka_envs = _start_secure(data_dir, port)
    else:
        cluster = kafka_runner.KafkaCluster(nodes=1, port=port, data_dir=data_dir / "kafka", num_partitions=6)
        print(f"starting Kafka on 127.0.0.1:{port} (data in {data_dir / 'kafka'}) ...", flush=True)
        cluster.start()
        warm_up(cluster.bootstrap_servers, 6)
    api_key = os.environ.get("LANTHANIDE_DEV_API_KEY") or secrets.token_urlsafe(16)
    tokens = local_tokens()
    env = {
        **os.environ,
        "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap_servers,
        "LANTHANIDE_DATA_DIR": str(data_dir),
        "LANTHANIDE_LOG_FORMAT": os.environ.get("LANTHANIDE_LOG_FORMAT", "console"),
        "LANTHANIDE_INTAKE_API_KEYS": json.dumps({api_key: "local-dev"}),
        **token_settings(tokens),
        "LANTHANIDE_INTAKE_KAFKA_SUBMITTERS": local_submitters(),
        "LANTHANIDE_NOTIFICATION_WEBHOOK_SECRET": os.environ.get(
            "LANTHANIDE_NOTIFICATION_WEBHOOK_SECRET", secrets.token_hex(16)),
        # The audit ledger's MAC key and checkpoint signing key (Ed25519 seed): generated per run
        # like the other secrets; set them to keep one ledger verifiable across runs.
        "LANTHANIDE_AUDIT_LEDGER_KEY": os.environ.get("LANTHANIDE_AUDIT_LEDGER_KEY", secrets.token_hex(32)),
        "LANTHANIDE_AUDIT_CHECKPOINT_SIGNING_KEY": os.environ.get(
            "LANTHANIDE_AUDIT_CHECKPOINT_SIGNING_KEY", secrets.token_hex(32)),
        # A local stack delivers to receivers on this machine (examples/subscriber.py).
        "LANTHANIDE_NOTIFICATION_WEBHOOK_ALLOW_NETWORKS": os.environ.get(
            "LANTHANIDE_NOTIFICATION_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1/32,::1/128"),
    }
    mail_dir = data_dir / "mail"
    sink = None
    if "LANTHANIDE_NOTIFICATION_SMTP_HOST" not in os.environ:
        sink = start_mail_sink(mail_dir, MAIL_PORT)
        env["LANTHANIDE_NOTIFICATION_SMTP_HOST"] = "127.0.0.1"
        env["LANTHANIDE_NOTIFICATION_SMTP_PORT"] = str(MAIL_PORT)
    ports: dict[str, str] = {}
    for name, http_port in SERVICES.items():
        var = f"LANTHANIDE_{name.upper()}_HTTP_PORT"
        ports[name] = os.environ.get(var) or str(http_port)
        env[var] = ports[name]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name in SERVICES:
        svc_env = {**env, **kafka_envs.get(name, {})}
        proc = subprocess.Popen(
            [sys.executable, "-m", f"lanthanide_{name}"], env=svc_env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        procs[name] = proc
        threading.Thread(target=_pump, args=(name, proc.stdout), daemon=True).start()

    print(banner(cluster.bootstrap_servers, data_dir, ports, api_key, tokens, env,
                 mail_dir if sink is not None else None), flush=True)
    if secure:
        print(f"  Kafka clients:  SASL_SSL; per principal settings in {data_dir / 'secure'}/<name>.env, e.g.\n"
              f"                  set -a; . {data_dir / 'secure'}/submitter.env; set +a", flush=True)

    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping.is_set():
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(f"{name} exited with {proc.returncode}; stopping the stack", flush=True)
                exit_code = 1
                stopping.set()
        stopping.wait(0.5)

    print("stopping services ...", flush=True)
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if sink is not None:
        sink.stop()  # type: ignore[attr-defined]
    print("stopping Kafka ...", flush=True)
    cluster.stop()
    print("stopped.", flush=True)
    return exit_code


def banner(
    bootstrap: str, data_dir: Path, ports: dict[str, str], api_key: str, tokens: dict[str, dict[str, object]],
    env: dict[str, str], mail_dir: Path | None,
) -> str:
    """What is running where, from the settings actually passed to the services."""
    host = "127.0.0.1"
    smtp = (f"{env['LANTHANIDE_NOTIFICATION_SMTP_HOST']}:{env.get('LANTHANIDE_NOTIFICATION_SMTP_PORT', '25')}"
            if env.get("LANTHANIDE_NOTIFICATION_SMTP_HOST") else "off")
    lines = [
        "",
        "Lanthanide is running.",
        f"  Kafka:           {bootstrap}   (CLI: -b {bootstrap}, or LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS)",
        f"  data dir:        {data_dir}   (LANTHANIDE_DATA_DIR; SQLite stores, Kafka logs)",
        f"  intake API:      http://{host}:{ports['intake']}/docs   (header X-API-Key: {api_key})",
        f"  reviewer API:    http://{host}:{ports['review']}/docs",
        *(f"    bearer token {t}  ({v['user']}: {', '.join(v['roles'])})"  # type: ignore[arg-type]
          for t, v in tokens.items()),
        *(f"  {name + ':':<16} http://{host}:{ports[name]}/healthz  /readyz  /metrics"
          for name in ("screening", "notification", "audit")),
        f"  e-mail (SMTP):   {smtp}"
        + (f"   -> messages land in {mail_dir}/*.eml" if mail_dir is not None else ""),
        f"  logs:            {env.get('LANTHANIDE_LOG_FORMAT', 'json')} format, "
        f"level {env.get('LANTHANIDE_LOG_LEVEL', 'INFO')}",
        f"  submit:          uv run lanthanide submit examples/applications.jsonl -b {bootstrap}",
        f"  decisions:       uv run lanthanide decisions --follow -b {bootstrap}",
        f"  rejections:      uv run lanthanide rejections --follow -b {bootstrap}",
        f"  dead letters:    uv run lanthanide dead-letters list -b {bootstrap}",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
