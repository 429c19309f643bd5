"""`python -m app`: the gateway's command line."""

import sys

from app.cli import main

sys.exit(main())
