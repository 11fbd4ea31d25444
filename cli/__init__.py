"""The ``carscout`` command line: the top layer, a thin typer app over the library packages.

``cli.app`` builds the app and holds the console entry point; ``cli.commands`` keeps one module
per stage, each with a ``register(app)`` function. Nothing below this package imports it.
"""
