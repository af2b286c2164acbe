"""`python -m gate.publish ...`: the sticky pull-request comment, see gate/publish/pr_comment.py."""

from gate.publish.pr_comment import main

raise SystemExit(main())
