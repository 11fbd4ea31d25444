"""Leakage-free, reproducible, versioned train/validation/test splits, and their export.

* ``units`` — leakage units: images tied by a listing, a duplicate group or near-duplicates;
* ``plan`` — target counts per subset and label, and the seeded placement of units (pure);
* ``policy`` — the split request and the one decision: create a version, grow the latest, or
  refuse a setting that differs from the stored one;
* ``build`` — create a split version or grow the latest one, stored in the catalog;
* ``stored`` — read stored versions and their assignments (what training and export use), and
  each version's fixed test set with its fingerprint;
* ``export`` — write a version as a folder-per-class tree with a manifest.
"""
