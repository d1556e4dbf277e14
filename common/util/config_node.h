// Typed, path-aware access to a YAML document (plans and configs).
//
// Every error names the file, the line and the dotted field path, e.g.
//   plan.yaml:12: field 'training.learning_rate': "fast" is not a number
// yaml-cpp throws; this wrapper catches at the boundary and returns Status.
//
// A ConfigNode is a cheap value (it shares yaml-cpp's node); not thread-safe.
#ifndef COHORT_COMMON_UTIL_CONFIG_NODE_H_
#define COHORT_COMMON_UTIL_CONFIG_NODE_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "yaml-cpp/yaml.h"

namespace cohort::util {

// `path` if absolute, else `path` under `base` (the config file's folder).
std::string ResolvePath(const std::string& base, const std::string& path);

// True for "host:port" with a non-empty host and a port in 0..65535
// ("[::1]:7443" included).
bool IsHostPort(absl::string_view address);

class ConfigNode {
 public:
  // Parses YAML text; `file` is used in error messages only.
  // InvalidArgument on a YAML syntax error (with line and column).
  static absl::StatusOr<ConfigNode> Parse(absl::string_view text,
                                          absl::string_view file);
  // Reads and parses a file. NotFound / InvalidArgument naming the path.
  static absl::StatusOr<ConfigNode> LoadFile(const std::string& path);

  ConfigNode(YAML::Node node, std::string file, std::string path)
      : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)) {}

  const YAML::Node& yaml() const { return node_; }
  const std::string& file() const { return file_; }
  // Dotted path of this node ("" for the root).
  const std::string& path() const { return path_; }
  bool Has(absl::string_view key) const;
  bool IsMap() const { return node_.IsMap(); }
  bool IsSequence() const { return node_.IsSequence(); }

  // Child by key; InvalidArgument if missing.
  absl::StatusOr<ConfigNode> Child(absl::string_view key) const;
  // Elements of a sequence; InvalidArgument if this node is not a sequence.
  absl::StatusOr<std::vector<ConfigNode>> Elements() const;
  // Keys of a map, in file order.
  absl::StatusOr<std::vector<std::string>> Keys() const;

  absl::StatusOr<std::string> AsString() const;
  absl::StatusOr<double> AsDouble() const;
  absl::StatusOr<int64_t> AsInt() const;
  absl::StatusOr<bool> AsBool() const;
  absl::StatusOr<std::vector<std::string>> AsStringList() const;

  absl::StatusOr<std::string> GetString(absl::string_view key) const;
  absl::StatusOr<std::string> GetString(absl::string_view key,
                                        absl::string_view fallback) const;
  absl::StatusOr<double> GetDouble(absl::string_view key) const;
  absl::StatusOr<double> GetDouble(absl::string_view key, double fallback) const;
  absl::StatusOr<int64_t> GetInt(absl::string_view key) const;
  absl::StatusOr<int64_t> GetInt(absl::string_view key, int64_t fallback) const;
  absl::StatusOr<bool> GetBool(absl::string_view key, bool fallback) const;

  // InvalidArgument naming the first key of this map not in `allowed`
  // (catches typos such as `learning_rte`).
  absl::Status CheckKeys(std::initializer_list<absl::string_view> allowed) const;

  // An InvalidArgument error about this node: "FILE:LINE: field 'PATH': msg".
  absl::Status Error(absl::string_view message) const;

 private:
  std::string ChildPath(absl::string_view key) const;
  YAML::Node node_;
  std::string file_;
  std::string path_;
};

}  // namespace cohort::util

#endif  // COHORT_COMMON_UTIL_CONFIG_NODE_H_
