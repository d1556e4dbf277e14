// Helpers shared by the study-plan and site-config parsers for reading
// untrusted YAML into Status-returning code.
//
// Every error is an InvalidArgument of the form
//   WHERE: FIELD: MESSAGE (line L, column C)
// where WHERE names the document (usually its file path), FIELD is the dotted
// path of the offending node ("variables[2].type") and the line/column suffix
// is present when yaml-cpp knows where the node came from. None of these
// helpers throws: yaml-cpp accessors that could throw are not used on nodes of
// the wrong kind, and callers wrap their parse in one try/catch as a backstop.
//
// Stateless free functions; thread-safe.
#ifndef COHORT_COMMON_DATA_YAML_FIELDS_H_
#define COHORT_COMMON_DATA_YAML_FIELDS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "yaml-cpp/yaml.h"

namespace cohort::data::internal {

// Joins a parent field path and a child key: ("data", "path") -> "data.path",
// ("", "variables") -> "variables".
std::string FieldPath(absl::string_view parent, absl::string_view child);
// ("variables", 2) -> "variables[2]".
std::string IndexPath(absl::string_view parent, size_t index);

// InvalidArgument "WHERE: FIELD: MESSAGE (line L, column C)".
absl::Status FieldError(absl::string_view where, absl::string_view field,
                        const YAML::Node& node, absl::string_view message);

// Fails (InvalidArgument) unless `node` is a map; then fails if it has a key
// outside `allowed`, naming the key and listing the allowed ones.
absl::Status CheckMapKeys(const YAML::Node& node, absl::string_view where,
                          absl::string_view field,
                          const std::vector<std::string>& allowed);

// The scalar text of `node`; InvalidArgument if it is not a scalar.
absl::StatusOr<std::string> ScalarString(const YAML::Node& node,
                                         absl::string_view where,
                                         absl::string_view field);

// A YAML boolean (true/false/yes/no/on/off); InvalidArgument otherwise.
absl::StatusOr<bool> ScalarBool(const YAML::Node& node, absl::string_view where,
                                absl::string_view field);

// A sequence of scalars; InvalidArgument if `node` is not a sequence or an
// element is not a scalar (naming FIELD[i]).
absl::StatusOr<std::vector<std::string>> ScalarList(const YAML::Node& node,
                                                    absl::string_view where,
                                                    absl::string_view field);

// Quotes `text` for an error message, escaping quotes, backslashes and
// control characters so that untrusted input cannot forge message structure.
std::string Quote(absl::string_view text);

}  // namespace cohort::data::internal

#endif  // COHORT_COMMON_DATA_YAML_FIELDS_H_
