"""The gas-meter example's database: SQLite by default, PostgreSQL when configured.
Both functions (ingest.py writes, consumption.py reads) import this module: they are
packaged from the same folder, functions/, and stack.yml's ``handler:`` names the file
each one runs.

Configuration, from the function's environment:

- ``DATABASE``: ``sqlite`` (default) or ``postgres``.
- SQLite: ``SQLITE_PATH``, default ``$KSS_VOLUME_METER_DATA/gas-meter.db`` — the
  ``meter-data`` volume (annotation ``kss.volume: meter-data``) that every function
  naming it shares. The file is created 0664 so the other functions of the volume's
  group can write it (SQLite gives its -wal and -shm files the database file's mode).
- PostgreSQL: a libpq connection string (``postgresql://user:password@host:5432/db``
  or ``host=… dbname=… user=… password=…``) in a secret, ``POSTGRES_SECRET`` naming it
  (default ``gas-meter-postgres``), read from ``/var/openfaas/secrets/<name>`` (or
  ``$KSS_SECRETS_DIR/<name>`` where the platform runs functions without a sandbox).
  The driver is psycopg2 (Debian's ``python3-psycopg2``).

The same SQL runs on both: ``?`` placeholders (turned into ``%s`` for psycopg2), BIGINT
milliseconds since the epoch for times, ``ON CONFLICT`` upserts. Writers take the
device's row lock (``BEGIN IMMEDIATE`` in SQLite, ``SELECT … FOR UPDATE`` in
PostgreSQL), so two replicas handling the same meter's messages take turns.
"""

import contextlib
import os
import sys
import threading

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS meter_device (
        device TEXT PRIMARY KEY,
        state TEXT NOT NULL,                          -- the rotation detector's state (JSON)
        litres_per_rotation DOUBLE PRECISION NOT NULL,
        rotations BIGINT NOT NULL DEFAULT 0,
        litres DOUBLE PRECISION NOT NULL DEFAULT 0,
        messages BIGINT NOT NULL DEFAULT 0,
        first_sample_ms BIGINT,
        last_sample_ms BIGINT,
        last_rotation_ms BIGINT,
        prev_rotation_ms BIGINT,
        updated_ms BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS meter_rotation (
        device TEXT NOT NULL,
        at_ms BIGINT NOT NULL,                        -- when the detector saw the rotation
        litres DOUBLE PRECISION NOT NULL,             -- the volume it stands for, as configured then
        PRIMARY KEY (device, at_ms)
    )""",
    "CREATE INDEX IF NOT EXISTS meter_rotation_at ON meter_rotation (at_ms)",
)

DEFAULT_SECRET = 'gas-meter-postgres'
DEBIAN_DIST_PACKAGES = '/usr/lib/python3/dist-packages'


class ConfigError(Exception):
    """The function is not configured for a database it can use (a deploy problem)."""


class Unavailable(Exception):
    """The database cannot be reached or is busy right now (worth retrying)."""


def secrets_dir(env):
    return env.get('KSS_SECRETS_DIR') or '/var/openfaas/secrets'


def settings(env=None):
    """Where the database is, from the environment; raises ConfigError with what to do."""
    env = os.environ if env is None else env
    kind = (env.get('DATABASE') or 'sqlite').strip().lower()
    if kind in ('sqlite', 'sqlite3'):
        path = env.get('SQLITE_PATH')
        if not path:
            volume = env.get('KSS_VOLUME_METER_DATA')
            if not volume:
                raise ConfigError('no database: annotate the function with `kss.volume: meter-data` '
                                  '(the SQLite file lives there), set SQLITE_PATH, or use DATABASE=postgres')
            path = os.path.join(volume, 'gas-meter.db')
        return ('sqlite', path)
    if kind in ('postgres', 'postgresql', 'pg'):
        name = env.get('POSTGRES_SECRET') or DEFAULT_SECRET
        where = os.path.join(secrets_dir(env), name)
        try:
            with open(where, encoding='utf-8') as f:
                dsn = f.read().strip()
        except FileNotFoundError:
            raise ConfigError('DATABASE=postgres needs the connection string in the secret "%s" (%s): '
                              '`kss secret create %s`, and list it under `secrets:` in stack.yml' % (name, where, name)) from None
        except OSError as err:
            raise ConfigError('cannot read the secret "%s": %s' % (name, err.strerror)) from None
        if not dsn:
            raise ConfigError('the secret "%s" is empty; it should hold a connection string such as '
                              'postgresql://user:password@127.0.0.1:5432/gasmeter' % name)
        return ('postgres', dsn)
    raise ConfigError('DATABASE must be sqlite or postgres, not %r' % kind)


def _psycopg2():
    try:
        import psycopg2
    except ImportError:
        # Debian's python3-psycopg2 is installed for the system's python3. Where functions run
        # on another build of the same minor version (pyenv, say), its module loads all the
        # same: the extension's file name carries the ABI it needs (cpython-3XX).
        abi = 'cpython-%d%d' % sys.version_info[:2]
        folder = os.path.join(DEBIAN_DIST_PACKAGES, 'psycopg2')
        try:
            compatible = any(abi in n for n in os.listdir(folder))
        except OSError:
            compatible = False
        if not compatible:
            raise ConfigError('DATABASE=postgres needs psycopg2 for Python %d.%d: apt-get install python3-psycopg2'
                              % sys.version_info[:2]) from None
        sys.path.append(DEBIAN_DIST_PACKAGES)
        import psycopg2
    return psycopg2


class Database:
    """A small pool of connections to one database, safe to share between threads."""

    MAX_IDLE = 4

    def __init__(self, kind, target, application='gas-meter'):
        self.kind = kind
        self._target = target
        self._application = application
        self._idle = []
        self._lock = threading.Lock()
        self._schema_ready = False
        if kind == 'postgres':
            self._pg = _psycopg2()

    # ------------------------------------------------------------ connections

    def _connect(self):
        if self.kind == 'sqlite':
            import sqlite3
            self._create_file()
            try:
                conn = sqlite3.connect(self._target, timeout=10, isolation_level=None, check_same_thread=False)
                # WAL: readers (the API) never wait for the writer (ingest). synchronous=FULL: a
                # message is acknowledged to the broker only after its commit reached the disk.
                conn.execute('PRAGMA journal_mode=WAL')
                conn.execute('PRAGMA synchronous=FULL')
                conn.execute('PRAGMA busy_timeout=10000')
            except sqlite3.OperationalError as err:
                raise Unavailable('SQLite at %s: %s' % (self._target, err)) from None
            return conn
        try:
            return self._pg.connect(self._target, connect_timeout=5, application_name=self._application)
        except self._pg.ProgrammingError:
            # libpq's message quotes the string, password included: not repeated here.
            raise ConfigError('the PostgreSQL connection string in the secret is not valid; expected e.g. '
                              'postgresql://user:password@127.0.0.1:5432/gasmeter') from None
        except self._pg.OperationalError as err:
            # The message can name the host and user, never the password (it is not echoed).
            raise Unavailable('PostgreSQL: %s' % str(err).strip().splitlines()[0]) from None

    def _create_file(self):
        """Creates the SQLite file 0664 (group-writable, whatever the umask) if it is missing."""
        folder = os.path.dirname(self._target) or '.'
        if not os.path.isdir(folder):
            raise ConfigError('the folder for the SQLite database, %s, does not exist' % folder)
        try:
            fd = os.open(self._target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o664)
        except FileExistsError:
            return
        except PermissionError:
            raise ConfigError('cannot create %s: permission denied (is the volume shared with this function?)' % self._target) from None
        try:
            os.fchmod(fd, 0o664)
        finally:
            os.close(fd)

    def _errors(self):
        if self.kind == 'sqlite':
            import sqlite3
            return (sqlite3.OperationalError,)
        return (self._pg.OperationalError, self._pg.InterfaceError)

    @contextlib.contextmanager
    def transaction(self, write=False):
        """A transaction on a pooled connection; yields a :class:`Tx`. Commits on success.

        ``write=True`` in SQLite takes the write lock at once (BEGIN IMMEDIATE), so a
        read-modify-write cannot be overtaken by another writer.
        """
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        ok = False
        try:
            if not self._schema_ready:
                self._create_schema(conn)
            cur = conn.cursor()
            if self.kind == 'sqlite':
                cur.execute('BEGIN IMMEDIATE' if write else 'BEGIN')
            yield Tx(self, cur)
            conn.commit() if self.kind == 'postgres' else cur.execute('COMMIT')
            ok = True
        except self._errors() as err:
            raise Unavailable('%s: %s' % (self.kind, str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__)) from None
        finally:
            if not ok:
                try:
                    conn.rollback() if self.kind == 'postgres' else conn.execute('ROLLBACK')
                except Exception:  # noqa: BLE001  (no transaction open, or the connection is gone)
                    pass
                # A connection that failed is not trusted again.
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass
            else:
                with self._lock:
                    if len(self._idle) < self.MAX_IDLE:
                        self._idle.append(conn)
                        conn = None
                if conn is not None:
                    conn.close()

    def _create_schema(self, conn):
        cur = conn.cursor()
        if self.kind == 'sqlite':
            cur.execute('BEGIN IMMEDIATE')
            for ddl in SCHEMA:
                cur.execute(ddl)
            cur.execute('COMMIT')
        else:
            # Two replicas starting at once would race on CREATE TABLE IF NOT EXISTS (a unique
            # violation in the catalogue); an advisory lock makes them take turns.
            cur.execute('SELECT pg_advisory_xact_lock(7281)')
            for ddl in SCHEMA:
                cur.execute(ddl)
            conn.commit()
        self._schema_ready = True

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class Tx:
    """Queries inside one transaction, with ``?`` placeholders on both databases."""

    def __init__(self, db, cur):
        self._db = db
        self._cur = cur
        self.kind = db.kind

    def execute(self, sql, params=()):
        if self.kind == 'postgres':
            sql = sql.replace('?', '%s')
        self._cur.execute(sql, params)
        return self._cur

    def executemany(self, sql, rows):
        if self.kind == 'postgres':
            sql = sql.replace('?', '%s')
        self._cur.executemany(sql, rows)

    def one(self, sql, params=()):
        return self.execute(sql, params).fetchone()

    def all(self, sql, params=()):
        return self.execute(sql, params).fetchall()

    @property
    def for_update(self):
        """The row-lock clause of a SELECT (SQLite locks the whole file with BEGIN IMMEDIATE)."""
        return ' FOR UPDATE' if self.kind == 'postgres' else ''


_databases = {}
_databases_lock = threading.Lock()


def database(env=None, application='gas-meter'):
    """The process's Database for the configured settings (one pool per process)."""
    key = settings(env)
    with _databases_lock:
        db = _databases.get(key)
        if db is None:
            db = _databases[key] = Database(key[0], key[1], application)
        return db


def close_all():
    """Closes every pooled connection of this process (tests; a replica just exits)."""
    with _databases_lock:
        dbs = list(_databases.values())
        _databases.clear()
    for db in dbs:
        db.close()
