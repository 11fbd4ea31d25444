"""Near-duplicate removal: hash the photos, find near-duplicate pairs, keep one copy per group.

* ``hashing`` — pHash, dHash and colour layouts of image files, on every core, stored in the
  catalog;
* ``search`` — exact Hamming search over 64-bit hashes (multi-index hashing, faiss, numpy);
* ``decision`` — the one near-duplicate decision of dedup, check-leaks and split units,
  ``verify="align"`` (default), ``"colour"`` or ``"orb"``, and the parameters stored with its
  results;
* ``knn`` and ``aligned`` — the default's candidates (each photo's nearest hashes) and their
  verification on every core;
* ``alignment`` — the default's check: the second photo warped onto the first by an ORB +
  RANSAC homography and compared cell by cell (structure, hue, tone, a pasted box excused);
* ``anchored`` — groups that cannot chain: a photo joins through the group's kept copy;
* ``near_duplicates`` — the colour check (pHash candidates confirmed by the colour layout);
* ``verify`` — the ORB check: pHash and mirrored-pHash candidates confirmed by ORB keypoints
  and a RANSAC homography (measured by ``benchmarks/dedup_real.py``);
* ``components`` — connected components of a link graph (scipy), for groups and units;
* ``groups`` — duplicate groups and the copy each keeps, and their contact sheet;
* ``run`` — one ``carscout dedup`` run: hash, search, group, mark duplicates, queue conflicts;
* ``query`` — ``carscout check-leaks``: which files of a folder are already in the catalog.
"""
