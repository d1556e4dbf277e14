#include "common/data/data_source.h"

#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/data/yaml_fields.h"
#include "common/util/status_macros.h"

namespace cohort::data {
namespace {

using internal::CheckMapKeys;
using internal::FieldError;
using internal::FieldPath;
using internal::IndexPath;
using internal::Quote;
using internal::ScalarBool;
using internal::ScalarList;
using internal::ScalarString;

std::string ResolvePath(const std::string& base_dir, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute() || base_dir.empty()) return p.lexically_normal().string();
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

absl::StatusOr<std::string> NonEmptyString(const YAML::Node& node,
                                           absl::string_view where,
                                           absl::string_view field) {
  ASSIGN_OR_RETURN(std::string text, ScalarString(node, where, field));
  if (text.empty()) return FieldError(where, field, node, "must not be empty");
  return text;
}

absl::StatusOr<VariableMapping> ParseMapping(const std::string& variable,
                                             const YAML::Node& node,
                                             absl::string_view where,
                                             absl::string_view field) {
  RETURN_IF_ERROR(CheckMapKeys(node, where, field,
                               {"column", "codes", "missing"}));
  VariableMapping mapping;
  mapping.column = variable;
  if (const YAML::Node column = node["column"]) {
    ASSIGN_OR_RETURN(mapping.column,
                     NonEmptyString(column, where, FieldPath(field, "column")));
  }
  if (const YAML::Node codes = node["codes"]) {
    const std::string codes_field = FieldPath(field, "codes");
    if (!codes.IsMap() || codes.size() == 0) {
      return FieldError(where, codes_field, codes,
                        "must be a non-empty map from local value to study "
                        "value");
    }
    std::set<std::string> seen;
    for (const auto& entry : codes) {
      if (!entry.first.IsScalar()) {
        return FieldError(where, codes_field, entry.first,
                          "keys must be scalars");
      }
      const std::string& key = entry.first.Scalar();
      const std::string entry_field = absl::StrCat(codes_field, "[", Quote(key),
                                                   "]");
      ASSIGN_OR_RETURN(std::string value,
                       ScalarString(entry.second, where, entry_field));
      if (!seen.insert(key).second) {
        return FieldError(where, entry_field, entry.first, "duplicate code");
      }
      mapping.codes.emplace_back(key, std::move(value));
    }
  }
  if (const YAML::Node missing = node["missing"]) {
    ASSIGN_OR_RETURN(mapping.missing,
                     ScalarList(missing, where, FieldPath(field, "missing")));
  }
  return mapping;
}

absl::StatusOr<SplitConfig> ParseSplit(const YAML::Node& node,
                                       const std::string& base_dir,
                                       absl::string_view where) {
  const std::string field = "data.split";
  RETURN_IF_ERROR(
      CheckMapKeys(node, where, field, {"file", "test_fraction", "seed"}));
  SplitConfig split;
  const YAML::Node file = node["file"];
  const YAML::Node fraction = node["test_fraction"];
  const YAML::Node seed = node["seed"];
  if (file) {
    if (fraction || seed) {
      return FieldError(where, field, node,
                        "give either file or test_fraction and seed, not both");
    }
    split.kind = SplitConfig::Kind::kFile;
    ASSIGN_OR_RETURN(std::string path,
                     NonEmptyString(file, where, FieldPath(field, "file")));
    split.file = ResolvePath(base_dir, path);
    return split;
  }
  if (!fraction || !seed) {
    return FieldError(where, field, node,
                      "needs either file, or test_fraction and seed");
  }
  split.kind = SplitConfig::Kind::kFraction;
  const std::string fraction_field = FieldPath(field, "test_fraction");
  ASSIGN_OR_RETURN(std::string fraction_text,
                   ScalarString(fraction, where, fraction_field));
  if (!absl::SimpleAtod(fraction_text, &split.test_fraction) ||
      !(split.test_fraction > 0.0 && split.test_fraction < 1.0)) {
    return FieldError(where, fraction_field, fraction,
                      absl::StrCat(Quote(fraction_text),
                                   " is not a number in (0, 1)"));
  }
  const std::string seed_field = FieldPath(field, "seed");
  ASSIGN_OR_RETURN(std::string seed_text, ScalarString(seed, where, seed_field));
  if (!absl::SimpleAtoi(seed_text, &split.seed)) {
    return FieldError(where, seed_field, seed,
                      absl::StrCat(Quote(seed_text),
                                   " is not a non-negative integer"));
  }
  return split;
}

absl::StatusOr<DataSourceConfig> ParseDataSourceOrThrow(
    const YAML::Node& node, const std::string& base_dir,
    absl::string_view where) {
  const std::string field = "data";
  RETURN_IF_ERROR(CheckMapKeys(node, where, field,
                               {"path", "header", "columns", "delimiter",
                                "missing", "variables", "split"}));
  DataSourceConfig config;
  config.where = std::string(where);

  const YAML::Node path = node["path"];
  if (!path) return FieldError(where, "data.path", node, "is required");
  ASSIGN_OR_RETURN(config.path, NonEmptyString(path, where, "data.path"));
  config.resolved_path = ResolvePath(base_dir, config.path);

  if (const YAML::Node header = node["header"]) {
    ASSIGN_OR_RETURN(config.header, ScalarBool(header, where, "data.header"));
  }
  const YAML::Node columns = node["columns"];
  if (config.header && columns) {
    return FieldError(where, "data.columns", columns,
                      "must not be given when header is true (the column "
                      "names come from the first line)");
  }
  if (!config.header) {
    if (!columns) {
      return FieldError(where, "data.columns", node,
                        "is required when header is false");
    }
    ASSIGN_OR_RETURN(config.columns,
                     ScalarList(columns, where, "data.columns"));
    if (config.columns.empty()) {
      return FieldError(where, "data.columns", columns, "must not be empty");
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < config.columns.size(); ++i) {
      const std::string& name = config.columns[i];
      if (name.empty() || !seen.insert(name).second) {
        return FieldError(where, IndexPath("data.columns", i), columns[i],
                          name.empty() ? "must not be empty"
                                       : absl::StrCat("duplicate column ",
                                                      Quote(name)));
      }
    }
  }

  if (const YAML::Node delimiter = node["delimiter"]) {
    ASSIGN_OR_RETURN(std::string text,
                     ScalarString(delimiter, where, "data.delimiter"));
    if (text.size() != 1 || text[0] == '"' || text[0] == '\n' ||
        text[0] == '\r') {
      return FieldError(where, "data.delimiter", delimiter,
                        absl::StrCat(Quote(text),
                                     " is not a single character other than a "
                                     "quote or line break"));
    }
    config.delimiter = text[0];
  }

  if (const YAML::Node missing = node["missing"]) {
    ASSIGN_OR_RETURN(config.missing,
                     ScalarList(missing, where, "data.missing"));
  }

  if (const YAML::Node variables = node["variables"]) {
    if (!variables.IsMap()) {
      return FieldError(where, "data.variables", variables, "must be a map");
    }
    for (const auto& entry : variables) {
      if (!entry.first.IsScalar() || entry.first.Scalar().empty()) {
        return FieldError(where, "data.variables", entry.first,
                          "keys must be study variable names");
      }
      const std::string& name = entry.first.Scalar();
      const std::string entry_field = FieldPath("data.variables", name);
      if (config.variables.count(name) > 0) {
        return FieldError(where, entry_field, entry.first,
                          "variable is mapped twice");
      }
      ASSIGN_OR_RETURN(VariableMapping mapping,
                       ParseMapping(name, entry.second, where, entry_field));
      config.variables.emplace(name, std::move(mapping));
    }
  }

  if (const YAML::Node split = node["split"]) {
    ASSIGN_OR_RETURN(config.split, ParseSplit(split, base_dir, where));
  }
  return config;
}

}  // namespace

absl::StatusOr<DataSourceConfig> ParseDataSource(const YAML::Node& data_node,
                                                 const std::string& base_dir,
                                                 absl::string_view where) {
  try {
    return ParseDataSourceOrThrow(data_node, base_dir, where);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": data: invalid site config: ", e.what()));
  }
}

}  // namespace cohort::data
