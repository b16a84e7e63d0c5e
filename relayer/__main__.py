"""``python -m relayer`` is the ``relayer`` command."""

from relayer.cli import main

raise SystemExit(main())
