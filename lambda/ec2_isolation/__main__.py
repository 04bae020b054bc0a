"""``python -m ec2_isolation status|isolate|release|list ...``: the responder CLI (see cli.py), also
installed as the console script ``ec2-isolation``."""

import sys

from ec2_isolation.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m ec2_isolation"))
