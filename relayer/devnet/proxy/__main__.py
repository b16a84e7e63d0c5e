"""``python -m relayer.devnet.proxy``: run the proxy (see ``relayer.devnet.proxy.server.main``)."""

import sys

from relayer.devnet.proxy.server import main

sys.exit(main())
