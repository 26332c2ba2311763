"""``python -m gatherer.cli``, as ``python -m gatherer``: the command line, nothing else."""

import sys

from gatherer.cli import main

sys.exit(main())
