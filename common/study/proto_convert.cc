#include "common/study/proto_convert.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace cohort::study {

v1::Metrics ToProto(const ml::BinaryMetrics& m) {
  v1::Metrics out;
  out.set_n(m.n);
  out.set_correct(m.correct);
  out.set_true_positive(m.true_positive);
  out.set_false_positive(m.false_positive);
  out.set_true_negative(m.true_negative);
  out.set_false_negative(m.false_negative);
  out.set_loss_sum(m.loss_sum);
  out.mutable_positive_histogram()->Add(m.positive_histogram.begin(),
                                        m.positive_histogram.end());
  out.mutable_negative_histogram()->Add(m.negative_histogram.begin(),
                                        m.negative_histogram.end());
  return out;
}

ml::BinaryMetrics FromProto(const v1::Metrics& m) {
  ml::BinaryMetrics out;
  out.n = m.n();
  out.correct = m.correct();
  out.true_positive = m.true_positive();
  out.false_positive = m.false_positive();
  out.true_negative = m.true_negative();
  out.false_negative = m.false_negative();
  out.loss_sum = m.loss_sum();
  out.positive_histogram.assign(m.positive_histogram().begin(), m.positive_histogram().end());
  out.negative_histogram.assign(m.negative_histogram().begin(), m.negative_histogram().end());
  return out;
}

absl::Status ValidateMetrics(const v1::Metrics& m, int bins) {
  auto bad = [](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("metrics: ", why));
  };
  if (m.n() < 0 || m.correct() < 0 || m.true_positive() < 0 || m.false_positive() < 0 ||
      m.true_negative() < 0 || m.false_negative() < 0) {
    return bad("negative count");
  }
  if (m.true_positive() + m.false_positive() + m.true_negative() + m.false_negative() != m.n()) {
    return bad("confusion counts do not add up to n");
  }
  if (m.true_positive() + m.true_negative() != m.correct()) {
    return bad("correct does not equal true positives plus true negatives");
  }
  if (!std::isfinite(m.loss_sum()) || m.loss_sum() < 0) return bad("loss is not finite");
  if (m.n() == 0 && m.positive_histogram_size() == 0 && m.negative_histogram_size() == 0) {
    return absl::OkStatus();
  }
  if (m.positive_histogram_size() != bins || m.negative_histogram_size() != bins) {
    return bad(absl::StrCat("histograms have ", m.positive_histogram_size(), " and ",
                            m.negative_histogram_size(), " bins, the plan says ", bins));
  }
  int64_t pos = 0, neg = 0;
  for (int64_t c : m.positive_histogram()) {
    if (c < 0) return bad("negative histogram count");
    pos += c;
  }
  for (int64_t c : m.negative_histogram()) {
    if (c < 0) return bad("negative histogram count");
    neg += c;
  }
  if (pos != m.true_positive() + m.false_negative() ||
      neg != m.true_negative() + m.false_positive()) {
    return bad("histogram totals do not match the class counts");
  }
  return absl::OkStatus();
}

nlohmann::json MetricsJson(const ml::BinaryMetrics& m) {
  nlohmann::json j;
  j["n"] = m.n;
  j["accuracy"] = m.n > 0 ? nlohmann::json(ml::Accuracy(m)) : nlohmann::json(nullptr);
  auto auc = ml::AucFromHistograms(m.positive_histogram, m.negative_histogram);
  j["auc"] = auc.has_value() ? nlohmann::json(*auc) : nlohmann::json(nullptr);
  return j;
}

}  // namespace cohort::study
