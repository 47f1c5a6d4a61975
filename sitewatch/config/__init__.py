"""Configuration: YAML files -> validated models."""
