#include "common/data/loader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/data/csv_reader.h"
#include "common/data/config_fields.h"
#include "common/util/status_macros.h"

namespace cohort::data {
namespace {

using internal::Quote;

// Longest raw value quoted in full in an error message.
constexpr size_t kMaxQuotedValue = 64;
// Most codes or categories listed in an error message.
constexpr size_t kMaxListed = 20;

std::string QuoteValue(absl::string_view value) {
  if (value.size() <= kMaxQuotedValue) return Quote(value);
  return absl::StrCat(Quote(value.substr(0, kMaxQuotedValue)), "...");
}

// An error about field `field` of the site config (found while matching the
// mapping against the study schema), in util::ConfigNode's format:
// "FILE:LINE: field 'FIELD': MESSAGE". `line` 0 means unknown.
absl::Status ConfigError(const DataSourceConfig& config, int line,
                         absl::string_view field, absl::string_view message) {
  std::string where = config.where;
  if (line > 0) absl::StrAppend(&where, ":", line);
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": field '", field, "': ", message));
}

std::string ListForMessage(const std::vector<std::string>& items) {
  if (items.size() <= kMaxListed) return absl::StrJoin(items, ", ");
  std::vector<std::string> head(items.begin(), items.begin() + kMaxListed);
  return absl::StrCat(absl::StrJoin(head, ", "), ", ... (",
                      items.size() - kMaxListed, " more)");
}

// A finite number spelled out completely ("1", "1.0", ".7", "-1.5", "2e3",
// "+4"); nullopt for anything else, including "", "1x", "inf" and "nan".
std::optional<double> ParseNumber(absl::string_view text) {
  bool plus = false;
  if (!text.empty() && text.front() == '+') {
    text.remove_prefix(1);
    plus = true;
  }
  if (text.empty() || (plus && text.front() == '-')) return std::nullopt;
  double value = 0.0;
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || ptr != end || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

// Matches a value against keys: exact string first, then numeric equality.
class KeyMatcher {
 public:
  explicit KeyMatcher(std::vector<std::string> keys) : keys_(std::move(keys)) {
    for (const std::string& key : keys_) numbers_.push_back(ParseNumber(key));
  }

  // Index of the matching key, or -1.
  int Match(absl::string_view value) const {
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (keys_[i] == value) return static_cast<int>(i);
    }
    const std::optional<double> number = ParseNumber(value);
    if (!number) return -1;
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (numbers_[i] && *numbers_[i] == *number) return static_cast<int>(i);
    }
    return -1;
  }

  const std::vector<std::string>& keys() const { return keys_; }
  bool empty() const { return keys_.empty(); }

 private:
  std::vector<std::string> keys_;
  std::vector<std::optional<double>> numbers_;
};

// How one study variable is read from the records of the file.
struct ColumnPlan {
  const Variable* variable = nullptr;
  bool is_outcome = false;
  std::string column;
  int index = -1;  // field index in a record
  KeyMatcher missing{{}};
  KeyMatcher codes{{}};
  std::vector<std::string> code_targets;
  KeyMatcher categories{{}};
  int offset = 0;  // first encoded column (features only)
};

// Checks that a code's study value is valid for the variable.
absl::Status CheckCodeTarget(const ColumnPlan& plan, const std::string& key,
                             const std::string& target, int line,
                             const DataSourceConfig& config) {
  const Variable& variable = *plan.variable;
  std::string problem;
  switch (variable.type) {
    case VariableType::kNumeric:
      if (!ParseNumber(target)) {
        problem = absl::StrCat(QuoteValue(target), " is not a number (variable '",
                               variable.name, "' is numeric)");
      }
      break;
    case VariableType::kBinary: {
      const std::optional<double> number = ParseNumber(target);
      if (!number || (*number != 0.0 && *number != 1.0)) {
        problem = absl::StrCat(QuoteValue(target), " is not 0 or 1 (variable '",
                               variable.name, "' is binary)");
      }
      break;
    }
    case VariableType::kCategorical:
      if (plan.categories.Match(target) < 0) {
        problem = absl::StrCat(QuoteValue(target),
                               " is not a category of variable '",
                               variable.name, "' (categories: ",
                               ListForMessage(variable.categories), ")");
      }
      break;
  }
  if (problem.empty()) return absl::OkStatus();
  return ConfigError(
      config, line,
      absl::StrCat("data.variables.", variable.name, ".codes[", Quote(key), "]"),
      problem);
}

// Builds the plan of every study variable (features, then the outcome) from
// the mapping in `config`, without column indices.
absl::StatusOr<std::vector<ColumnPlan>> MakePlans(
    const DataSourceConfig& config, const StudySchema& schema) {
  std::vector<const Variable*> variables;
  for (const Variable& feature : schema.features) variables.push_back(&feature);
  variables.push_back(&schema.outcome);
  for (const auto& [name, mapping] : config.variables) {
    const bool known =
        std::any_of(variables.begin(), variables.end(),
                    [&](const Variable* v) { return v->name == name; });
    if (!known) {
      std::vector<std::string> names;
      for (const Variable* v : variables) names.push_back(v->name);
      return ConfigError(
          config, mapping.line, absl::StrCat("data.variables.", name),
          absl::StrCat("'", name,
                       "' is not a variable of the study (variables: ",
                       ListForMessage(names), ")"));
    }
  }

  std::vector<ColumnPlan> plans;
  int offset = 0;
  for (const Variable* variable : variables) {
    ColumnPlan plan;
    plan.variable = variable;
    plan.is_outcome = variable == &schema.outcome;
    plan.column = variable->name;
    std::vector<std::string> missing = config.missing;
    plan.categories = KeyMatcher(variable->categories);
    const auto it = config.variables.find(variable->name);
    if (it != config.variables.end()) {
      const VariableMapping& mapping = it->second;
      plan.column = mapping.column;
      missing.insert(missing.end(), mapping.missing.begin(),
                     mapping.missing.end());
      std::vector<std::string> keys;
      for (size_t i = 0; i < mapping.codes.size(); ++i) {
        const auto& [key, target] = mapping.codes[i];
        const int line =
            i < mapping.code_lines.size() ? mapping.code_lines[i] : 0;
        RETURN_IF_ERROR(CheckCodeTarget(plan, key, target, line, config));
        keys.push_back(key);
        plan.code_targets.push_back(target);
      }
      plan.codes = KeyMatcher(std::move(keys));
    }
    plan.missing = KeyMatcher(std::move(missing));
    if (!plan.is_outcome) {
      plan.offset = offset;
      offset += NumEncodedColumns(*variable);
    }
    plans.push_back(std::move(plan));
  }
  return plans;
}

// Finds each plan's column among `names` (the header, or config.columns).
absl::Status ResolveColumns(const DataSourceConfig& config,
                            const std::vector<std::string>& names,
                            int64_t header_line,
                            std::vector<ColumnPlan>& plans) {
  for (ColumnPlan& plan : plans) {
    const std::string& variable = plan.variable->name;
    const bool mapped = config.variables.count(variable) > 0;
    int found = -1;
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] != plan.column) continue;
      if (found >= 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            config.resolved_path, ":", header_line, ": column '", plan.column,
            "': appears more than once in the header, so variable '", variable,
            "' is ambiguous"));
      }
      found = static_cast<int>(i);
    }
    if (found >= 0) {
      plan.index = found;
      continue;
    }
    const std::string list =
        config.header ? absl::StrCat("the header of ", config.resolved_path)
                      : std::string("data.columns");
    if (mapped) {
      return ConfigError(
          config, config.variables.at(variable).column_line,
          absl::StrCat("data.variables.", variable, ".column"),
          absl::StrCat("variable '", variable, "' maps to column '",
                       plan.column, "', which is not in ", list,
                       " (columns: ", ListForMessage(names), ")"));
    }
    return ConfigError(
        config, config.variables_line, "data.variables",
        absl::StrCat("study variable '", variable,
                     "' is not mapped, and there is no column '", plan.column,
                     "' in ", list, " (columns: ", ListForMessage(names), ")"));
  }
  return absl::OkStatus();
}

// The kept (not dropped) records, encoded.
struct EncodedRows {
  int num_features = 0;
  std::vector<int64_t> all_lines;  // every data record, increasing
  std::vector<int64_t> lines;      // kept records
  std::vector<double> x;           // kept records, row-major
  std::vector<double> y;
  int64_t dropped_missing = 0;
};

// Decodes and encodes one record into `row` and `y`. Sets `missing` if the
// row has to be dropped under `policy`. Every field is validated even after a
// missing one has been seen.
absl::Status EncodeRecord(const DataSourceConfig& config,
                          const std::vector<ColumnPlan>& plans,
                          MissingPolicy policy, int64_t line,
                          const std::vector<std::string>& fields,
                          std::vector<double>& row, double& y, bool& missing) {
  missing = false;
  for (const ColumnPlan& plan : plans) {
    const Variable& variable = *plan.variable;
    const std::string& raw = fields[plan.index];
    auto error = [&](absl::string_view message) {
      return absl::InvalidArgumentError(
          absl::StrCat(config.resolved_path, ":", line, ": column '",
                       plan.column, "': ", plan.is_outcome ? "outcome value " : "",
                       message));
    };
    if (plan.missing.Match(raw) >= 0) {
      if (!plan.is_outcome && variable.type == VariableType::kNumeric &&
          policy == MissingPolicy::kImputeMean) {
        row[plan.offset] = std::numeric_limits<double>::quiet_NaN();
      } else {
        missing = true;
      }
      continue;
    }
    absl::string_view value = raw;
    if (!plan.codes.empty()) {
      const int code = plan.codes.Match(raw);
      if (code < 0) {
        return error(absl::StrCat(QuoteValue(raw),
                                  " is not a known code for variable '",
                                  variable.name, "' (known: ",
                                  ListForMessage(plan.codes.keys()), ")"));
      }
      value = plan.code_targets[code];
    }
    switch (variable.type) {
      case VariableType::kNumeric: {
        const std::optional<double> number = ParseNumber(value);
        if (!number) return error(absl::StrCat(QuoteValue(raw), " is not a number"));
        row[plan.offset] = *number;
        break;
      }
      case VariableType::kBinary: {
        const std::optional<double> number = ParseNumber(value);
        if (!number || (*number != 0.0 && *number != 1.0)) {
          return error(absl::StrCat(
              QuoteValue(raw), " is not 0 or 1",
              plan.is_outcome
                  ? std::string()
                  : absl::StrCat(" (variable '", variable.name,
                                 "' is binary)")));
        }
        if (plan.is_outcome) {
          y = *number;
        } else {
          row[plan.offset] = *number;
        }
        break;
      }
      case VariableType::kCategorical: {
        const int category = plan.categories.Match(value);
        if (category < 0) {
          return error(absl::StrCat(QuoteValue(raw),
                                    " is not a category of variable '",
                                    variable.name, "' (categories: ",
                                    ListForMessage(variable.categories), ")"));
        }
        const int first = variable.drop_first ? 1 : 0;
        for (int c = first; c < static_cast<int>(variable.categories.size());
             ++c) {
          row[plan.offset + c - first] = c == category ? 1.0 : 0.0;
        }
        break;
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<EncodedRows> ReadDataFile(const DataSourceConfig& config,
                                         const StudySchema& schema) {
  ASSIGN_OR_RETURN(std::vector<ColumnPlan> plans, MakePlans(config, schema));
  size_t expected_columns = 0;
  if (!config.header) {
    RETURN_IF_ERROR(ResolveColumns(config, config.columns, 0, plans));
    expected_columns = config.columns.size();
  }
  EncodedRows rows;
  rows.num_features = NumEncodedFeatures(schema);
  bool have_header = !config.header;
  std::vector<double> row(rows.num_features);

  RETURN_IF_ERROR(internal::ReadCsvFile(
      config.resolved_path, config.delimiter,
      [&](int64_t line, const std::vector<std::string>& fields) -> absl::Status {
        if (!have_header) {
          RETURN_IF_ERROR(ResolveColumns(config, fields, line, plans));
          expected_columns = fields.size();
          have_header = true;
          return absl::OkStatus();
        }
        if (fields.size() != expected_columns) {
          return absl::InvalidArgumentError(
              absl::StrCat(config.resolved_path, ":", line, ": expected ",
                           expected_columns, " columns, found ", fields.size()));
        }
        rows.all_lines.push_back(line);
        std::fill(row.begin(), row.end(), 0.0);
        double y = 0.0;
        bool missing = false;
        RETURN_IF_ERROR(EncodeRecord(config, plans, schema.missing, line, fields,
                                     row, y, missing));
        if (missing) {
          ++rows.dropped_missing;
          return absl::OkStatus();
        }
        rows.lines.push_back(line);
        rows.x.insert(rows.x.end(), row.begin(), row.end());
        rows.y.push_back(y);
        return absl::OkStatus();
      }));
  if (rows.all_lines.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.resolved_path, ": file is empty"));
  }
  return rows;
}

enum Fold : int8_t { kUnlisted = -1, kTrain = 0, kTest = 1 };

// Reads the split file and returns the fold of each kept row.
absl::StatusOr<std::vector<Fold>> FoldsFromFile(const DataSourceConfig& config,
                                                const EncodedRows& rows) {
  const std::string& split = config.split.file;
  const std::string data_name =
      std::filesystem::path(config.path).filename().string();
  // Fold and listing line of every data record, by position in all_lines.
  std::vector<Fold> record_fold(rows.all_lines.size(), kUnlisted);
  std::vector<int64_t> listed_on(rows.all_lines.size(), 0);
  int file_column = -1, line_column = -1, fold_column = -1;
  size_t expected_columns = 0;
  int64_t records = 0;
  int64_t listed = 0;
  RETURN_IF_ERROR(internal::ReadCsvFile(
      split, ',',
      [&](int64_t line, const std::vector<std::string>& fields) -> absl::Status {
        if (expected_columns == 0) {
          for (size_t i = 0; i < fields.size(); ++i) {
            if (fields[i] == "file") file_column = static_cast<int>(i);
            if (fields[i] == "line") line_column = static_cast<int>(i);
            if (fields[i] == "fold") fold_column = static_cast<int>(i);
          }
          const std::pair<const char*, int> required[] = {
              {"file", file_column}, {"line", line_column},
              {"fold", fold_column}};
          for (const auto& [name, index] : required) {
            if (index < 0) {
              return absl::InvalidArgumentError(absl::StrCat(
                  split, ":", line, ": the header has no column '", name,
                  "' (expected file, line, fold; found ",
                  ListForMessage(fields), ")"));
            }
          }
          expected_columns = fields.size();
          return absl::OkStatus();
        }
        ++records;
        if (fields.size() != expected_columns) {
          return absl::InvalidArgumentError(
              absl::StrCat(split, ":", line, ": expected ", expected_columns,
                           " columns, found ", fields.size()));
        }
        const std::string& file = fields[file_column];
        if (file != data_name && file != config.path) return absl::OkStatus();
        const std::string& line_text = fields[line_column];
        int64_t data_line = 0;
        if (!absl::SimpleAtoi(line_text, &data_line) || data_line <= 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(split, ":", line, ": column 'line': ",
                           QuoteValue(line_text),
                           " is not a positive line number"));
        }
        const auto it = std::lower_bound(rows.all_lines.begin(),
                                         rows.all_lines.end(), data_line);
        if (it == rows.all_lines.end() || *it != data_line) {
          return absl::InvalidArgumentError(absl::StrCat(
              split, ":", line, ": column 'line': line ", data_line, " of ",
              config.resolved_path, " is not a data record"));
        }
        const size_t record = it - rows.all_lines.begin();
        if (listed_on[record] != 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              split, ":", line, ": column 'line': line ", data_line, " of ",
              config.resolved_path, " is already listed on line ",
              listed_on[record]));
        }
        const std::string& fold = fields[fold_column];
        if (fold == "train") {
          record_fold[record] = kTrain;
        } else if (fold == "test") {
          record_fold[record] = kTest;
        } else {
          return absl::InvalidArgumentError(
              absl::StrCat(split, ":", line, ": column 'fold': ",
                           QuoteValue(fold), " is not train or test"));
        }
        listed_on[record] = line;
        ++listed;
        return absl::OkStatus();
      }));
  if (records == 0) {
    return absl::InvalidArgumentError(absl::StrCat(split, ": file is empty"));
  }
  if (listed == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        split, ": lists no row of ", config.resolved_path,
        " (rows are matched by the 'file' column, which must be ",
        Quote(data_name), " or ", Quote(config.path), ")"));
  }
  std::vector<Fold> folds;
  folds.reserve(rows.lines.size());
  size_t record = 0;
  for (int64_t kept_line : rows.lines) {
    while (rows.all_lines[record] != kept_line) ++record;
    folds.push_back(record_fold[record]);
  }
  return folds;
}

// Uniform in [0, n) from a 64-bit engine, by rejection; unlike
// std::uniform_int_distribution its output is the same on every standard
// library, so a seeded split is reproducible across sites' toolchains.
uint64_t UniformBelow(std::mt19937_64& engine, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
  while (true) {
    const uint64_t r = engine();
    if (r >= threshold) return r % n;
  }
}

// Seeded split stratified by outcome: in each class (0 first, then 1), a
// Fisher-Yates shuffle of the class's rows in file order puts the first
// round(test_fraction * class size) of them into the test set.
std::vector<Fold> FoldsFromFraction(const SplitConfig& split,
                                    const EncodedRows& rows) {
  std::vector<Fold> folds(rows.lines.size(), kTrain);
  std::mt19937_64 engine(split.seed);
  for (double label : {0.0, 1.0}) {
    std::vector<size_t> members;
    for (size_t i = 0; i < rows.y.size(); ++i) {
      if (rows.y[i] == label) members.push_back(i);
    }
    for (size_t i = members.size(); i > 1; --i) {
      std::swap(members[i - 1], members[UniformBelow(engine, i)]);
    }
    const size_t num_test = std::min<size_t>(
        members.size(),
        static_cast<size_t>(std::llround(split.test_fraction *
                                         static_cast<double>(members.size()))));
    for (size_t i = 0; i < num_test; ++i) folds[members[i]] = kTest;
  }
  return folds;
}

}  // namespace

absl::StatusOr<LocalDataset> LoadLocalDataset(const DataSourceConfig& config,
                                              const StudySchema& schema) {
  ASSIGN_OR_RETURN(EncodedRows rows, ReadDataFile(config, schema));
  std::vector<Fold> folds;
  switch (config.split.kind) {
    case SplitConfig::Kind::kNone:
      folds.assign(rows.lines.size(), kTrain);
      break;
    case SplitConfig::Kind::kFile: {
      ASSIGN_OR_RETURN(folds, FoldsFromFile(config, rows));
      break;
    }
    case SplitConfig::Kind::kFraction:
      folds = FoldsFromFraction(config.split, rows);
      break;
  }

  LocalDataset dataset;
  dataset.feature_names = EncodedFeatureNames(schema);
  dataset.rows_read = static_cast<int64_t>(rows.all_lines.size());
  dataset.rows_dropped_missing = rows.dropped_missing;
  const int64_t num_train = std::count(folds.begin(), folds.end(), kTrain);
  const int64_t num_test = std::count(folds.begin(), folds.end(), kTest);
  dataset.rows_unlisted = std::count(folds.begin(), folds.end(), kUnlisted);
  const int d = rows.num_features;
  dataset.x_train.resize(num_train, d);
  dataset.x_test.resize(num_test, d);
  dataset.y_train.resize(num_train);
  dataset.y_test.resize(num_test);
  int64_t train = 0, test = 0;
  for (size_t i = 0; i < folds.size(); ++i) {
    if (folds[i] == kUnlisted) continue;
    Eigen::MatrixXd& x = folds[i] == kTrain ? dataset.x_train : dataset.x_test;
    Eigen::VectorXd& y = folds[i] == kTrain ? dataset.y_train : dataset.y_test;
    int64_t& r = folds[i] == kTrain ? train : test;
    for (int j = 0; j < d; ++j) x(r, j) = rows.x[i * d + j];
    y(r) = rows.y[i];
    (folds[i] == kTrain ? dataset.train_lines : dataset.test_lines)
        .push_back(rows.lines[i]);
    ++r;
  }
  return dataset;
}

}  // namespace cohort::data
