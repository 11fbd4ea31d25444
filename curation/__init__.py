"""Curation: from a catalog of scraped photos to a clean, leakage-free, versioned split.

Four stages, one subpackage each, in the order they run:

``curation.dedup``
    Perceptual hashes and colour layouts (``hashing``), the exact Hamming search
    (``search``), the one near-duplicate decision (``decision``: a colour-layout check in
    ``near_duplicates`` or ORB keypoints in ``verify``), connected components
    (``components``), duplicate groups and their kept copy (``groups``), a dedup run
    (``run``) and the folder check of ``carscout check-leaks`` (``query``).
``curation.labels``
    Wrong-label scoring: its settings and results (``config``), image features (``features``),
    the out-of-fold CNN (``oof_cnn``), out-of-fold probabilities per source
    (``probabilities``) and the label-issue and outlier scores (``issues``).
``curation.review``
    The review queue (``queue``) and the decisions on it (``decisions``), the terminal
    review (``tui``), the numbered sheets and decisions files (``batch``) and the
    contact-sheet drawer (``contact_sheet``).
``curation.splits``
    Leakage units (``units``), split planning (``plan``), building and growing a version
    (``build``), reading stored versions (``stored``) and the folder export (``export``).

Between stages, one direction only: splits link their units with dedup's search, decision and
components; dedup draws its groups with review's contact sheet and queues label conflicts under
review's reason; review and labels import no other stage. Import from the modules themselves:
the subpackages re-export nothing.
"""
