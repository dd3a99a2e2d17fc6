"""`make run`: a real single-node Kafka (KRaft, Maven Central jars) and every service as its own
process with SQLite stores under .data/. Logs stream to this terminal, each line prefixed with
its service; Ctrl-C stops everything and leaves no process behind.

Credentials for the HTTP APIs are generated at start and printed (nothing secret is stored in
the repository). Override any setting with LANTHANIDE_* environment variables.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "deploy" / "kafka"))

import kafka_runner  # noqa: E402

SERVICES = {  # service -> HTTP port (None: no HTTP API)
    "intake": 8081,
    "review": 8082,
    "notification": 8083,
    "audit": 8084,
    "screening": 8085,
}
COLOURS = {"intake": 32, "screening": 36, "review": 33, "notification": 35, "audit": 34}


def _pump(name: str, stream: object) -> None:
    colour = COLOURS.get(name, 37) if sys.stdout.isatty() else None
    for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
        line = raw.decode(errors="replace").rstrip()
        prefix = f"\x1b[{colour}m{name:>12}\x1b[0m" if colour else f"{name:>12}"
        print(f"{prefix} | {line}", flush=True)


def _secure_files(
    secure_dir: Path, cluster: kafka_runner.KafkaCluster, passwords: dict[str, str]
) -> dict[str, dict[str, str]]:
    """Per principal: a password file and an env file (LANTHANIDE_KAFKA_* for that principal)."""
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
    envs = _secure_files(secure_dir, cluster, passwords)
    from lanthanide.settings import KafkaSettings

    asyncio.run(prepare_cluster(KafkaSettings(**{k.removeprefix("LANTHANIDE_KAFKA_").lower(): v
                                                 for k, v in envs[ADMIN].items()}, partitions=6), acls))
    return cluster, envs


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
    api_key = os.environ.get("LANTHANIDE_DEV_API_KEY") or secrets.token_urlsafe(16)
    tokens = {
        f"{user}-{secrets.token_urlsafe(8)}": {"user": user, "roles": roles}
        for user, roles in (("alice", ["reviewer"]), ("bob", ["senior_reviewer"]),
                            ("carol", ["auditor"]), ("admin", ["admin"]))
    }
    env = {
        **os.environ,
        "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap_servers,
        "LANTHANIDE_DATA_DIR": str(data_dir),
        "LANTHANIDE_LOG_FORMAT": os.environ.get("LANTHANIDE_LOG_FORMAT", "console"),
        "LANTHANIDE_INTAKE_API_KEYS": json.dumps({api_key: "local-dev"}),
        "LANTHANIDE_REVIEW_TOKENS": json.dumps(tokens),
        "LANTHANIDE_NOTIFICATION_WEBHOOK_SECRET": os.environ.get(
            "LANTHANIDE_NOTIFICATION_WEBHOOK_SECRET", secrets.token_hex(16)),
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name, http_port in SERVICES.items():
        svc_env = {**env, **kafka_envs.get(name, {})}
        if http_port is not None:
            svc_env.setdefault(f"LANTHANIDE_{name.upper()}_HTTP_PORT", str(http_port))
        proc = subprocess.Popen(
            [sys.executable, "-m", f"lanthanide_{name}"], env=svc_env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        procs[name] = proc
        threading.Thread(target=_pump, args=(name, proc.stdout), daemon=True).start()

    print(
        "\nLanthanide is running.\n"
        f"  Kafka:          {cluster.bootstrap_servers}\n"
        f"  intake API:     http://127.0.0.1:{SERVICES['intake']}/docs   (X-API-Key: {api_key})\n"
        f"  reviewer API:   http://127.0.0.1:{SERVICES['review']}/docs\n"
        + "".join(f"    bearer token {t}  ({v['user']}: {', '.join(v['roles'])})\n" for t, v in tokens.items())
        + (f"  Kafka clients:  SASL_SSL; per principal settings in {data_dir / 'secure'}/<name>.env, e.g.\n"
           f"                  set -a; . {data_dir / 'secure'}/submitter.env; set +a\n" if secure else "")
        + "  submit:         uv run lanthanide submit examples/applications.jsonl\n"
        "  decisions:      uv run lanthanide decisions --follow\n"
        "Ctrl-C stops everything.\n",
        flush=True,
    )

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
    print("stopping Kafka ...", flush=True)
    cluster.stop()
    print("stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
