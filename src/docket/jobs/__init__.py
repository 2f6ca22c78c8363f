"""Long work as jobs. On PostgreSQL, a real queue: procrastinate's tables in the catalogue's own
database, a job deferred in the same transaction as the rows it is for, run by `docket worker`
on any machine that reaches the catalogue and the store. On SQLite there is no queue: the same
work runs in-process, as the command that asked for it runs. Every job is idempotent: a step's
result is keyed by item, step and version, so a retried or duplicated job records nothing twice.
"""
