"""Taking on a function's identity, shared by the Python runtime (kss_runtime.py: pool
mode and a fresh sandboxed start) and the generic exec shim (kss_exec_shim.py).

Both run in the sandbox as root holding only the capabilities to chown and switch ids,
and must leave it for good before any of the function's code runs: write the
function's secrets (files only it will read), then drop to its uid and gid, with the
gids of its volumes (``kss.volume``) as the only supplementary groups, and check that
the drop took. Standard library only; what the writes need is imported when used, so
the runtime's cold start does not pay for it.
"""
import os

SECRETS_DIR = '/var/openfaas/secrets'
# The umask of a function with volumes: what it creates there is writable by the volume's group.
VOLUME_UMASK = 0o002


def write_secrets(secrets, directory=SECRETS_DIR):
    """``{"name": "<base64 value>"}`` → one read-only file per secret in ``directory``."""
    if not secrets:
        return
    import base64
    import re
    for name, value in secrets.items():
        if not re.match(r'^[A-Za-z0-9._-]+$', name) or name in ('.', '..'):
            raise ValueError('invalid secret name %r' % name)
        fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o444)
        try:
            data = memoryview(base64.b64decode(value))
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)


def become(run_as, before_switch=None):
    """Drops to ``run_as`` (``{"uid", "gid", "groups"}``) for good and checks it took:
    real and effective ids, and exactly ``groups`` besides the primary gid. With volume
    groups the umask becomes 0002. ``before_switch`` runs while still privileged (the
    shim empties its capability bounding set there)."""
    groups = [int(g) for g in (run_as.get('groups') or [])]
    if before_switch:
        before_switch()
    os.setgroups(groups)
    os.setgid(run_as['gid'])
    os.setuid(run_as['uid'])
    if os.getuid() != run_as['uid'] or os.geteuid() != run_as['uid'] or os.getgid() != run_as['gid']:
        raise OSError('still running as %d:%d' % (os.getuid(), os.getgid()))
    if set(os.getgroups()) - {run_as['gid']} != set(groups):
        raise OSError('supplementary groups are %s, expected %s' % (os.getgroups(), groups))
    if groups:
        os.umask(VOLUME_UMASK)
