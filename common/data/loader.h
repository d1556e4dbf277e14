// Loads one site's extract into the study's encoded feature space: reads the
// data file named by a DataSourceConfig, maps and decodes each study
// variable, applies the missing-value policy and the train/test split, and
// one-hot encodes categorical variables (schema.h). The result is raw
// (unstandardized); federated standardization is in preprocess.h.
//
// Free function over value types; thread-safe (no shared state).
#ifndef COHORT_COMMON_DATA_LOADER_H_
#define COHORT_COMMON_DATA_LOADER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "absl/status/statusor.h"
#include "common/data/data_source.h"
#include "common/data/schema.h"

namespace cohort::data {

// One site's data, encoded. Rows are in file order within each fold.
struct LocalDataset {
  // Encoded features (columns as in feature_names), unstandardized. Under
  // MissingPolicy::kImputeMean a missing numeric value is NaN.
  Eigen::MatrixXd x_train, x_test;
  Eigen::VectorXd y_train, y_test;  // 0 or 1
  std::vector<std::string> feature_names;  // EncodedFeatureNames(schema)
  // Physical line in the data file of each row of x_train / x_test.
  std::vector<int64_t> train_lines, test_lines;
  // rows_read == rows_dropped_missing + rows_unlisted + train + test rows.
  int64_t rows_read = 0;             // data records in the file
  int64_t rows_dropped_missing = 0;  // dropped for a missing value
  int64_t rows_unlisted = 0;  // kept, but not listed in the split file
};

// Loads the data file of `config` for `schema`.
//
// The whole file is validated before any row is dropped or split, so a bad
// value is reported even in a row that would be dropped. Errors:
//   NotFound          the data or split file does not exist.
//   FailedPrecondition  it cannot be read.
//   InvalidArgument   bad content, as "FILE:LINE: column 'NAME': ..." (FILE
//                     the resolved path, LINE 1-based, NAME the local column):
//     FILE:17: expected 14 columns, found 13
//     FILE:17: column 'chol': "abc" is not a number
//     FILE:17: column 'cp': "9" is not a known code for variable 'cp'
//              (known: 1, 2, 3, 4)
//     FILE:17: column 'num': outcome value "7" is not 0 or 1
//     FILE: file is empty                   (no data record)
//   and for the split file the same forms with its own path and lines
//   (a fold other than train/test, a line that is not a data record of this
//   file, a line listed twice, no row of this file listed at all).
//   InvalidArgument naming the site config (config.where) for a mapping that
//   does not fit the schema: a mapped column missing from the header or
//   `columns`, a mapping for a variable the study does not have, or a code
//   whose study value is not valid for the variable.
//
// Value rules: values are matched against missing markers, codes and
// category names by exact string first, then by numeric equality when both
// sides parse as numbers ("1.0" matches code "1", "0.0" matches marker "0").
// A value matching one of the file's `missing` markers or the variable's own
// markers is missing (checked before codes). A categorical variable without
// codes matches the raw value against its category names. A numeric value must parse
// fully as a finite number; a binary one must equal 0 or 1.
absl::StatusOr<LocalDataset> LoadLocalDataset(const DataSourceConfig& config,
                                              const StudySchema& schema);

}  // namespace cohort::data

#endif  // COHORT_COMMON_DATA_LOADER_H_
