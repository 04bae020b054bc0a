"""``python -m ec2_isolation status|isolate|release <instance-id>``: the responder CLI (see cli.py)."""

import sys

from ec2_isolation.cli import main

if __name__ == "__main__":
    sys.exit(main())
