"""`python -m gate.trends soak|spike|stress|history|scrape`: see gate/trends/cli.py."""

from gate.trends.cli import main

raise SystemExit(main())
