"""A real PostgreSQL server for tests, from the Debian packages (initdb into a temp dir)."""

from __future__ import annotations

import getpass
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def find_pg_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<v>/bin with initdb, or one on PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def real_postgres() -> Iterator[str]:
    """Yield a libpq URL (postgresql://user@127.0.0.1:port/postgres) of a throwaway server.

    Uses LANTHANIDE_TEST_POSTGRES_URL if set. PostgreSQL refuses to run as root, so as root
    the server runs as the 'postgres' system user the Debian package creates.
    """
    given = os.environ.get("LANTHANIDE_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    pg_bin = find_pg_bin()
    if pg_bin is None:
        raise FileNotFoundError("PostgreSQL binaries not found (apt-get install postgresql)")
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    user = "postgres" if as_root else getpass.getuser()
    tmp = Path(tempfile.mkdtemp(prefix="lanthanide-pg-"))
    data = tmp / "data"
    if as_root:
        shutil.chown(tmp, "postgres", "postgres")
    port = _free_port()
    subprocess.run(
        [*run_as, str(pg_bin / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "--no-sync"],
        check=True, capture_output=True,
    )
    log = tmp / "server.log"
    subprocess.run(
        [*run_as, str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o",
         f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
         "start"],
        check=True, capture_output=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(tmp, ignore_errors=True)


def create_database(admin_url: str, name: str) -> str:
    """Create a database on the server and return its SQLAlchemy asyncpg URL."""
    import asyncio

    import asyncpg

    async def _create() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(_create())
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"
