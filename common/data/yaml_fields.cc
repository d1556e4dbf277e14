#include "common/data/yaml_fields.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cohort::data::internal {

std::string FieldPath(absl::string_view parent, absl::string_view child) {
  if (parent.empty()) return std::string(child);
  return absl::StrCat(parent, ".", child);
}

std::string IndexPath(absl::string_view parent, size_t index) {
  return absl::StrCat(parent, "[", index, "]");
}

absl::Status FieldError(absl::string_view where, absl::string_view field,
                        const YAML::Node& node, absl::string_view message) {
  std::string text;
  if (!where.empty()) absl::StrAppend(&text, where, ": ");
  if (!field.empty()) absl::StrAppend(&text, field, ": ");
  absl::StrAppend(&text, message);
  if (node.IsDefined()) {
    const YAML::Mark mark = node.Mark();
    if (!mark.is_null()) {
      absl::StrAppend(&text, " (line ", mark.line + 1, ", column ",
                      mark.column + 1, ")");
    }
  }
  return absl::InvalidArgumentError(text);
}

absl::Status CheckMapKeys(const YAML::Node& node, absl::string_view where,
                          absl::string_view field,
                          const std::vector<std::string>& allowed) {
  if (!node.IsMap()) return FieldError(where, field, node, "must be a map");
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      return FieldError(where, field, entry.first, "keys must be scalars");
    }
    const std::string& key = entry.first.Scalar();
    bool known = false;
    for (const std::string& name : allowed) known = known || name == key;
    if (!known) {
      return FieldError(where, field, entry.first,
                        absl::StrCat("unknown key ", Quote(key), " (allowed: ",
                                     absl::StrJoin(allowed, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ScalarString(const YAML::Node& node,
                                         absl::string_view where,
                                         absl::string_view field) {
  if (!node.IsScalar()) return FieldError(where, field, node, "must be a scalar");
  return node.Scalar();
}

absl::StatusOr<bool> ScalarBool(const YAML::Node& node, absl::string_view where,
                                absl::string_view field) {
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    return FieldError(
        where, field, node,
        absl::StrCat(node.IsScalar() ? Quote(node.Scalar()) : "value",
                     " is not a boolean (true or false)"));
  }
  return value;
}

absl::StatusOr<std::vector<std::string>> ScalarList(const YAML::Node& node,
                                                    absl::string_view where,
                                                    absl::string_view field) {
  if (!node.IsSequence()) {
    return FieldError(where, field, node, "must be a list");
  }
  std::vector<std::string> values;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node element = node[i];
    if (!element.IsScalar()) {
      return FieldError(where, IndexPath(field, i), element, "must be a scalar");
    }
    values.push_back(element.Scalar());
  }
  return values;
}

std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::Utf8SafeCHexEscape(text), "\"");
}

}  // namespace cohort::data::internal
