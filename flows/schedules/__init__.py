"""Scheduled scrapes and retrains, served with Prefect's own Runner.

``carscout schedule scrape|retrain`` builds a deployment and serves it until SIGTERM or Ctrl-C;
``carscout schedule list|pause|resume|remove`` manage the registered ones. Scheduled runs need a
long-running Prefect server (``prefect server start`` and ``PREFECT_API_URL``). Import from the
modules themselves:

- ``timing``: cron and time-zone checks, :func:`~flows.schedules.timing.make_schedule` and
  :func:`~flows.schedules.timing.describe_schedule`.
- ``server``: finding and checking the Prefect server (``require_server``, ``open_client``).
- ``recording``: ``run_recorded``, which records a scheduled run in the catalog's ``runs``
  table and prints its one summary line (``scrape_line``, ``retrain_line``).
- ``jobs``: the two flows the deployments run, ``scheduled_scrape`` and ``scheduled_retrain``
  (flow names ``scheduled-scrape``/``scheduled-retrain``, also their ``runs.kind``).
- ``deployments``: ``scrape_deployment`` and ``retrain_deployment``, checked when scheduling,
  one run at a time, entrypoint by module path.
- ``serving``: ``serve`` (skipped ticks, clean SIGTERM, stop watchdog) and
  ``quiet_prefect_console``.
- ``managing``: ``list_schedules``, ``pause_schedule``, ``resume_schedule``,
  ``remove_schedule`` and ``reset_existing``.
"""
