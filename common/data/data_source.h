// The site side of the data model: where a hospital's extract lives, how to
// read it, and how its local columns and value codes map onto the study's
// variables (schema.h). Parsed from the `data:` section of a site config;
// nothing here reads the data file itself (see loader.h).
//
//   data:
//     path: data/processed.cleveland.data   # relative to the base dir
//     header: false            # true: column names come from the first line
//     columns: [age, sex, cp, ...]          # required iff header is false
//     delimiter: ","           # one character, default ","
//     missing: ["?", ""]       # missing markers, default ["", "NA", "?"]
//     variables:               # study variable -> local column (+ codes)
//       cp: {column: cp, codes: {"1": typical_angina, "4": asymptomatic}}
//       disease: {column: num, codes: {"0": 0, "1": 1, "2": 1}}
//       chol: {column: chol, missing: ["0"]}   # extra markers for this column
//     split:                   # optional; absent: every row is training data
//       file: data/flamby_split.csv   # columns file,line,fold
//       # or: {test_fraction: 0.34, seed: 43}
//
// A study variable not listed under `variables` reads the column of the same
// name, without codes.
//
// Plain value types; thread-compatible.
#ifndef COHORT_COMMON_DATA_DATA_SOURCE_H_
#define COHORT_COMMON_DATA_DATA_SOURCE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/util/config_node.h"
#include "yaml-cpp/yaml.h"

namespace cohort::data {

// How one study variable is read from the local extract.
struct VariableMapping {
  std::string column;  // local column name
  // Raw local value -> study value, in the order written. For a categorical
  // variable the study value is a category name, for a binary one 0 or 1,
  // for a numeric one a number. Empty: the raw value is used as is.
  std::vector<std::pair<std::string, std::string>> codes;
  // Markers meaning "missing" for this column, on top of the file's markers.
  std::vector<std::string> missing;
  // 1-based config lines (0: unknown) of this mapping, of its column and of
  // each code (parallel to `codes`), for the loader's config errors.
  int line = 0;
  int column_line = 0;
  std::vector<int> code_lines;
};

// How the rows of the extract are split into training and test data.
struct SplitConfig {
  enum class Kind {
    kNone,      // every row is training data
    kFile,      // a split file lists each row's fold
    kFraction,  // seeded random split, stratified by outcome
  };
  Kind kind = Kind::kNone;
  // kFile: resolved path of a CSV with header `file,line,fold`. A row belongs
  // to this data file if `file` equals the data file's name (its last path
  // component) or its configured path; `line` is the 1-based physical line in
  // the data file; `fold` is `train` or `test`.
  std::string file;
  // kFraction: share of each outcome class that goes to the test set, in
  // (0, 1), and the seed that makes the split reproducible.
  double test_fraction = 0.0;
  uint64_t seed = 0;
};

struct DataSourceConfig {
  std::string where;        // the config's name, used in config errors
  int variables_line = 0;   // config line of data.variables (else of data)
  std::string path;         // as written in the config
  std::string resolved_path;  // path joined to the base dir; used to open
                              // the file and in data errors
  bool header = false;
  std::vector<std::string> columns;  // when header is false
  char delimiter = ',';
  std::vector<std::string> missing = {"", "NA", "?"};
  std::map<std::string, VariableMapping> variables;  // by study variable name
  SplitConfig split;
};

// Parses the `data:` node of a site config. Relative paths (data and split
// file) are resolved against `base_dir` (usually the config's directory; ""
// means the working directory). Errors are util::ConfigNode errors, naming the
// file, the line and the field path, e.g.
//   sites/cleveland.yaml:9: field 'data.split.test_fraction': "1.5" is not a
//   number in (0, 1)
// Returns InvalidArgument for a missing or malformed field or an unknown key.
// Does not touch the file system: a missing data file is reported by the
// loader.
absl::StatusOr<DataSourceConfig> ParseDataSource(const util::ConfigNode& data,
                                                 const std::string& base_dir);

// As above, for a bare YAML node; `where` names the config file in errors and
// the node is taken to be at field path `data`.
absl::StatusOr<DataSourceConfig> ParseDataSource(const YAML::Node& data_node,
                                                 const std::string& base_dir,
                                                 absl::string_view where);

}  // namespace cohort::data

#endif  // COHORT_COMMON_DATA_DATA_SOURCE_H_
