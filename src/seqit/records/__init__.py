"""Records at the edge: every dataset-shaped input becomes Record | Reject here (formats declared or detected
once per file), and `seqit validate` / `seqit convert` (records.convert) check and rewrite datasets.

    loaded = load_records("alpaca.json")          # .records, .rejects, .formats, .notes, .rows_in
"""

from seqit.records.formats import FORMATS, alpaca_prompt, check_messages, detect_format, row_id, to_format
from seqit.records.reader import DEFAULT_MAX_ROW_BYTES, DatasetReader, Loaded, load_records
from seqit.records.record import Record, Reject, RowError

__all__ = ["DEFAULT_MAX_ROW_BYTES", "FORMATS", "DatasetReader", "Loaded", "Record", "Reject", "RowError",
           "alpaca_prompt", "check_messages", "detect_format", "load_records", "row_id", "to_format"]
