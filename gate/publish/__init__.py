"""Publishing: the report's files next to the run, the job summary, and the sticky pull-request comment.

`python -m gate.publish ...` posts the comment (see pr_comment.py, and github_api.py for the REST
calls, their retries and their errors).
"""
