"""Training: Keras models on labelled photos, their run folders and the model registry.

Above ``pipeline`` and ``curation``, below ``flows`` and ``cli``; nothing here runs Prefect.

- ``config``: :class:`~training.config.TrainConfig` and :class:`~training.config.DataSpec`, the
  plain data every training function is given.
- ``labelled``: what every data source gives, :class:`~training.labelled.LabelledFiles` of
  :class:`~training.labelled.Sample` photos, and the seeded cuts of a subset.
- ``data_sources``, ``stanford``: labelled files from a catalog split (train and validation),
  a folder-per-class tree or Stanford Cars; ``data_sources.resolve_data`` opens the one a
  ``DataSpec`` names.
- ``quantize``, ``input_pipeline``: photos prepared and cached, then fed as ``tf.data``.
- ``models``, ``runtime``: the model variants, and the device and precision they run with.
- ``trainer``: ``train`` (fit on train, choose on validation) and ``compile_model``.
- ``run_folder``: what a run folder holds, its history, starting or resuming it.
- ``evaluation``: ``evaluate`` (the only reader of the test subset, and of a catalog split's
  fixed test set) and ``predict``.
- ``metrics``, ``reports``: classification metrics, plots and the model card.
- ``experiments``: the data-size learning curve.
- ``records``: the catalog rows of each run and its metrics, as training writes them.
- ``registry``: champion and challengers: listing models, comparing them (validation, then a
  paired McNemar test on the same test set) and promoting them.
- ``truth``: a run's test accuracy against the truth, where the truth is known (benchmarks).
"""
