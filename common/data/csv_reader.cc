#include "common/data/csv_reader.h"

#include <csv.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace cohort::data::internal {
namespace {

// libcsv reports fields and record ends through C callbacks; this is the
// state they share with ReadCsvFile.
struct ParseContext {
  std::vector<std::string> fields;
  int64_t record_line = 0;
  bool at_record_start = true;  // the previous record has been delivered
  absl::FunctionRef<absl::Status(int64_t, const std::vector<std::string>&)>*
      on_record = nullptr;
  absl::Status status;
};

void OnField(void* field, size_t length, void* data) {
  auto* context = static_cast<ParseContext*>(data);
  if (!context->status.ok()) return;
  context->fields.emplace_back(
      field == nullptr ? "" : std::string(static_cast<const char*>(field),
                                          length));
}

void OnRecordEnd(int /*terminator*/, void* data) {
  auto* context = static_cast<ParseContext*>(data);
  if (context->status.ok()) {
    context->status = (*context->on_record)(context->record_line,
                                            context->fields);
  }
  context->fields.clear();
  context->at_record_start = true;
}

int IsSpaceOnly(unsigned char c) { return c == CSV_SPACE; }
int IsSpaceOrTab(unsigned char c) { return c == CSV_SPACE || c == CSV_TAB; }

// Releases the buffers of an initialised parser (the parser itself lives on
// the stack).
struct ParserFree {
  void operator()(csv_parser* parser) const { csv_free(parser); }
};

}  // namespace

absl::Status ReadCsvFile(
    const std::string& path, char delimiter,
    absl::FunctionRef<absl::Status(int64_t line,
                                   const std::vector<std::string>& fields)>
        on_record) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (std::filesystem::is_directory(path, error)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": is a directory, not a file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }

  csv_parser parser_storage;
  if (csv_init(&parser_storage, CSV_STRICT | CSV_STRICT_FINI) != 0) {
    return absl::InternalError("csv_init failed");
  }
  const std::unique_ptr<csv_parser, ParserFree> parser(&parser_storage);
  csv_set_delim(parser.get(), static_cast<unsigned char>(delimiter));
  csv_set_space_func(parser.get(),
                     delimiter == '\t' ? IsSpaceOnly : IsSpaceOrTab);

  ParseContext context;
  context.on_record = &on_record;
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line_number == 1 && absl::StartsWith(line, "\xEF\xBB\xBF")) {
      line.erase(0, 3);
    }
    if (context.at_record_start) {
      // Outside a quoted field a blank line carries no record; skipping it
      // here keeps record_line pointing at the line the record starts on.
      if (line.empty() || line == "\r") continue;
      context.record_line = line_number;
      context.at_record_start = false;
    }
    line.push_back('\n');
    const size_t parsed = csv_parse(parser.get(), line.data(), line.size(),
                                    OnField, OnRecordEnd, &context);
    if (!context.status.ok()) return context.status;
    if (parsed != line.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_number, ": malformed CSV: ",
                       csv_strerror(csv_error(parser.get()))));
    }
  }
  if (in.bad()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": read error after line ", line_number));
  }
  if (csv_fini(parser.get(), OnField, OnRecordEnd, &context) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", context.record_line,
                     ": malformed CSV: quoted field is not closed before the "
                     "end of the file"));
  }
  return context.status;
}

}  // namespace cohort::data::internal
