"""`python -m paperfoundry.cli ...` = `paperfoundry ...`."""

import sys

from . import main

sys.exit(main())
