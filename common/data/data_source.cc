#include "common/data/data_source.h"

#include <cmath>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/data/config_fields.h"
#include "common/util/status_macros.h"

namespace cohort::data {
namespace {

using internal::AsBool;
using internal::At;
using internal::CheckKeys;
using internal::OptionalChild;
using internal::Quote;
using util::ConfigNode;

// util::ResolvePath, with absolute paths normalized too.
std::string ResolvePath(const std::string& base_dir, const std::string& path) {
  return std::filesystem::path(util::ResolvePath(base_dir, path))
      .lexically_normal()
      .string();
}

// 1-based line of `node` in its file; 0 if unknown.
int LineOf(const YAML::Node& node) {
  if (!node.IsDefined() || node.Mark().is_null()) return 0;
  return node.Mark().line + 1;
}

absl::StatusOr<std::string> NonEmptyString(const ConfigNode& node) {
  ASSIGN_OR_RETURN(std::string text, node.AsString());
  if (text.empty()) return node.Error("must not be empty");
  return text;
}

absl::StatusOr<VariableMapping> ParseMapping(const std::string& variable,
                                             const ConfigNode& node) {
  RETURN_IF_ERROR(CheckKeys(node, {"column", "codes", "missing"}));
  VariableMapping mapping;
  mapping.column = variable;
  mapping.line = LineOf(node.yaml());
  mapping.column_line = mapping.line;
  if (const std::optional<ConfigNode> column = OptionalChild(node, "column")) {
    ASSIGN_OR_RETURN(mapping.column, NonEmptyString(*column));
    mapping.column_line = LineOf(column->yaml());
  }
  if (const std::optional<ConfigNode> codes = OptionalChild(node, "codes")) {
    if (!codes->IsMap() || codes->yaml().size() == 0) {
      return codes->Error(
          "must be a non-empty map from local value to study value");
    }
    std::set<std::string> seen;
    for (const auto& entry : codes->yaml()) {
      if (!entry.first.IsScalar()) {
        return At(*codes, entry.first, codes->path())
            .Error("keys must be scalars");
      }
      const std::string& key = entry.first.Scalar();
      const std::string entry_path =
          absl::StrCat(codes->path(), "[", Quote(key), "]");
      ASSIGN_OR_RETURN(std::string value,
                       At(*codes, entry.second, entry_path).AsString());
      if (!seen.insert(key).second) {
        return At(*codes, entry.first, entry_path).Error("duplicate code");
      }
      mapping.codes.emplace_back(key, std::move(value));
      mapping.code_lines.push_back(LineOf(entry.first));
    }
  }
  if (const std::optional<ConfigNode> missing = OptionalChild(node, "missing")) {
    ASSIGN_OR_RETURN(mapping.missing, missing->AsStringList());
  }
  return mapping;
}

absl::StatusOr<SplitConfig> ParseSplit(const ConfigNode& node,
                                       const std::string& base_dir) {
  RETURN_IF_ERROR(CheckKeys(node, {"file", "test_fraction", "seed"}));
  SplitConfig split;
  const std::optional<ConfigNode> file = OptionalChild(node, "file");
  const std::optional<ConfigNode> fraction =
      OptionalChild(node, "test_fraction");
  const std::optional<ConfigNode> seed = OptionalChild(node, "seed");
  if (file) {
    if (fraction || seed) {
      return node.Error(
          "give either file or test_fraction and seed, not both");
    }
    split.kind = SplitConfig::Kind::kFile;
    ASSIGN_OR_RETURN(std::string path, NonEmptyString(*file));
    split.file = ResolvePath(base_dir, path);
    return split;
  }
  if (!fraction || !seed) {
    return node.Error("needs either file, or test_fraction and seed");
  }
  split.kind = SplitConfig::Kind::kFraction;
  ASSIGN_OR_RETURN(std::string fraction_text, fraction->AsString());
  if (!absl::SimpleAtod(fraction_text, &split.test_fraction) ||
      !(split.test_fraction > 0.0 && split.test_fraction < 1.0)) {
    return fraction->Error(
        absl::StrCat(Quote(fraction_text), " is not a number in (0, 1)"));
  }
  ASSIGN_OR_RETURN(std::string seed_text, seed->AsString());
  if (!absl::SimpleAtoi(seed_text, &split.seed)) {
    return seed->Error(
        absl::StrCat(Quote(seed_text), " is not a non-negative integer"));
  }
  return split;
}

absl::StatusOr<DataSourceConfig> ParseDataSourceOrThrow(
    const ConfigNode& node, const std::string& base_dir) {
  RETURN_IF_ERROR(CheckKeys(node, {"path", "header", "columns", "delimiter",
                                   "missing", "variables", "split"}));
  DataSourceConfig config;
  config.where = node.file();
  config.variables_line = LineOf(node.yaml());

  ASSIGN_OR_RETURN(ConfigNode path, node.Child("path"));
  ASSIGN_OR_RETURN(config.path, NonEmptyString(path));
  config.resolved_path = ResolvePath(base_dir, config.path);

  if (const std::optional<ConfigNode> header = OptionalChild(node, "header")) {
    ASSIGN_OR_RETURN(config.header, AsBool(*header));
  }
  const std::optional<ConfigNode> columns = OptionalChild(node, "columns");
  if (config.header && columns) {
    return columns->Error(
        "must not be given when header is true (the column names come from "
        "the first line)");
  }
  if (!config.header) {
    if (!columns) {
      return At(node, node.yaml(), internal::ChildPath(node, "columns"))
          .Error("is required when header is false");
    }
    ASSIGN_OR_RETURN(config.columns, columns->AsStringList());
    if (config.columns.empty()) return columns->Error("must not be empty");
    ASSIGN_OR_RETURN(std::vector<ConfigNode> elements, columns->Elements());
    std::set<std::string> seen;
    for (size_t i = 0; i < config.columns.size(); ++i) {
      const std::string& name = config.columns[i];
      if (name.empty()) return elements[i].Error("must not be empty");
      if (!seen.insert(name).second) {
        return elements[i].Error(absl::StrCat("duplicate column ", Quote(name)));
      }
    }
  }

  if (const std::optional<ConfigNode> delimiter =
          OptionalChild(node, "delimiter")) {
    ASSIGN_OR_RETURN(std::string text, delimiter->AsString());
    if (text.size() != 1 || text[0] == '"' || text[0] == '\n' ||
        text[0] == '\r') {
      return delimiter->Error(
          absl::StrCat(Quote(text),
                       " is not a single character other than a quote or "
                       "line break"));
    }
    config.delimiter = text[0];
  }

  if (const std::optional<ConfigNode> missing = OptionalChild(node, "missing")) {
    ASSIGN_OR_RETURN(config.missing, missing->AsStringList());
  }

  if (const std::optional<ConfigNode> variables =
          OptionalChild(node, "variables")) {
    if (!variables->IsMap()) return variables->Error("must be a map");
    config.variables_line = LineOf(variables->yaml());
    for (const auto& entry : variables->yaml()) {
      if (!entry.first.IsScalar() || entry.first.Scalar().empty()) {
        return At(*variables, entry.first, variables->path())
            .Error("keys must be study variable names");
      }
      const std::string& name = entry.first.Scalar();
      const std::string entry_path = internal::ChildPath(*variables, name);
      if (config.variables.count(name) > 0) {
        return At(*variables, entry.first, entry_path)
            .Error("variable is mapped twice");
      }
      ASSIGN_OR_RETURN(
          VariableMapping mapping,
          ParseMapping(name, At(*variables, entry.second, entry_path)));
      config.variables.emplace(name, std::move(mapping));
    }
  }

  if (const std::optional<ConfigNode> split = OptionalChild(node, "split")) {
    ASSIGN_OR_RETURN(config.split, ParseSplit(*split, base_dir));
  }
  return config;
}

}  // namespace

absl::StatusOr<DataSourceConfig> ParseDataSource(const util::ConfigNode& data,
                                                 const std::string& base_dir) {
  // The parser only uses non-throwing accessors; this is the backstop that
  // keeps a yaml-cpp exception from escaping the Status boundary.
  try {
    return ParseDataSourceOrThrow(data, base_dir);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        data.file(), ": field '", data.path(), "': invalid site config: ",
        e.what()));
  }
}

absl::StatusOr<DataSourceConfig> ParseDataSource(const YAML::Node& data_node,
                                                 const std::string& base_dir,
                                                 absl::string_view where) {
  return ParseDataSource(util::ConfigNode(data_node, std::string(where), "data"),
                         base_dir);
}

}  // namespace cohort::data
