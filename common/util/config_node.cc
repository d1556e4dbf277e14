#include "common/util/config_node.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cohort::util {

std::string ResolvePath(const std::string& base, const std::string& path) {
  std::filesystem::path p(path);
  return p.is_absolute() ? p.string() : (std::filesystem::path(base) / p).lexically_normal().string();
}

bool IsHostPort(absl::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  const absl::string_view port = address.substr(colon + 1);
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  int value = 0;
  return absl::SimpleAtoi(port, &value) && value <= 65535;
}

absl::StatusOr<ConfigNode> ConfigNode::Parse(absl::string_view text,
                                             absl::string_view file) {
  try {
    YAML::Node node = YAML::Load(std::string(text));
    if (!node.IsMap()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": expected a YAML mapping at the top level"));
    }
    return ConfigNode(node, std::string(file), "");
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
}

absl::StatusOr<ConfigNode> ConfigNode::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return Parse(buffer.str(), path);
}

std::string ConfigNode::ChildPath(absl::string_view key) const {
  return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
}

absl::Status ConfigNode::Error(absl::string_view message) const {
  std::string where = file_;
  if (node_.IsDefined() && node_.Mark().line >= 0) {
    absl::StrAppend(&where, ":", node_.Mark().line + 1);
  }
  if (path_.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", message));
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": field '", path_, "': ", message));
}

bool ConfigNode::Has(absl::string_view key) const {
  if (!node_.IsMap()) return false;
  YAML::Node child = node_[std::string(key)];
  return child.IsDefined() && !child.IsNull();
}

absl::StatusOr<ConfigNode> ConfigNode::Child(absl::string_view key) const {
  if (!node_.IsMap()) return Error("expected a mapping");
  YAML::Node child = node_[std::string(key)];
  if (!child.IsDefined() || child.IsNull()) {
    std::string where = file_;
    if (node_.Mark().line >= 0) absl::StrAppend(&where, ":", node_.Mark().line + 1);
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": field '", ChildPath(key), "' is required"));
  }
  return ConfigNode(child, file_, ChildPath(key));
}

absl::StatusOr<std::vector<ConfigNode>> ConfigNode::Elements() const {
  if (!node_.IsSequence()) return Error("expected a list");
  std::vector<ConfigNode> out;
  for (size_t i = 0; i < node_.size(); ++i) {
    out.emplace_back(node_[i], file_, absl::StrCat(path_, "[", i, "]"));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ConfigNode::Keys() const {
  if (!node_.IsMap()) return Error("expected a mapping");
  std::vector<std::string> keys;
  for (const auto& kv : node_) keys.push_back(kv.first.as<std::string>());
  return keys;
}

absl::StatusOr<std::string> ConfigNode::AsString() const {
  if (!node_.IsScalar()) return Error("expected a single value");
  return node_.Scalar();
}

absl::StatusOr<double> ConfigNode::AsDouble() const {
  if (!node_.IsScalar()) return Error("expected a number");
  double value;
  if (!absl::SimpleAtod(node_.Scalar(), &value) || !std::isfinite(value)) {
    return Error(absl::StrCat("\"", node_.Scalar(), "\" is not a number"));
  }
  return value;
}

absl::StatusOr<int64_t> ConfigNode::AsInt() const {
  if (!node_.IsScalar()) return Error("expected an integer");
  int64_t value;
  if (!absl::SimpleAtoi(node_.Scalar(), &value)) {
    return Error(absl::StrCat("\"", node_.Scalar(), "\" is not an integer"));
  }
  return value;
}

absl::StatusOr<bool> ConfigNode::AsBool() const {
  if (!node_.IsScalar()) return Error("expected true or false");
  const std::string& s = node_.Scalar();
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  return Error(absl::StrCat("\"", s, "\" is not true or false"));
}

absl::StatusOr<std::vector<std::string>> ConfigNode::AsStringList() const {
  if (!node_.IsSequence()) return Error("expected a list");
  std::vector<std::string> out;
  for (size_t i = 0; i < node_.size(); ++i) {
    if (!node_[i].IsScalar()) {
      return ConfigNode(node_[i], file_, absl::StrCat(path_, "[", i, "]"))
          .Error("expected a single value");
    }
    out.push_back(node_[i].Scalar());
  }
  return out;
}

absl::StatusOr<std::string> ConfigNode::GetString(absl::string_view key) const {
  auto child = Child(key);
  if (!child.ok()) return child.status();
  return child->AsString();
}
absl::StatusOr<std::string> ConfigNode::GetString(absl::string_view key,
                                                  absl::string_view fallback) const {
  if (!Has(key)) return std::string(fallback);
  return GetString(key);
}
absl::StatusOr<double> ConfigNode::GetDouble(absl::string_view key) const {
  auto child = Child(key);
  if (!child.ok()) return child.status();
  return child->AsDouble();
}
absl::StatusOr<double> ConfigNode::GetDouble(absl::string_view key,
                                             double fallback) const {
  if (!Has(key)) return fallback;
  return GetDouble(key);
}
absl::StatusOr<int64_t> ConfigNode::GetInt(absl::string_view key) const {
  auto child = Child(key);
  if (!child.ok()) return child.status();
  return child->AsInt();
}
absl::StatusOr<int64_t> ConfigNode::GetInt(absl::string_view key,
                                           int64_t fallback) const {
  if (!Has(key)) return fallback;
  return GetInt(key);
}
absl::StatusOr<bool> ConfigNode::GetBool(absl::string_view key, bool fallback) const {
  if (!Has(key)) return fallback;
  auto child = Child(key);
  if (!child.ok()) return child.status();
  return child->AsBool();
}

absl::Status ConfigNode::CheckKeys(
    std::initializer_list<absl::string_view> allowed) const {
  if (!node_.IsMap()) return Error("expected a mapping");
  for (const auto& kv : node_) {
    const std::string key = kv.first.as<std::string>();
    bool known = false;
    for (absl::string_view a : allowed) known = known || a == key;
    if (!known) {
      ConfigNode child(kv.second, file_, ChildPath(key));
      return child.Error(absl::StrCat("unknown field (allowed here: ",
                                      absl::StrJoin(allowed, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace cohort::util
