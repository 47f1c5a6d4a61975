"""Services: what the web layer asks for, above the store, checker, alerts and config."""
