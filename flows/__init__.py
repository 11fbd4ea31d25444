"""Prefect flows: the orchestration layer, composing library calls into scheduled jobs.

Flows hold no domain logic or SQL of their own; each calls ``scrapers``, ``curation`` and
``training`` and publishes what happened. Above those packages, below ``cli``.

- ``scrape``, ``curate``, ``split``, ``train``: one flow per stage (``train`` also holds the
  ``evaluate`` flow, so that training never sees the test set).
- ``retrain``: ``collect_and_retrain``, the whole loop, promoting a challenger through
  :mod:`training.registry` only if it beats the champion.
- ``main_job``: what ``carscout run`` does: the demo marketplace (or a real site) to a model.
- ``requests``: :class:`RetrainRequest`, the collect-and-retrain job's options in one object
  (with the scrape's :class:`scrapers.request.ScrapeRequest`, the split's
  :class:`curation.splits.policy.SplitRequest` and the :class:`training.config.TrainConfig`);
  each flow takes its job's request whole, and a deployment stores it as its parameter.
- ``schedules``: deployments that serve the flows on a cron schedule.
- ``progress``, ``reporting``: stage progress display and Prefect artifacts.
- ``importing``: ``carscout import`` as a flow; ``sharding``: photo shards as tasks, so a
  ``DaskTaskRunner`` spreads hashing, feature reading and import checks over its workers.
"""
