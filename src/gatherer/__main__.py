import signal
import sys

if sys.argv[1:2] in (["_worker"], ["_store"], ["_publish"]):
    # A worker or store child of `gatherer run`: its parent stops it by closing its standard input.
    # Signals sent to the whole process group (Ctrl-C) or to every process at once (systemd's stop)
    # are the supervisor's to act on; ignore them first thing, before the imports, so that the
    # window in which one could cut a child short is as small as it can be.
    for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(_sig, signal.SIG_IGN)

from gatherer.cli import main

sys.exit(main())
