"""nginx: Debian's /usr/sbin/nginx with PX's dynamic module.

Runs in the foreground (`daemon off;`) with prefix DIR/<name>, config
rendered from templates/nginx.conf, error log DIR/logs/<name>-error.log
(level info), access log DIR/logs/<name>-access.log, temp paths under the
prefix. The config is checked with `nginx -t` before start, so a bad
directive fails at once with nginx's own message. Health: GET /health
answers (status 200 unless told otherwise).
"""

import os
import re
import signal
import subprocess

from .base import Service, ServiceError, http_get, write_file

NGINX = os.environ.get("PX_NGINX", "/usr/sbin/nginx")
TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "templates", "nginx.conf")


def render(template_text, values):
    """Fill {{name}} placeholders; an unknown placeholder is an error."""
    def sub(m):
        key = m.group(1)
        if key not in values:
            raise KeyError("nginx template: no value for {{%s}}" % key)
        return str(values[key])
    return re.sub(r"\{\{(\w+)\}\}", sub, template_text)


class Nginx(Service):
    marker = "nginx"
    stop_signal = signal.SIGQUIT  # graceful: finish requests, flush producers
    start_timeout = 30.0
    stop_timeout = 20.0

    def __init__(self, root, port, module, kafka, keys, sdk_dir,
                 name="nginx", http_extra="", server_extra="",
                 health_status=(200,), sanitizer_env=None, realip=True,
                 dlq_topic="px.events.dlq"):
        """module: path of ngx_http_px_module.so (None: no load_module, for
        a config without px directives); kafka: "host:port" list; keys: key
        file path; health_status: statuses of GET /health that count as
        healthy (None: any HTTP answer); realip: trust X-Forwarded-For from
        loopback (so geo enrichment can be tried with curl); dlq_topic:
        px_kafka_dlq_topic."""
        self.name = name
        super().__init__(root)
        self.port = port
        self.module = module
        self.kafka = kafka
        self.keys = keys
        self.sdk_dir = sdk_dir
        self.http_extra = http_extra
        self.server_extra = server_extra
        self.health_status = health_status
        self.realip = realip
        self.dlq_topic = dlq_topic
        self.sanitizer_env = sanitizer_env or {}
        self.prefix = os.path.join(self.root, name)
        self.config = os.path.join(self.prefix, "nginx.conf")

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def ports(self):
        return [(self.name, self.port)]

    def log_files(self):
        return [self.log_path, os.path.join(self.logs_dir, self.name + "-error.log")]

    def render(self):
        with open(TEMPLATE) as f:
            text = f.read()
        if self.module:
            load = "load_module %s;" % self.module
        else:
            load = "# no load_module"
        # as root, nginx's workers would run as nobody, which cannot enter a
        # private temp dir (pytest's are 0700): keep them as root there
        user = "user root root;" if os.geteuid() == 0 else "# user: not root"
        return render(text, {
            "name": self.name, "load_module": load, "user": user,
            "prefix": self.prefix, "logs": self.logs_dir, "port": self.port,
            "kafka": self.kafka, "dlq_topic": self.dlq_topic,
            "keys": self.keys, "sdk_dir": self.sdk_dir,
            "http_extra": self.http_extra, "server_extra": self.server_extra,
            "realip": ("    set_real_ip_from 127.0.0.1;\n"
                       "    real_ip_header X-Forwarded-For;"
                       if self.realip else "    # realip off"),
        })

    def preflight(self):
        if self.module and not os.path.exists(self.module):
            raise ServiceError(
                "%s: module %s not built: run ./configure && make"
                % (self.name, self.module))
        if not os.access(NGINX, os.X_OK):
            raise ServiceError("%s: %s not found: run scripts/install-deps.sh"
                               % (self.name, NGINX))

    def prepare(self):
        os.makedirs(os.path.join(self.prefix, "tmp"), exist_ok=True)
        os.makedirs(os.path.join(self.prefix, "logs"), exist_ok=True)
        write_file(self.config, self.render())
        r = subprocess.run(self.command() + ["-t", "-q"], capture_output=True,
                           env=self.env(), timeout=30)
        if r.returncode != 0:
            raise ServiceError("%s: nginx -t rejects %s:\n%s" % (
                self.name, self.config,
                (r.stdout + r.stderr).decode(errors="replace").strip()))

    def command(self):
        return [NGINX, "-p", self.prefix + "/", "-c", self.config]

    def env(self):
        e = dict(os.environ)
        e.update(self.sanitizer_env)
        return e

    def check(self):
        status, body = http_get(self.url + "/health")
        if self.health_status is None or status in self.health_status:
            return True
        self.last_check = "GET /health answered %d %s" % (status, body[:200])
        return False

    def reload(self):
        """Re-render the config and send SIGHUP (after nginx -t passes)."""
        pid = self.pid()
        if pid is None:
            raise ServiceError("%s: not running" % self.name)
        self.prepare()
        os.kill(pid, signal.SIGHUP)


def write_keys(path, lines):
    """Write a px_keys file: lines "<key> <project_id> <tier> [origin ...]"."""
    write_file(path, "# PX API keys: <key> <project_id> <tier> [origin ...]\n"
               + "".join(l + "\n" for l in lines))
