"""Site specs that ship with carscout (package data): ``demo.toml`` for the demo marketplace."""
