"""A background service process: start, health wait, graceful stop, SIGKILL.

Each service writes its output to DIR/logs/<name>.log and its pid to
DIR/run/<name>.pid, so a later command (another `pxstack` run) finds it
again. Processes run in their own session (process group) and outlive the
Python process that started them until stop() or kill().
"""

import errno
import os
import random
import signal
import socket
import subprocess
import time


class ServiceError(Exception):
    """A service failed to start, became unhealthy or did not stop."""


class PortInUse(ServiceError):
    """A port that a service needs is held by something else."""


def port_in_use(port, host="127.0.0.1"):
    """True when something listens on host:port (a bind there fails)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR: a port in TIME_WAIT is free to use; a listening
        # socket still makes the bind fail.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
    except OSError as e:
        if e.errno in (errno.EADDRINUSE, errno.EACCES):
            return True
        raise
    finally:
        s.close()
    return False


_handed_out = set()


def _worker_port_range():
    """Under pytest-xdist (make test-integration runs two processes, each
    with its own stack): this process's own slice of the ports below the
    kernel's ephemeral range, so that two processes never pick the same
    port, and no outgoing connection takes one between its pick and its
    bind. None outside xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if not worker.startswith("gw") or count < 2:
        return None
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            top = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        top = 32768
    base = 10000
    width = (top - base) // count
    n = int(worker[2:]) % count
    return base + n * width, base + (n + 1) * width


def free_port(host="127.0.0.1"):
    """A currently free TCP port on host, never the same twice per process
    (nor the same as another xdist process's: _worker_port_range)."""
    span = _worker_port_range()
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((host, 0 if span is None else random.randrange(*span)))
            port = s.getsockname()[1]
        except OSError:
            continue
        finally:
            s.close()
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise ServiceError("no free port found")


def wait_until(fn, timeout=30.0, interval=0.2, desc="condition"):
    """Call fn until it returns a truthy value and return that value;
    AssertionError naming desc (and fn's last value) after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s (last: %r)"
                                 % (timeout, desc, last))
        time.sleep(interval)


def prometheus_values(text):
    """{"name{labels}": value} of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def tail(path, lines=30):
    """The last lines of a file as one string ('' when it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def _proc_state(pid):
    """The /proc state letter of pid, or None when there is no such process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    # "pid (comm) S ..." -- comm may hold spaces and parentheses
    return stat[stat.rfind(")") + 2:][:1]


def _proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


class Service:
    """Base class. Subclasses set `name`, `marker` and implement command(),
    prepare() and check(); they may override env(), stop_signal, ports()."""

    name = "service"
    # a string that the process's command line contains: guards against a
    # stale pid file whose pid was reused by another program
    marker = ""
    stop_signal = signal.SIGTERM
    stop_timeout = 30.0
    start_timeout = 60.0
    # check() may set this to say why it is not healthy yet
    last_check = None

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.logs_dir = os.path.join(self.root, "logs")
        self.run_dir = os.path.join(self.root, "run")
        self.pidfile = os.path.join(self.run_dir, self.name + ".pid")
        self.log_path = os.path.join(self.logs_dir, self.name + ".log")
        self.proc = None

    # -- to implement -------------------------------------------------------

    def ports(self):
        """[(label, port)] this service listens on."""
        return []

    def preflight(self):
        """Raise ServiceError if something the service needs is missing
        (a binary, jars). No side effects; called before anything starts."""

    def prepare(self):
        """Write configuration files and create directories (idempotent)."""

    def command(self):
        raise NotImplementedError

    def env(self):
        return dict(os.environ)

    def cwd(self):
        return self.root

    def check(self):
        """True when healthy. Called repeatedly until it is or time runs out;
        may raise ServiceError for a failure that waiting will not fix."""
        raise NotImplementedError

    def log_files(self):
        """Log files worth quoting when something goes wrong."""
        return [self.log_path]

    # -- process handling -----------------------------------------------------

    def pid(self):
        """The pid of the running service, or None."""
        if self.proc is not None:
            if self.proc.poll() is None:
                return self.proc.pid
            return None
        try:
            with open(self.pidfile) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        state = _proc_state(pid)
        if state is None or state in ("Z", "X"):
            return None
        if self.marker and self.marker not in _proc_cmdline(pid):
            return None
        return pid

    def running(self):
        return self.pid() is not None

    def busy_ports(self):
        """The [(label, port)] of this service that something else holds."""
        return [(label, p) for label, p in self.ports() if port_in_use(p)]

    def start(self):
        """Start in the background (no-op when already running). Returns
        True when it started a process, False when one was running."""
        if self.running():
            return False
        busy = self.busy_ports()
        if busy:
            raise PortInUse(
                "%s: port %s already in use (%s); stop what holds it or choose "
                "other ports" % (self.name, ", ".join(str(p) for _, p in busy),
                                 ", ".join(label for label, _ in busy)))
        self.preflight()
        os.makedirs(self.logs_dir, exist_ok=True)
        os.makedirs(self.run_dir, exist_ok=True)
        self.prepare()
        cmd = self.command()
        with open(self.log_path, "ab") as log:
            log.write(("\n=== %s: starting %s\n" % (
                time.strftime("%Y-%m-%d %H:%M:%S"), " ".join(cmd))).encode())
            log.flush()
            try:
                self.proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, cwd=self.cwd(), env=self.env(),
                    start_new_session=True)
            except OSError as e:
                raise ServiceError("%s: cannot run %s: %s" % (self.name, cmd[0], e))
        with open(self.pidfile, "w") as f:
            f.write("%d\n" % self.proc.pid)
        return True

    def exit_code(self):
        if self.proc is not None:
            return self.proc.poll()
        return None

    def failure(self, what):
        """A ServiceError quoting the last lines of the service's logs."""
        parts = ["%s: %s" % (self.name, what)]
        for path in self.log_files():
            text = tail(path)
            if text:
                parts.append("--- last lines of %s ---\n%s" % (path, text))
            elif not os.path.exists(path):
                parts.append("--- %s does not exist ---" % path)
        return ServiceError("\n".join(parts))

    def wait_healthy(self, timeout=None):
        """Wait until check() passes; ServiceError (with log lines) if the
        process exits or the time runs out."""
        timeout = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        last_error = None
        while True:
            if not self.running():
                code = self.exit_code()
                raise self.failure("exited%s before becoming healthy" % (
                    "" if code is None else " with status %d" % code))
            self.last_check = None
            try:
                if self.check():
                    return
                last_error = self.last_check
            except ServiceError:
                raise
            except Exception as e:  # connection refused and the like
                last_error = e
            if time.monotonic() > deadline:
                raise self.failure("not healthy after %.0fs%s" % (
                    timeout, "" if last_error is None else
                    " (last check: %s)" % last_error))
            time.sleep(0.2)

    def _wait_exit(self, pid, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.pid == pid:
                if self.proc.poll() is not None:
                    return True
            else:
                state = _proc_state(pid)
                if state is None or state in ("Z", "X"):
                    return True
            time.sleep(0.05)
        return False

    def _signal_group(self, pid, sig):
        try:
            os.killpg(pid, sig)
        except OSError:
            pass

    def stop(self, timeout=None):
        """Graceful stop; SIGKILL if it does not exit within timeout.
        Returns False when it was not running."""
        timeout = self.stop_timeout if timeout is None else timeout
        pid = self.pid()
        if pid is None:
            self._forget()
            return False
        try:
            os.kill(pid, self.stop_signal)
        except ProcessLookupError:
            pass
        if not self._wait_exit(pid, timeout):
            with open(self.log_path, "ab") as log:
                log.write(("=== pxstack: no exit %.0fs after %s, SIGKILL\n" % (
                    timeout, signal.Signals(self.stop_signal).name)).encode())
            self._signal_group(pid, signal.SIGKILL)
            self._wait_exit(pid, 10)
        # children left in the group (e.g. nginx workers after a master crash)
        self._signal_group(pid, signal.SIGKILL)
        self._forget()
        return True

    def kill(self):
        """SIGKILL the service and everything in its process group, no
        cleanup: for failure tests. start() later reuses ports and data."""
        pid = self.pid()
        if pid is None:
            self._forget()
            return False
        self._signal_group(pid, signal.SIGKILL)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._wait_exit(pid, 10)
        self._forget()
        return True

    def _forget(self):
        if self.proc is not None:
            try:
                self.proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None
        try:
            os.unlink(self.pidfile)
        except OSError:
            pass


def write_file(path, text, mode=0o644):
    """Write text to path (creating its directory), only if it changed."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except OSError:
        pass
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def http_get(url, timeout=2.0):
    """(status, body) of a GET; HTTP errors are returned, not raised."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
