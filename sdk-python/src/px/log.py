"""The SDK's logger ("px") and its debug switch."""

import logging
import sys

logger = logging.getLogger("px")
_handler = None


def set_debug(on: bool = True) -> None:
    """Debug output on stderr: every batch sent, every retry and drop.
    Off again restores the level the application had set (NOTSET)."""
    global _handler
    if on:
        logger.setLevel(logging.DEBUG)
        if _handler is None:
            _handler = logging.StreamHandler(sys.stderr)
            _handler.setFormatter(logging.Formatter("[px] %(levelname)s %(message)s"))
            logger.addHandler(_handler)
    else:
        logger.setLevel(logging.NOTSET)
        if _handler is not None:
            logger.removeHandler(_handler)
            _handler = None
