import sys

from gatherer.cli import main

sys.exit(main())
