"""Wrong-label scoring: out-of-fold class probabilities, label-issue and outlier scores.

* ``features`` — image features (an ImageNet backbone, or hand-made histograms);
* ``oof_cnn`` — the project's small CNN trained out of fold, when no backbone is on disk;
* ``issues`` — label-issue and outlier scores per image, stored in ``label_scores``.
"""
