"""Human review of suspect photos: the queue, and three ways to decide on it.

* ``queue`` — which images to look at (from the label scores and dedup's conflicts), in order;
* ``decisions`` — keep, relabel, reject, skip and undo, applied through the catalog's history;
* ``tui`` — the one-key terminal review (``carscout review``), with ``terminal_image`` (the photo
  drawn by textual-image: kitty, sixel, Unicode half-blocks) and ``keys`` (single keys);
* ``web`` — the same queue as a local page in the browser (``carscout review --web``);
* ``batch`` — numbered contact sheets and a decisions CSV applied all-or-nothing;
* ``contact_sheet`` — the grid-of-thumbnails drawer (also used for dedup's groups).
"""
