"""Public status pages: /status, /status/{slug} (or a page's own domain), their
feeds, data, live updates and badges. No login, and nothing a page does not declare."""
