// The reference a federated heart-disease model is measured against.
//
// Loads the four UCI heart-disease hospitals exactly as their site agents do
// (each examples/heart-disease/sites/<site>.yaml rendered and read with
// LoadSiteConfig, the plan's schema, LoadLocalDataset with FLamby's split),
// then trains logistic regression with the plan's L2 penalty to convergence:
//
//   pooled        all training rows in one place, standardized with pooled
//                 statistics: the optimum of the very objective federated
//                 training (FedAvg over the same rows and the same global
//                 standardization) approaches;
//   <site> alone  one hospital's training rows, standardized with its own
//                 statistics: what a hospital gets without the consortium.
//
// Every model is evaluated on each hospital's test split and on the pooled
// test split (254 rows) with the same metrics the coordinator reports
// (ml::EvaluateBinary, Merge, Accuracy, AucFromHistograms over the plan's
// histogram bins, 1000), so the numbers sit beside a study's summary.json.
//
// Training is full-batch gradient descent (ml::Sgd) with step 1/L, L the
// Lipschitz constant of the objective's gradient (0.25 * the largest
// eigenvalue of [X 1]^T [X 1] / n, plus l2), until the gradient norm falls
// below 1e-9; the final gradient norm is printed to show convergence. (A
// hospital whose training rows are all of one class has no finite optimum;
// its row is the limit model, a constant classifier, and says so.) No
// randomness anywhere: the output is the same on every run.
//
// Run from the repository root after building:
//   cmake --build build --target cohort_bench_pooled_baseline
//   ./build/bin/cohort_bench_pooled_baseline --source-dir .
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "Eigen/Dense"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/data/loader.h"
#include "common/data/preprocess.h"
#include "common/ml/logistic_regression.h"
#include "common/ml/metrics.h"
#include "common/ml/optimizer.h"
#include "common/study/study_plan.h"
#include "common/util/status_macros.h"
#include "crypto/files.h"
#include "site_agent/site_config.h"

namespace cohort::bench {
namespace {

constexpr double kGradientTolerance = 1e-9;
constexpr int kMaxIterations = 1'000'000;

struct Site {
  std::string name;
  data::LocalDataset data;
};

// Renders the site's example config the way the demo does (the state folder
// and coordinator port are unused here and get dummy values; the plan hash is
// the real one), then loads it and its data through the site agent's own code.
absl::StatusOr<data::LocalDataset> LoadSite(const std::string& source_dir,
                                            const std::string& site,
                                            const study::StudyPlan& plan,
                                            const std::string& scratch_dir) {
  const std::string example_dir = source_dir + "/examples/heart-disease";
  ASSIGN_OR_RETURN(std::string text,
                   crypto::ReadFile(example_dir + "/sites/" + site + ".yaml"));
  const std::string rendered =
      absl::StrReplaceAll(text, {{"@EXAMPLE_DIR@", example_dir},
                                 {"@STATE_DIR@", scratch_dir},
                                 {"@COORDINATOR_PORT@", "1"},
                                 {"@PLAN_SHA256@", plan.sha256}});
  std::smatch left;
  if (std::regex_search(rendered, left, std::regex("@[A-Z0-9_]+@"))) {
    return absl::InvalidArgumentError(
        absl::StrCat(site, ".yaml: unknown placeholder ", left.str()));
  }
  const std::string path = scratch_dir + "/" + site + ".yaml";
  RETURN_IF_ERROR(crypto::WriteFileAtomically(path, rendered, 0644));
  ASSIGN_OR_RETURN(site::SiteConfig config, site::LoadSiteConfig(path));
  return data::LoadLocalDataset(config.data, plan.schema);
}

Eigen::MatrixXd StackRows(const std::vector<const Eigen::MatrixXd*>& parts) {
  Eigen::Index rows = 0;
  for (const auto* p : parts) rows += p->rows();
  Eigen::MatrixXd out(rows, parts.front()->cols());
  Eigen::Index at = 0;
  for (const auto* p : parts) {
    out.middleRows(at, p->rows()) = *p;
    at += p->rows();
  }
  return out;
}

Eigen::VectorXd StackRows(const std::vector<const Eigen::VectorXd*>& parts) {
  Eigen::Index rows = 0;
  for (const auto* p : parts) rows += p->size();
  Eigen::VectorXd out(rows);
  Eigen::Index at = 0;
  for (const auto* p : parts) {
    out.segment(at, p->size()) = *p;
    at += p->size();
  }
  return out;
}

struct Fit {
  explicit Fit(ml::LogisticRegression m) : model(std::move(m)) {}

  ml::LogisticRegression model;
  int iterations = 0;
  double loss = 0;
  double gradient_norm = 0;
  // Set when the objective has no finite minimizer (see TrainToConvergence).
  std::string no_optimum;
};

// |bias| of the limit model of a one-class training set: sigmoid(40) rounds
// to 1 in double precision.
constexpr double kLimitBias = 40.0;

// Minimizes the plan's objective (mean cross-entropy + l2/2 ||w||^2) on
// (x, y) by full-batch gradient descent with step 1/L.
//
// When every label is the same the objective has no finite minimizer: the
// unpenalized bias runs off to +-infinity while the penalty holds the weights
// at 0. Gradient descent would crawl toward that limit forever, so the limit
// itself is returned: weights 0, bias +-kLimitBias (a constant classifier).
absl::StatusOr<Fit> TrainToConvergence(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                       double l2) {
  ASSIGN_OR_RETURN(ml::LogisticRegression model,
                   ml::LogisticRegression::Create(static_cast<int>(x.cols()), l2));
  RETURN_IF_ERROR(model.ValidateExamples(x, y));
  const double positives = y.sum();
  if (positives == 0 || positives == static_cast<double>(y.size())) {
    const bool positive = positives > 0;
    Fit fit(model);
    fit.model.mutable_parameters()(x.cols()) = positive ? kLimitBias : -kLimitBias;
    fit.loss = fit.model.Loss(x, y);
    fit.gradient_norm = fit.model.Gradient(x, y).norm();
    fit.no_optimum = absl::StrCat("all ", y.size(), " training labels are ", positive ? 1 : 0,
                                  ": no finite optimum, limit model (w = 0, b = ",
                                  positive ? "+" : "-", "inf)");
    return fit;
  }
  Eigen::MatrixXd with_bias(x.rows(), x.cols() + 1);
  with_bias << x, Eigen::VectorXd::Ones(x.rows());
  const Eigen::MatrixXd gram = with_bias.transpose() * with_bias / static_cast<double>(x.rows());
  const double lipschitz =
      0.25 * Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(gram).eigenvalues().maxCoeff() + l2;
  ASSIGN_OR_RETURN(std::unique_ptr<ml::Sgd> sgd, ml::Sgd::Create(1.0 / lipschitz));
  Fit fit(model);
  Eigen::VectorXd gradient = fit.model.Gradient(x, y);
  while (gradient.norm() > kGradientTolerance && fit.iterations < kMaxIterations) {
    sgd->Step(fit.model.mutable_parameters(), gradient);
    gradient = fit.model.Gradient(x, y);
    ++fit.iterations;
  }
  fit.loss = fit.model.Loss(x, y);
  fit.gradient_norm = gradient.norm();
  return fit;
}

struct Evaluation {
  ml::BinaryMetrics pooled;
  std::vector<ml::BinaryMetrics> per_site;  // in plan order
};

// Evaluates `model` on every site's test split, each standardized with
// `standardizer`, and pools the metrics.
absl::StatusOr<Evaluation> Evaluate(const ml::LogisticRegression& model,
                                    const data::Standardizer& standardizer,
                                    const std::vector<Site>& sites, int bins) {
  Evaluation out;
  for (const Site& site : sites) {
    Eigen::MatrixXd x = site.data.x_test;
    RETURN_IF_ERROR(data::Apply(standardizer, x));
    out.per_site.push_back(ml::EvaluateBinary(model, x, site.data.y_test, bins));
    RETURN_IF_ERROR(ml::Merge(out.pooled, out.per_site.back()));
  }
  return out;
}

std::string FormatAuc(const ml::BinaryMetrics& m) {
  std::optional<double> auc = ml::AucFromHistograms(m.positive_histogram, m.negative_histogram);
  return auc.has_value() ? absl::StrFormat("%.4f", *auc) : "n/a";
}

absl::Status Run(const std::string& source) {
  // Site configs are rendered into a scratch folder, and relative paths in
  // them resolve against it: hand them absolute ones.
  const std::string source_dir = std::filesystem::absolute(source).lexically_normal().string();
  ASSIGN_OR_RETURN(study::StudyPlan plan,
                   study::LoadStudyPlan(source_dir + "/examples/heart-disease/plan.yaml"));
  std::string scratch = (std::filesystem::temp_directory_path() / "cohort-bench.XXXXXX").string();
  if (mkdtemp(scratch.data()) == nullptr) {
    return absl::InternalError("cannot create a temporary folder");
  }
  std::vector<Site> sites;
  absl::Status loaded = absl::OkStatus();
  for (const std::string& name : plan.sites) {
    auto data = LoadSite(source_dir, name, plan, scratch);
    if (!data.ok()) {
      loaded = data.status();
      break;
    }
    sites.push_back({name, *std::move(data)});
  }
  std::error_code ignored;
  std::filesystem::remove_all(scratch, ignored);
  RETURN_IF_ERROR(loaded);

  struct Row {
    std::string model;
    int64_t train_rows;
    Fit fit;
    Evaluation eval;
  };
  std::vector<Row> rows;

  // Pooled: what a single data warehouse holding every hospital's rows gets.
  data::FeatureStatistics pooled_stats =
      data::FeatureStatistics::Zeros(static_cast<int>(sites.front().data.x_train.cols()));
  std::vector<const Eigen::MatrixXd*> xs;
  std::vector<const Eigen::VectorXd*> ys;
  for (const Site& site : sites) {
    RETURN_IF_ERROR(data::Add(pooled_stats, data::ComputeStatistics(site.data)));
    xs.push_back(&site.data.x_train);
    ys.push_back(&site.data.y_train);
  }
  ASSIGN_OR_RETURN(data::Standardizer pooled_standardizer,
                   data::StandardizerFromGlobalStatistics(pooled_stats, plan.schema.standardize));
  Eigen::MatrixXd x_pooled = StackRows(xs);
  const Eigen::VectorXd y_pooled = StackRows(ys);
  RETURN_IF_ERROR(data::Apply(pooled_standardizer, x_pooled));
  ASSIGN_OR_RETURN(Fit pooled, TrainToConvergence(x_pooled, y_pooled, plan.l2));
  ASSIGN_OR_RETURN(Evaluation pooled_eval,
                   Evaluate(pooled.model, pooled_standardizer, sites, plan.histogram_bins));
  rows.push_back({"pooled (centralized)", x_pooled.rows(), pooled, pooled_eval});

  // Each hospital alone, with its own statistics.
  for (const Site& site : sites) {
    ASSIGN_OR_RETURN(data::Standardizer local,
                     data::StandardizerFromGlobalStatistics(data::ComputeStatistics(site.data),
                                                            plan.schema.standardize));
    Eigen::MatrixXd x = site.data.x_train;
    RETURN_IF_ERROR(data::Apply(local, x));
    ASSIGN_OR_RETURN(Fit fit, TrainToConvergence(x, site.data.y_train, plan.l2));
    ASSIGN_OR_RETURN(Evaluation eval, Evaluate(fit.model, local, sites, plan.histogram_bins));
    rows.push_back({site.name + " alone", x.rows(), fit, eval});
  }

  std::vector<std::string> site_names, test_sizes;
  for (size_t i = 0; i < sites.size(); ++i) {
    site_names.push_back(sites[i].name);
    test_sizes.push_back(absl::StrCat(rows.front().eval.per_site[i].n));
  }
  std::printf("Heart disease, plan '%s' (l2 = %g, %d histogram bins); test rows: %lld pooled, "
              "%s (%s)\n\n",
              plan.study_id.c_str(), plan.l2, plan.histogram_bins,
              static_cast<long long>(rows.front().eval.pooled.n),
              absl::StrJoin(test_sizes, " / ").c_str(), absl::StrJoin(site_names, " / ").c_str());
  std::printf("| model | pooled accuracy | pooled AUC | per-site accuracy (%s) |\n",
              absl::StrJoin(site_names, " / ").c_str());
  std::printf("|---|---|---|---|\n");
  for (const Row& row : rows) {
    std::vector<std::string> per_site;
    for (const ml::BinaryMetrics& m : row.eval.per_site) {
      per_site.push_back(absl::StrFormat("%.4f", ml::Accuracy(m)));
    }
    std::printf("| %s | %.4f | %s | %s |\n", row.model.c_str(), ml::Accuracy(row.eval.pooled),
                FormatAuc(row.eval.pooled).c_str(), absl::StrJoin(per_site, " / ").c_str());
  }
  std::printf("\nConvergence (full-batch gradient descent, stop at ||grad|| <= %g):\n\n",
              kGradientTolerance);
  std::printf("| model | training rows | iterations | final loss | final gradient norm |\n");
  std::printf("|---|---|---|---|---|\n");
  for (const Row& row : rows) {
    if (!row.fit.no_optimum.empty()) {
      std::printf("| %s | %lld | - | %.3g | - (%s) |\n", row.model.c_str(),
                  static_cast<long long>(row.train_rows), row.fit.loss,
                  row.fit.no_optimum.c_str());
      continue;
    }
    std::printf("| %s | %lld | %d | %.6f | %.3g |\n", row.model.c_str(),
                static_cast<long long>(row.train_rows), row.fit.iterations, row.fit.loss,
                row.fit.gradient_norm);
  }
  for (const Row& row : rows) {
    if (row.fit.no_optimum.empty() && row.fit.gradient_norm > kGradientTolerance) {
      return absl::InternalError(absl::StrCat(row.model, " did not converge in ", kMaxIterations,
                                              " iterations"));
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace cohort::bench

int main(int argc, char** argv) {
  CLI::App app{"Pooled and single-hospital logistic-regression baselines for heart disease"};
  std::string source_dir = ".";
  app.add_option("--source-dir", source_dir, "Cohort source tree (holds examples/)");
  CLI11_PARSE(app, argc, argv);
  absl::Status status = cohort::bench::Run(source_dir);
  if (!status.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
