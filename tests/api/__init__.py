"""Tests of the REST API, the OGC API and what real clients make of them."""
