#include "common/data/schema.h"

#include <set>
#include <string>
#include <vector>

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

absl::StatusOr<VariableType> ParseType(const YAML::Node& node,
                                       absl::string_view where,
                                       absl::string_view field) {
  ASSIGN_OR_RETURN(std::string text, ScalarString(node, where, field));
  if (text == "numeric") return VariableType::kNumeric;
  if (text == "binary") return VariableType::kBinary;
  if (text == "categorical") return VariableType::kCategorical;
  return FieldError(
      where, field, node,
      absl::StrCat(Quote(text),
                   " is not one of numeric, binary, categorical"));
}

// Parses one variable map at `field` ("variables[2]" or "outcome").
absl::StatusOr<Variable> ParseVariable(const YAML::Node& node,
                                       absl::string_view where,
                                       absl::string_view field) {
  RETURN_IF_ERROR(CheckMapKeys(node, where, field,
                               {"name", "type", "categories", "drop_first"}));
  Variable variable;
  const std::string name_field = FieldPath(field, "name");
  const YAML::Node name = node["name"];
  if (!name) return FieldError(where, name_field, node, "is required");
  ASSIGN_OR_RETURN(variable.name, ScalarString(name, where, name_field));
  if (variable.name.empty()) {
    return FieldError(where, name_field, name, "must not be empty");
  }

  const std::string type_field = FieldPath(field, "type");
  const YAML::Node type = node["type"];
  if (!type) return FieldError(where, type_field, node, "is required");
  ASSIGN_OR_RETURN(variable.type, ParseType(type, where, type_field));

  const YAML::Node categories = node["categories"];
  const YAML::Node drop_first = node["drop_first"];
  const std::string categories_field = FieldPath(field, "categories");
  if (variable.type != VariableType::kCategorical) {
    if (categories) {
      return FieldError(where, categories_field, categories,
                        "is only allowed for a categorical variable");
    }
    if (drop_first) {
      return FieldError(where, FieldPath(field, "drop_first"), drop_first,
                        "is only allowed for a categorical variable");
    }
    return variable;
  }
  if (!categories) {
    return FieldError(where, categories_field, node,
                      "is required for a categorical variable");
  }
  ASSIGN_OR_RETURN(variable.categories,
                   ScalarList(categories, where, categories_field));
  std::set<std::string> seen;
  for (size_t i = 0; i < variable.categories.size(); ++i) {
    const std::string& category = variable.categories[i];
    if (category.empty()) {
      return FieldError(where, IndexPath(categories_field, i), categories[i],
                        "must not be empty");
    }
    if (!seen.insert(category).second) {
      return FieldError(where, IndexPath(categories_field, i), categories[i],
                        absl::StrCat("duplicate category ", Quote(category)));
    }
  }
  if (variable.categories.size() < 2) {
    return FieldError(where, categories_field, categories,
                      "a categorical variable needs at least 2 categories");
  }
  if (drop_first) {
    ASSIGN_OR_RETURN(variable.drop_first,
                     ScalarBool(drop_first, where,
                                FieldPath(field, "drop_first")));
  }
  return variable;
}

absl::Status ParsePreprocessing(const YAML::Node& node, absl::string_view where,
                                StudySchema& schema) {
  const std::string field = "preprocessing";
  RETURN_IF_ERROR(CheckMapKeys(node, where, field, {"missing", "standardize"}));
  if (const YAML::Node missing = node["missing"]) {
    const std::string missing_field = FieldPath(field, "missing");
    ASSIGN_OR_RETURN(std::string text,
                     ScalarString(missing, where, missing_field));
    if (text == "drop_row") {
      schema.missing = MissingPolicy::kDropRow;
    } else if (text == "impute_mean") {
      schema.missing = MissingPolicy::kImputeMean;
    } else {
      return FieldError(
          where, missing_field, missing,
          absl::StrCat(Quote(text), " is not one of drop_row, impute_mean"));
    }
  }
  if (const YAML::Node standardize = node["standardize"]) {
    ASSIGN_OR_RETURN(schema.standardize,
                     ScalarBool(standardize, where,
                                FieldPath(field, "standardize")));
  }
  return absl::OkStatus();
}

absl::StatusOr<StudySchema> ParseStudySchemaOrThrow(const YAML::Node& node,
                                                    absl::string_view where) {
  if (!node.IsMap()) {
    return FieldError(where, "", node, "the study plan must be a map");
  }
  StudySchema schema;
  std::set<std::string> names;

  const YAML::Node variables = node["variables"];
  if (!variables) return FieldError(where, "variables", node, "is required");
  if (!variables.IsSequence() || variables.size() == 0) {
    return FieldError(where, "variables", variables,
                      "must be a non-empty list of variables");
  }
  for (size_t i = 0; i < variables.size(); ++i) {
    const std::string field = IndexPath("variables", i);
    ASSIGN_OR_RETURN(Variable variable,
                     ParseVariable(variables[i], where, field));
    if (!names.insert(variable.name).second) {
      return FieldError(where, FieldPath(field, "name"), variables[i]["name"],
                        absl::StrCat("duplicate variable name ",
                                     Quote(variable.name)));
    }
    schema.features.push_back(std::move(variable));
  }

  const YAML::Node outcome = node["outcome"];
  if (!outcome) return FieldError(where, "outcome", node, "is required");
  ASSIGN_OR_RETURN(schema.outcome, ParseVariable(outcome, where, "outcome"));
  if (schema.outcome.type != VariableType::kBinary) {
    return FieldError(where, "outcome.type", outcome["type"],
                      absl::StrCat("the outcome must be binary, not ",
                                   VariableTypeName(schema.outcome.type)));
  }
  if (!names.insert(schema.outcome.name).second) {
    return FieldError(where, "outcome.name", outcome["name"],
                      absl::StrCat(Quote(schema.outcome.name),
                                   " is also the name of a feature variable"));
  }

  if (const YAML::Node preprocessing = node["preprocessing"]) {
    RETURN_IF_ERROR(ParsePreprocessing(preprocessing, where, schema));
  }
  return schema;
}

}  // namespace

absl::string_view VariableTypeName(VariableType type) {
  switch (type) {
    case VariableType::kNumeric:
      return "numeric";
    case VariableType::kBinary:
      return "binary";
    case VariableType::kCategorical:
      return "categorical";
  }
  return "unknown";
}

int NumEncodedColumns(const Variable& variable) {
  if (variable.type != VariableType::kCategorical) return 1;
  const int n = static_cast<int>(variable.categories.size());
  return variable.drop_first ? n - 1 : n;
}

std::vector<std::string> EncodedFeatureNames(const StudySchema& schema) {
  std::vector<std::string> names;
  for (const Variable& variable : schema.features) {
    if (variable.type != VariableType::kCategorical) {
      names.push_back(variable.name);
      continue;
    }
    for (size_t i = variable.drop_first ? 1 : 0;
         i < variable.categories.size(); ++i) {
      names.push_back(absl::StrCat(variable.name, "=", variable.categories[i]));
    }
  }
  return names;
}

int NumEncodedFeatures(const StudySchema& schema) {
  int n = 0;
  for (const Variable& variable : schema.features) {
    n += NumEncodedColumns(variable);
  }
  return n;
}

absl::StatusOr<StudySchema> ParseStudySchema(const YAML::Node& node,
                                             absl::string_view where) {
  // The parser only uses non-throwing accessors; this is the backstop that
  // keeps a yaml-cpp exception from escaping the Status boundary.
  try {
    return ParseStudySchemaOrThrow(node, where);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": invalid study plan: ", e.what()));
  }
}

}  // namespace cohort::data
