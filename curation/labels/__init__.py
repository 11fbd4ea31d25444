"""Wrong-label scoring: out-of-fold class probabilities, label-issue and outlier scores.

* ``classes`` — the label check every out-of-fold scorer makes;
* ``config`` — what a scoring run is given (``ScoreConfig``) and gives back (``Scores``);
* ``features`` — image features (an ImageNet backbone, hand-made histograms, shape grids);
* ``oof_cnn`` — the project's small CNN trained out of fold, when no backbone is on disk;
* ``inputs`` — what each source reads from the photos (pixels, features), shard by shard;
* ``fold_tasks`` — the one out-of-fold loop every source uses, and where its folds run;
* ``projection`` — standardize + PCA fit on a sample of rows, applied in chunks;
* ``probabilities`` — out-of-fold class probabilities from each source;
* ``auto_source`` — what ``--features auto`` picks among the offline sources, and why;
* ``reuse`` — when a scoring run's stored scores can stand for a new one;
* ``issues`` — label-issue and outlier scores per image, stored in ``label_scores``.
"""
