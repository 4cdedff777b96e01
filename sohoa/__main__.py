"""`python -m sohoa ...` is the `sohoa` command (the demo starts its children this way)."""

import sys

from sohoa.cli import main

sys.exit(main())
