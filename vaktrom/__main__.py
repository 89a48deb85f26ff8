"""`python -m vaktrom` is the `vaktrom` command."""

from __future__ import annotations

import sys

from vaktrom.cli import main

sys.exit(main())
