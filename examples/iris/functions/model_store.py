"""Where trained models live: one JSON file in the folder the platform shares between
the functions that name the same volume (annotation ``kss.volume: iris-models``),
given to each of them in an environment variable (``KSS_VOLUME_IRIS_MODELS``).
``MODEL_VOLUME`` in the function's environment names another volume (the monolith
keeps its models in ``iris-monolith-models``, apart from the functions').

- ``save`` writes a new model atomically: a temporary file in the same folder, flushed
  and fsync'd, then renamed over ``iris-model.json``. A reader opens either the old
  file or the new one, never half of one, however many trainings run at once.
- ``ModelCache`` is what a predicting process keeps: it re-reads the file only when
  it was replaced (another inode, size or mtime), so a new model is picked up on the
  next request without any call between the functions, and serving stays a stat().

The file is created with the permissions the platform's umask (0002) leaves, 0664:
the functions sharing the volume run with different uids and one group, so a
``tempfile.mkstemp`` file (0600) could not be read by the predicting function.
"""
import errno
import json
import os
import re
import threading
import time

from iris_ml import MODEL_FORMAT, GaussianNB

#: The volume used when ``MODEL_VOLUME`` is not set.
DEFAULT_VOLUME = 'iris-models'
#: The model's file name inside the volume.
MODEL_FILE = 'iris-model.json'


class StoreUnavailable(Exception):
    """The function has no model folder (deployed without the volume) or cannot use it."""


class NoModel(Exception):
    """No model has been trained yet."""


class BadModel(Exception):
    """The model file exists but cannot be used (not JSON, another format, wrong shapes)."""


def volume_env(name):
    """The variable holding a volume's folder: ``iris-models`` → ``KSS_VOLUME_IRIS_MODELS``."""
    return 'KSS_VOLUME_' + re.sub(r'[^A-Za-z0-9]', '_', name).upper()


def model_dir(env=None):
    """The model volume's folder; raises StoreUnavailable when the platform did not give one."""
    env = os.environ if env is None else env
    name = env.get('MODEL_VOLUME') or DEFAULT_VOLUME
    variable = volume_env(name)
    path = env.get(variable, '')
    if not path:
        raise StoreUnavailable('%s is not set: deploy this function with the annotation "kss.volume: %s"'
                               ' (see examples/iris/stack.yml)' % (variable, name))
    if not os.path.isdir(path):
        raise StoreUnavailable('the model volume %s (%s) is not a folder' % (path, variable))
    return path


def save(directory, model, report):
    """Writes ``model`` with its training ``report`` as the current model; returns the file's path.

    The document is ``{"format", "version", "trainedAt", "report", "parameters"}``.
    """
    document = {
        'format': MODEL_FORMAT,
        'version': report['version'],
        'trainedAt': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        'report': report,
        'parameters': model.parameters(),
    }
    data = (json.dumps(document, indent=1, sort_keys=True) + '\n').encode('utf-8')
    final = os.path.join(directory, MODEL_FILE)
    # Unique per process and thread, in the same folder (a rename cannot cross file systems).
    temporary = os.path.join(directory, '.%s.%d.%d.tmp' % (MODEL_FILE, os.getpid(), threading.get_ident()))
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise StoreUnavailable('cannot write in the model volume %s (%s): is it mounted read-only'
                                   ' ("iris-models:ro") for this function?' % (directory, exc.strerror)) from None
        raise
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, final)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    _fsync_dir(directory)  # the rename itself survives a power cut
    return final


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems do not sync folders; the rename is still atomic
    finally:
        os.close(fd)


def read(directory):
    """Loads the current model file: ``(GaussianNB, document)``. Raises NoModel or BadModel."""
    path = os.path.join(directory, MODEL_FILE)
    try:
        with open(path, 'rb') as f:
            raw = f.read()
    except FileNotFoundError:
        raise NoModel('no model has been trained yet') from None
    return _parse(raw, path)


def _parse(raw, path):
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise BadModel('%s is not JSON: %s' % (path, exc)) from None
    if not isinstance(document, dict) or document.get('format') != MODEL_FORMAT:
        found = document.get('format') if isinstance(document, dict) else type(document).__name__
        raise BadModel('%s has format %r; this code reads %r' % (path, found, MODEL_FORMAT))
    if not isinstance(document.get('version'), str):
        raise BadModel('%s has no version' % path)
    try:
        model = GaussianNB.from_parameters(document.get('parameters'))
    except ValueError as exc:
        raise BadModel('%s: %s' % (path, exc)) from None
    return model, document


class ModelCache:
    """The current model of one folder, re-read only when the file was replaced.

    Thread-safe: the Python runtime answers each connection in a thread of its own.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._key = None
        self._value = None

    def get(self, directory):
        """``(GaussianNB, document)`` of the current model; raises NoModel or BadModel."""
        path = os.path.join(directory, MODEL_FILE)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise NoModel('no model has been trained yet') from None
        key = (path, st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            if key == self._key:
                return self._value
        value = read(directory)
        with self._lock:
            self._key, self._value = key, value
        return value
