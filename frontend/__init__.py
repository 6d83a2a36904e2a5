"""The web map (a placeholder page until the web-map issue lands)."""
