"""``python -m trio_runners [--runner NAME] [--names ...]``: the greetings demo."""

import sys

from ._demo import main

if __name__ == "__main__":
    sys.exit(main())
