"""`python -m ramooflax` runs the CLI."""

import sys

from ramooflax.cli import main

sys.exit(main())
