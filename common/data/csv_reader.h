// Streams the records of a delimited text file (CSV and friends) through
// libcsv, reporting each record with the physical line it starts on, so that
// callers can name `FILE:LINE` in their errors.
//
// Parsing is strict RFC 4180 as implemented by libcsv (CSV_STRICT and
// CSV_STRICT_FINI): quoted fields may contain delimiters, doubled quotes and
// line breaks; a stray quote is an error. Spaces (and tabs, unless the
// delimiter is a tab) around unquoted fields are trimmed. Blank lines between
// records are skipped. A UTF-8 byte-order mark at the start of the file is
// ignored. LF and CRLF line endings are both accepted.
//
// Stateless free function; thread-safe.
#ifndef COHORT_COMMON_DATA_CSV_READER_H_
#define COHORT_COMMON_DATA_CSV_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace cohort::data::internal {

// Calls `on_record(line, fields)` for every record of the file at `path`, in
// order; `line` is the 1-based physical line on which the record starts.
// Stops at, and returns, the first non-OK status `on_record` returns.
// Returns NotFound if `path` does not exist, FailedPrecondition if it cannot
// be read, and InvalidArgument "PATH:LINE: malformed CSV: ..." for a quoting
// error.
absl::Status ReadCsvFile(
    const std::string& path, char delimiter,
    absl::FunctionRef<absl::Status(int64_t line,
                                   const std::vector<std::string>& fields)>
        on_record);

}  // namespace cohort::data::internal

#endif  // COHORT_COMMON_DATA_CSV_READER_H_
