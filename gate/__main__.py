"""`python -m gate ...`: see gate/cli.py."""

from gate.cli import main

raise SystemExit(main())
