"""``python -m registry_backends.cli``: the same as the ``modelreg`` command."""

import sys

from registry_backends.cli import main

if __name__ == "__main__":
    sys.exit(main())
