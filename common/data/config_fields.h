// The few things common/data needs on top of util::ConfigNode to parse the
// `data:` section of a site config and the schema part of a study plan with
// exactly the rules those formats have always had. Errors come from
// ConfigNode::Error, so they read "FILE:LINE: field 'PATH': MESSAGE" like
// every other config error.
//
// Stateless inline functions; thread-safe.
#ifndef COHORT_COMMON_DATA_CONFIG_FIELDS_H_
#define COHORT_COMMON_DATA_CONFIG_FIELDS_H_

#include <initializer_list>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/util/config_node.h"
#include "yaml-cpp/yaml.h"

namespace cohort::data::internal {

// Quotes `text` for an error message, escaping quotes, backslashes and
// control characters so that untrusted input cannot forge message structure.
inline std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::Utf8SafeCHexEscape(text), "\"");
}

// The dotted path of `key` under `node` ("data" + "path" -> "data.path").
inline std::string ChildPath(const util::ConfigNode& node,
                             absl::string_view key) {
  if (node.path().empty()) return std::string(key);
  return absl::StrCat(node.path(), ".", key);
}

// A node that is in `node`'s file but not reached through a plain key (a map
// key itself, or a code entry), named by `path`.
inline util::ConfigNode At(const util::ConfigNode& node, YAML::Node yaml,
                           std::string path) {
  return util::ConfigNode(std::move(yaml), node.file(), std::move(path));
}

// The child at `key` if the key is present at all. Unlike ConfigNode::Has, an
// explicit null (`key: ~`) counts as present, so that it is rejected by the
// value check instead of silently meaning "use the default".
inline std::optional<util::ConfigNode> OptionalChild(
    const util::ConfigNode& node, absl::string_view key) {
  if (!node.IsMap()) return std::nullopt;
  YAML::Node child = node.yaml()[std::string(key)];
  if (!child.IsDefined()) return std::nullopt;
  return At(node, child, ChildPath(node, key));
}

// ConfigNode::CheckKeys, after rejecting keys that are not scalars (which
// ConfigNode would not report as a Status).
inline absl::Status CheckKeys(const util::ConfigNode& node,
                              std::initializer_list<absl::string_view> allowed) {
  if (!node.IsMap()) return node.Error("expected a mapping");
  for (const auto& entry : node.yaml()) {
    if (!entry.first.IsScalar()) {
      return At(node, entry.first, node.path()).Error("keys must be scalars");
    }
  }
  return node.CheckKeys(allowed);
}

// A YAML 1.1 boolean in any of the spellings yaml-cpp accepts (true/false,
// yes/no, on/off, y/n, capitalized or upper case).
inline absl::StatusOr<bool> AsBool(const util::ConfigNode& node) {
  bool value = false;
  if (!node.yaml().IsScalar()) return node.Error("expected true or false");
  if (!YAML::convert<bool>::decode(node.yaml(), value)) {
    return node.Error(
        absl::StrCat(Quote(node.yaml().Scalar()), " is not true or false"));
  }
  return value;
}

}  // namespace cohort::data::internal

#endif  // COHORT_COMMON_DATA_CONFIG_FIELDS_H_
