"""The shipped model specs (YAML files); this package holds data only."""
