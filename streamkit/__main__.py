"""``python -m streamkit`` runs the command line."""

from __future__ import annotations

import sys

from streamkit.cli import main

sys.exit(main())
