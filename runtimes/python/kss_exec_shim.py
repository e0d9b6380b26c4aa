"""A generic warm-pool process for runtimes without a pool mode of their own (Go,
exec, http; Node or Python functions whose environment forbids pooling).

It is started ahead inside the pool's generic sandbox (mount, pid, ipc and uts
namespaces, its cgroup, RLIMIT_NOFILE already lowered) and waits for one JSON line
on stdin: ``{"exec": {"command", "args", "env", "cwd"}, "runAs", "secrets"}``. It
writes the secrets, empties its capability bounding set, drops to the function's uid
and gid for good, empties its inheritable set and checks that no capability is left
and NoNewPrivs is on (as setpriv leaves a fresh start), then ``execve``s the
runtime's own command in place: same pid, namespaces and cgroup. fds 0-3 (the parent
pipe, stdout, stderr, the ready pipe) are inherited as they are.
"""
# Everything the specialisation needs is imported while idle, not on the request's path.
import base64  # noqa: F401  (kss_identity.write_secrets uses it: imported now, while idle)
import ctypes
import json
import os
import re  # noqa: F401  (likewise)
import sys

import kss_identity

PR_CAPBSET_DROP = 24
CAPS_V3 = 0x20080522
LIBC = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [('version', ctypes.c_uint32), ('pid', ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [('effective', ctypes.c_uint32), ('permitted', ctypes.c_uint32), ('inheritable', ctypes.c_uint32)]


def drop_bounding_set():
    """Empties the capability bounding set (needs CAP_SETPCAP, which the shim's sandbox
    gives it for this): a fresh start's setpriv does ``--bounding-set=-all``."""
    with open('/proc/sys/kernel/cap_last_cap') as f:
        last = int(f.read())
    for cap in range(last + 1):
        if LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), 'cannot drop capability %d from the bounding set' % cap)


def clear_inheritable():
    """Empties the inheritable set (lowering it needs no privilege): ``--inh-caps=-all``."""
    header = _CapHeader(CAPS_V3, 0)
    data = (_CapData * 2)()
    if LIBC.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), 'capget')
    for d in data:
        d.inheritable = 0
    if LIBC.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), 'capset')


def check_unprivileged():
    """Refuses to exec anything unless every capability set is empty and NoNewPrivs is on."""
    with open('/proc/self/status') as f:
        status = dict(line.split(':', 1) for line in f.read().splitlines() if ':' in line)
    for key in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'):
        if int(status.get(key, '0').strip() or '0', 16) != 0:
            raise OSError('%s is %s after the drop' % (key, status[key].strip()))
    if status.get('NoNewPrivs', '').strip() != '1':
        raise OSError('NoNewPrivs is not set')


def fail(message):
    sys.stderr.write('[kss-exec-shim] error: %s\n' % message)
    sys.stderr.flush()
    os._exit(1)


def main():
    buffered = b''
    while b'\n' not in buffered:
        chunk = os.read(0, 65536)
        if not chunk:  # the platform went away before using this process
            os._exit(0)
        buffered += chunk
    line = json.loads(buffered.split(b'\n', 1)[0])
    target = line['exec']
    try:
        kss_identity.write_secrets(line.get('secrets'))
        run_as = line.get('runAs')
        if run_as:
            # runAs.groups (the gids of the function's volumes) and the umask are kept across the exec.
            kss_identity.become(run_as, before_switch=drop_bounding_set)
            clear_inheritable()
            check_unprivileged()
    except Exception as exc:  # never run a function's code with the pool's privileges
        fail("cannot take on the function's identity: %s" % exc)
    try:
        os.chdir(target.get('cwd') or '/tmp')
        env = dict(target.get('env') or {})
        # HOME as the sandbox set it (bwrap's --setenv), as a fresh start would have it.
        if 'HOME' in os.environ:
            env.setdefault('HOME', os.environ['HOME'])
        command = target['command']
        os.execvpe(command, [command] + list(target.get('args') or []), env)
    except Exception as exc:
        fail('cannot start %r: %s' % (target.get('command'), exc))


if __name__ == '__main__':
    main()
