"""The runner: stateless compute for one job (`python -m runners.job JOB_ID`).

`runners.job.run_job` claims, serves, evaluates, finishes and runs the result sinks
(`runners.sinks`); `runners.executor` and `runners.worker_pool` start runners. Nothing is
imported here, so starting a runner loads only what its job needs.
"""
