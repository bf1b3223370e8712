"""The triggers at the edge: the HTTP API (`functions.api`), the W&B webhook, the cron
scheduler, the CLI (`functions.cli`) and `evaljobs serve`. They validate and dispatch
(`functions.submit`); they never evaluate.
"""
