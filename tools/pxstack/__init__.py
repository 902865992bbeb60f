"""pxstack: start, check and stop PX's local stack of real services.

One module per service (kafka, redis, clickhouse, nginx, worker), each a
Service with start(), wait_healthy(), stop() (graceful), kill() (SIGKILL) and
start() again on the same ports and data. stack.Stack composes them; cli is
the command line (`python3 tools/pxstack up|down|status`). The integration
tests (tests/integration/conftest.py) drive the same classes.
"""

from .base import PortInUse, ServiceError, free_port, port_in_use
from .stack import Stack, Ports, DEMO_KEY, DEMO_PROJECT

__all__ = ["Stack", "Ports", "ServiceError", "PortInUse", "free_port", "port_in_use",
           "DEMO_KEY", "DEMO_PROJECT"]
