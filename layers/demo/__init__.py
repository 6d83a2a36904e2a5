"""The city's demo: a catalogue of layers built from small real fixtures and deterministic samples.

`catalogue` reads the layer definitions, `real` the fixtures derived from public data, `synth` makes
the sample layers around real places of Huế, and `load` writes them (`manage.py loaddemo`).
"""
