"""Saved maps: a planner's composition of the web map under a name, shared by a short link."""
