"""sitewatch: declarative website monitoring driven by YAML in git."""

__version__ = "0.1.0"
