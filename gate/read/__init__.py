"""Reading: a run folder, a committed baseline and the policy, validated into plain data."""
