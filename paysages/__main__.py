"""Allow ``python -m paysages``."""

import sys

from paysages.cli import main

sys.exit(main())
