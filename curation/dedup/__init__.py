"""Near-duplicate removal: hash the photos, find near-duplicate pairs, keep one copy per group.

* ``hashing`` — pHash, dHash and colour layouts of image files, on every core, stored in the
  catalog;
* ``search`` — exact Hamming search over 64-bit hashes (multi-index hashing, faiss, numpy);
* ``near_duplicates`` — the near-duplicate decision (pHash candidates confirmed by colour),
  shared with the split units;
* ``verify`` — an optional second decision: pHash and mirrored-pHash candidates confirmed by
  ORB keypoints and a RANSAC homography (measured by ``benchmarks/dedup_real.py``);
* ``components`` — connected components of a link graph (scipy), for groups and units;
* ``groups`` — duplicate groups and the copy each keeps, and their contact sheet;
* ``run`` — one ``carscout dedup`` run: hash, search, group, mark duplicates, queue conflicts;
* ``query`` — ``carscout check-leaks``: which files of a folder are already in the catalog.
"""
