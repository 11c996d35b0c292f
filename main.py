"""Visual Deep-Learning Lab: ``python main.py --help``."""

import sys

from lab_app.cli import main

if __name__ == "__main__":
    sys.exit(main())
