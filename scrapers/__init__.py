"""Collecting listing photos from marketplaces into the catalog, politely and resumably.

Above ``pipeline`` only. ``spec`` reads and validates a site spec (``spec_model`` holds
its dataclasses, ``spec_fields`` the checks of single fields); ``robots`` (protego),
``ratelimit`` and ``fetch`` are the polite HTTP client; ``browser`` and ``pages`` read search
and listing pages (headless Chromium or plain HTTP); ``extract`` pulls fields and photo URLs out
of them; ``crawl.scrape`` runs it all for a list of labels (``traversal``, ``downloads``,
``crawl_state``, ``lifecycle`` and ``summary`` are its parts). ``demo_site`` is the built-in
marketplace of drawn cars that the demo, tests and benchmarks scrape.
"""
