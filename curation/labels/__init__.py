"""Wrong-label scoring: out-of-fold class probabilities, label-issue and outlier scores.

* ``classes`` — the label check every out-of-fold scorer makes;
* ``config`` — what a scoring run is given (``ScoreConfig``) and gives back (``Scores``);
* ``features`` — image features (an ImageNet backbone, hand-made histograms, shape grids);
* ``oof_cnn`` — the project's small CNN trained out of fold, when no backbone is on disk;
* ``probabilities`` — out-of-fold class probabilities from each source;
* ``issues`` — label-issue and outlier scores per image, stored in ``label_scores``.
"""
