"""A plugin that prints at import and in its hooks: the output goes to stderr, never into --json,
and a BaseException raised in a hook (here: SystemExit) is that hook's failure."""
import sys

from hub_core import hookimpl

print("hello from plughub_robust_prints at import")


@hookimpl
def register_heads(register):
    print("hello from register_heads")


@hookimpl
def register_tasks(register):
    sys.exit("bye from register_tasks")
