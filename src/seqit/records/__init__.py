"""Records at the edge: every dataset-shaped input becomes Record | Reject here (formats declared or detected
once per file), and `seqit validate` / `seqit convert` (records.convert) check and rewrite datasets.

    loaded = load_records("alpaca.json")          # .records, .rejects, .formats, .notes, .rows_in
"""

from seqit.records.formats import (
    FORMATS,
    alpaca_prompt,
    blank_problem,
    check_messages,
    detect_format,
    row_id,
    to_format,
)
from seqit.records.reader import (
    DEFAULT_MAX_ROW_BYTES,
    DatasetReader,
    Loaded,
    Parsed,
    RowReader,
    load_records,
    read_rows,
    source_meta,
)
from seqit.records.record import Record, Reject, RowError

__all__ = ["DEFAULT_MAX_ROW_BYTES", "FORMATS", "DatasetReader", "Loaded", "Parsed", "Record", "Reject", "RowError",
           "RowReader", "alpaca_prompt", "blank_problem", "check_messages", "detect_format", "load_records",
           "read_rows", "row_id", "source_meta", "to_format"]
