#include "common/data/schema.h"

#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <vector>

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

absl::StatusOr<VariableType> ParseType(const ConfigNode& node) {
  ASSIGN_OR_RETURN(std::string text, node.AsString());
  if (text == "numeric") return VariableType::kNumeric;
  if (text == "binary") return VariableType::kBinary;
  if (text == "categorical") return VariableType::kCategorical;
  return node.Error(absl::StrCat(
      Quote(text), " is not one of numeric, binary, categorical"));
}

// Parses one variable map ("variables[2]" or "outcome").
absl::StatusOr<Variable> ParseVariable(const ConfigNode& node) {
  RETURN_IF_ERROR(CheckKeys(node, {"name", "type", "categories", "drop_first", "range"}));
  Variable variable;
  ASSIGN_OR_RETURN(ConfigNode name, node.Child("name"));
  ASSIGN_OR_RETURN(variable.name, name.AsString());
  if (variable.name.empty()) return name.Error("must not be empty");

  ASSIGN_OR_RETURN(ConfigNode type, node.Child("type"));
  ASSIGN_OR_RETURN(variable.type, ParseType(type));

  const std::optional<ConfigNode> categories = OptionalChild(node, "categories");
  const std::optional<ConfigNode> drop_first = OptionalChild(node, "drop_first");
  if (const std::optional<ConfigNode> range = OptionalChild(node, "range")) {
    if (variable.type != VariableType::kNumeric) {
      return range->Error("is only allowed for a numeric variable");
    }
    ASSIGN_OR_RETURN(std::vector<ConfigNode> bounds, range->Elements());
    if (bounds.size() != 2) return range->Error("must be [lo, hi]");
    ASSIGN_OR_RETURN(variable.range_lo, bounds[0].AsDouble());
    ASSIGN_OR_RETURN(variable.range_hi, bounds[1].AsDouble());
    if (!std::isfinite(variable.range_lo) || !std::isfinite(variable.range_hi) ||
        !(variable.range_lo < variable.range_hi)) {
      return range->Error("must be [lo, hi] with finite lo < hi");
    }
    variable.has_range = true;
  }
  if (variable.type != VariableType::kCategorical) {
    if (categories) {
      return categories->Error("is only allowed for a categorical variable");
    }
    if (drop_first) {
      return drop_first->Error("is only allowed for a categorical variable");
    }
    return variable;
  }
  if (!categories) {
    return At(node, node.yaml(), internal::ChildPath(node, "categories"))
        .Error("is required for a categorical variable");
  }
  ASSIGN_OR_RETURN(variable.categories, categories->AsStringList());
  ASSIGN_OR_RETURN(std::vector<ConfigNode> elements, categories->Elements());
  std::set<std::string> seen;
  for (size_t i = 0; i < variable.categories.size(); ++i) {
    const std::string& category = variable.categories[i];
    if (category.empty()) return elements[i].Error("must not be empty");
    if (!seen.insert(category).second) {
      return elements[i].Error(
          absl::StrCat("duplicate category ", Quote(category)));
    }
  }
  if (variable.categories.size() < 2) {
    return categories->Error(
        "a categorical variable needs at least 2 categories");
  }
  if (drop_first) {
    ASSIGN_OR_RETURN(variable.drop_first, AsBool(*drop_first));
  }
  return variable;
}

absl::Status ParsePreprocessing(const ConfigNode& node, StudySchema& schema) {
  RETURN_IF_ERROR(CheckKeys(node, {"missing", "standardize"}));
  if (const std::optional<ConfigNode> missing = OptionalChild(node, "missing")) {
    ASSIGN_OR_RETURN(std::string text, missing->AsString());
    if (text == "drop_row") {
      schema.missing = MissingPolicy::kDropRow;
    } else if (text == "impute_mean") {
      schema.missing = MissingPolicy::kImputeMean;
    } else {
      return missing->Error(
          absl::StrCat(Quote(text), " is not one of drop_row, impute_mean"));
    }
  }
  if (const std::optional<ConfigNode> standardize =
          OptionalChild(node, "standardize")) {
    ASSIGN_OR_RETURN(schema.standardize, AsBool(*standardize));
  }
  return absl::OkStatus();
}

absl::StatusOr<StudySchema> ParseStudySchemaOrThrow(const ConfigNode& root) {
  if (!root.IsMap()) return root.Error("the study plan must be a map");
  StudySchema schema;
  std::set<std::string> names;

  ASSIGN_OR_RETURN(ConfigNode variables, root.Child("variables"));
  if (!variables.IsSequence() || variables.yaml().size() == 0) {
    return variables.Error("must be a non-empty list of variables");
  }
  ASSIGN_OR_RETURN(std::vector<ConfigNode> elements, variables.Elements());
  for (const ConfigNode& element : elements) {
    ASSIGN_OR_RETURN(Variable variable, ParseVariable(element));
    if (!names.insert(variable.name).second) {
      return element.Child("name")->Error(
          absl::StrCat("duplicate variable name ", Quote(variable.name)));
    }
    schema.features.push_back(std::move(variable));
  }

  ASSIGN_OR_RETURN(ConfigNode outcome, root.Child("outcome"));
  ASSIGN_OR_RETURN(schema.outcome, ParseVariable(outcome));
  if (schema.outcome.type != VariableType::kBinary) {
    return outcome.Child("type")->Error(
        absl::StrCat("the outcome must be binary, not ",
                     VariableTypeName(schema.outcome.type)));
  }
  if (!names.insert(schema.outcome.name).second) {
    return outcome.Child("name")->Error(
        absl::StrCat(Quote(schema.outcome.name),
                     " is also the name of a feature variable"));
  }

  if (const std::optional<ConfigNode> preprocessing =
          OptionalChild(root, "preprocessing")) {
    RETURN_IF_ERROR(ParsePreprocessing(*preprocessing, schema));
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

std::vector<ColumnRange> EncodedFeatureRanges(const StudySchema& schema) {
  std::vector<ColumnRange> ranges;
  for (const Variable& variable : schema.features) {
    if (variable.type == VariableType::kNumeric) {
      ranges.push_back({variable.range_lo, variable.range_hi});
    } else {
      ranges.insert(ranges.end(), NumEncodedColumns(variable), ColumnRange{0.0, 1.0});
    }
  }
  return ranges;
}

absl::StatusOr<StudySchema> ParseStudySchema(const util::ConfigNode& plan_root) {
  // The parser only uses non-throwing accessors; this is the backstop that
  // keeps a yaml-cpp exception from escaping the Status boundary.
  try {
    return ParseStudySchemaOrThrow(plan_root);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(plan_root.file(), ": invalid study plan: ", e.what()));
  }
}

absl::StatusOr<StudySchema> ParseStudySchema(const YAML::Node& node,
                                             absl::string_view where) {
  return ParseStudySchema(util::ConfigNode(node, std::string(where), ""));
}

}  // namespace cohort::data
