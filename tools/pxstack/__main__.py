"""Entry point: `python3 tools/pxstack ...` or `python3 -m pxstack ...`."""

import os
import sys

if __package__ in (None, ""):
    # run as a path (python3 tools/pxstack): make the package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pxstack.cli import main  # noqa: E402

sys.exit(main())
