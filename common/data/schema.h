// The study side of the data model: which variables a federated study uses,
// how each is encoded into model features, and the preprocessing every site
// applies. A StudySchema is parsed once from the consortium's study plan and
// is then shared, read-only, by every site; the site-specific mapping onto a
// hospital's own extract lives in data_source.h.
//
// Plain value types and free functions; thread-compatible.
#ifndef COHORT_COMMON_DATA_SCHEMA_H_
#define COHORT_COMMON_DATA_SCHEMA_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/util/config_node.h"
#include "yaml-cpp/yaml.h"

namespace cohort::data {

enum class VariableType { kNumeric, kBinary, kCategorical };

// "numeric", "binary" or "categorical".
absl::string_view VariableTypeName(VariableType type);

// One study variable. A numeric or binary variable becomes one feature; a
// categorical one is one-hot encoded over `categories` in order, without the
// first category when `drop_first` (the usual reference-level coding).
struct Variable {
  std::string name;
  VariableType type = VariableType::kNumeric;
  std::vector<std::string> categories;  // categorical only
  bool drop_first = false;              // categorical only
  // Numeric only, optional: the declared range of the variable's values,
  // `range: [lo, hi]`. Differentially private statistics clip values to it
  // (a study with privacy on requires it for every numeric variable).
  bool has_range = false;
  double range_lo = 0.0;
  double range_hi = 0.0;
};

// What a site does with a row that has a missing value.
enum class MissingPolicy {
  kDropRow,     // drop the row
  kImputeMean,  // numeric features: impute the global training mean;
                // binary/categorical features and the outcome: drop the row
};

struct StudySchema {
  std::vector<Variable> features;
  Variable outcome;  // always binary
  MissingPolicy missing = MissingPolicy::kDropRow;
  bool standardize = true;
};

// Names of the encoded feature columns in order: a numeric or binary variable
// keeps its name, a categorical one gives "name=category" per kept category
// (e.g. "cp=atypical_angina").
std::vector<std::string> EncodedFeatureNames(const StudySchema& schema);
int NumEncodedFeatures(const StudySchema& schema);
// The declared range of each encoded feature column, in order: a numeric
// variable's `range` (or [0, 0] when it has none), [0, 1] for binary and
// one-hot columns.
struct ColumnRange {
  double lo = 0.0;
  double hi = 0.0;
};
std::vector<ColumnRange> EncodedFeatureRanges(const StudySchema& schema);
// Encoded width of one variable: 1, or the number of kept categories.
int NumEncodedColumns(const Variable& variable);

// Parses the study section of a study plan. `node` is the plan's root map;
// only its `variables`, `outcome` and `preprocessing` keys are read (other
// sections belong to other components):
//
//   variables:
//     - {name: age, type: numeric, range: [18, 100]}   # range optional
//     - {name: sex, type: binary}
//     - {name: cp, type: categorical,
//        categories: [typical_angina, atypical_angina, non_anginal,
//                     asymptomatic],
//        drop_first: true}
//   outcome: {name: disease, type: binary}
//   preprocessing: {missing: drop_row, standardize: true}   # optional
//
// Errors are util::ConfigNode errors, naming the file, the line and the
// field path, e.g.
//   plan.yaml:4: field 'variables[2].type': "numbr" is not one of numeric,
//   binary, categorical
// Returns InvalidArgument for a missing or malformed field, an unknown key in
// a variable, the outcome or preprocessing, an empty or duplicate name
// (features and outcome share one namespace), a categorical variable with
// fewer than two distinct categories, categories/drop_first on a
// non-categorical variable, or a non-binary outcome.
absl::StatusOr<StudySchema> ParseStudySchema(const util::ConfigNode& plan_root);

// As above, for a bare YAML document; `where` (usually the plan's path) names
// the file in errors.
absl::StatusOr<StudySchema> ParseStudySchema(const YAML::Node& node,
                                             absl::string_view where);

}  // namespace cohort::data

#endif  // COHORT_COMMON_DATA_SCHEMA_H_
