// Package dataset reads an organisation's lead history from files (three
// tables of leads, events and outcomes, or one flat table per lead),
// infers column types, builds point-in-time snapshots and splits, and
// generates a synthetic history for demos and tests.
//
// # Reading files
//
// The three-table readers (ReadLeads, ReadEvents, ReadOutcomes and their
// io.Reader variants) stream records of the root package's types into a
// callback; ReadFlatTable reads a CRM-style export into columns. The format
// follows the file name: .csv, .tsv and .txt are delimited text, .jsonl and
// .ndjson are JSON lines, and either may end in .gz (gzip).
//
// Delimited text is read as real exports write it: the delimiter is
// detected among ',', ';', tab and '|' from the header and the first
// records (quotes respected) unless given; fields follow RFC 4180 (quoted
// fields may hold delimiters, doubled quotes and line breaks, which read as
// "\n"); CRLF and LF line ends read alike; a UTF-8 byte order mark is
// skipped; spaces and tabs around unquoted fields, and around the quotes
// of quoted ones, are trimmed; blank lines are skipped. The first line is
// the header: names are trimmed, and empty or repeated names are errors,
// but for an empty last name, which exports write when every line ends
// with the delimiter: that column is dropped, with a note in
// ReadStats.Notes, and a value in it is an error that stops the read.
// Text must be UTF-8. A record with fewer or more fields than the header, a
// quote inside an unquoted field, text after a closing quote and a quote
// never closed are errors. JSON lines hold one object per line; blank lines
// are skipped; field names are matched exactly, and unknown or repeated
// fields are errors.
//
// Every bad record is reported as a *RecordError naming the file, the
// physical line where the record starts, the column (name and 1-based
// position, or the JSON field) and the offending value. Reading stops at
// the first one unless the lenient mode is on, which skips bad records and
// counts them, keeping the first errors for a report. Nothing is silently
// coerced. Memory does not grow with the file: records are parsed in a
// reused buffer, and no record may exceed MaxRecordBytes.
//
// # Values
//
// Missing values are DefaultMissingValues: the empty value, "NA", "N/A",
// "n/a", "#N/A", "null", "NULL", "None", "nan", "NaN", "?", "-" and
// "Select" (matched exactly and case-sensitively), plus any MissingTokens
// the caller adds (and, in a flat table, ColumnMissing per column);
// NoDefaultMissing leaves the defaults out but for the empty value, which is
// always missing. In JSON lines null is missing too.
// Numbers are decimal (sign, digits, fraction, exponent); "NaN", "Inf",
// hexadecimal and thousands separators are not numbers. Booleans are
// "true", "false", "yes" and "no" in any case.
//
// Times are RFC 3339 with or without fractional seconds and with "Z" or an
// offset ("2024-03-01T09:30:00Z", "2024-03-01T09:30:00.5+01:00"), or
// "2024-03-01 09:30:00" (UTC unless it carries a zone), or "2024-03-01"
// (midnight UTC). They are returned in UTC. Anything else, including a "T"
// time without a zone, is an error, and so is the zero time
// 0001-01-01T00:00:00Z (or earlier), which is how unset dates are exported.
//
// # Column inference
//
// A delimited leads file and a flat table are read twice: once to infer
// each column's type from all its values, once to parse. A column is
// boolean when every present value is a boolean word (a third word such as
// "unknown" is a real level, so such a column is categorical); numeric when
// at least 95% of its present values are numbers without a leading zero (a
// leading zero marks a code such as a zip code); otherwise categorical
// (string). The few values of a numeric column that are not numbers are
// reported as errors instead of turning the column into text. Columns of
// only 0 and 1 are numeric: a model treats them like booleans, and a count
// that happens to be 0 or 1 in one file keeps its type in the next.
// A flat-table column whose only values are its own ColumnMissing tokens
// takes its type from them, so pdays, -1 throughout a sample, stays
// numeric. ReadOptions.Kinds and FlatOptions.Types fix a column's type
// instead; an explicit boolean column also accepts 1 and 0.
//
// # The three tables
//
// The synthetic generator writes, and the importer reads, exactly these
// columns (JSON lines use the same names as fields):
//
// Leads:
//   - id: required, a lead id (leadscore.ValidateID);
//   - account_id: optional, an account id;
//   - owner: optional, free text;
//   - created_at: required, a time;
//   - every other column is an attribute named by the column (a key:
//     lower-case letters, digits and "_"), its kind (number, bool, string)
//     inferred per column over the whole file, missing values kept as
//     missing. In JSON lines, "attributes" is an object of strings,
//     numbers, booleans and nulls, typed by JSON itself.
//
// Events:
//   - id: required, an event id (duplicates are recognised downstream);
//   - lead_id: required;
//   - type: required, a lower_snake_case key such as "page_view";
//   - occurred_at: required, a time;
//   - every other column is a property (a string) named by the column;
//     missing values are left out. In JSON lines, "properties" is an
//     object of strings.
//
// Outcomes:
//   - lead_id: required;
//   - status: required, "won" or "lost";
//   - occurred_at: required, a time;
//   - amount: optional, a finite number ≥ 0 (0 when missing);
//   - currency: optional, an ISO 4217 code of three upper-case letters,
//     required when amount is not 0.
//
// Outcome files have no other columns.
//
// # Flat tables
//
// A flat table is one row per lead with a label column. The caller names
// the label and, optionally, an id column, a time column, excluded columns
// (such as fields filled in after the outcome, which leak it) and group
// columns; every other column is a feature whose type is inferred as
// above. A row's label is positive when it matches one of
// FlatOptions.PositiveLabels ("1", "true", "yes" and "won" by default, in
// any case) and negative otherwise; a missing label is an error. Ids must
// pass leadscore.ValidateID (their uniqueness is not checked), and every row
// needs a time when a time column is named. The table
// is stored by column: about 8 bytes per row per numeric column, 4 per
// categorical one and 2 bits per boolean one.
package dataset
