"""Reading GIS files for import: one module per format family behind one interface.

`open_upload(path, options, workdir)` looks at the file's content (not only its name), unpacks an
archive safely, and returns a `Source`: what GDAL (through pyogrio) should open, with which layer,
encoding and CRS. `reader.read_batches` then streams it as Arrow batches for the staging table.
"""

from .base import Format, ImportOptions, Source
from .detect import FORMATS, open_upload
from .errors import ImportFailed

__all__ = ["FORMATS", "Format", "ImportFailed", "ImportOptions", "Source", "open_upload"]
