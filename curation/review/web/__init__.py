"""``carscout review --web``: the review queue as a local page in the browser.

* ``pages`` — the open queue a page at a time, filtered, with label-conflict groups;
* ``actions`` — batch decisions and undo through :mod:`curation.review.decisions`;
* ``thumbs`` — photos by image id, shrunk and cached;
* ``app`` — the Starlette routes behind the Host and token guard;
* ``server`` — binding, the token URL, uvicorn; ``static/`` — the page (HTML, CSS, JS).
"""
