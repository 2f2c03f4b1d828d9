"""`python -m bibia`: the same command line as `bibia`."""

import sys

from bibia.cli import main

sys.exit(main())
