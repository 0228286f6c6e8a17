"""`python -m faithcam` = the `faithcam` command."""

import sys

from faithcam.cli import main

sys.exit(main())
