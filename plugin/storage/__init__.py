"""Storage: tables, engine and the queries the rest of the plugin uses."""
