#include "common/study/private_release.h"

#include <algorithm>
#include <cmath>

#include "absl/random/distributions.h"
#include "absl/strings/str_cat.h"

namespace cohort::study {
namespace {

int64_t Count(double v) { return static_cast<int64_t>(std::llround(std::max(0.0, v))); }

}  // namespace

absl::StatusOr<StatisticsLayout> StatisticsLayout::Create(const data::StudySchema& schema) {
  StatisticsLayout layout;
  layout.impute_ = schema.missing == data::MissingPolicy::kImputeMean;
  const std::vector<data::ColumnRange> ranges = data::EncodedFeatureRanges(schema);
  std::vector<bool> numeric;
  for (const data::Variable& v : schema.features) {
    if (v.type == data::VariableType::kNumeric && !v.has_range) {
      return absl::InvalidArgumentError(absl::StrCat(
          "numeric variable '", v.name, "' has no range; DP statistics need range: [lo, hi]"));
    }
    numeric.insert(numeric.end(), data::NumEncodedColumns(v),
                   v.type == data::VariableType::kNumeric);
  }
  int next = 0;
  for (size_t j = 0; j < ranges.size(); ++j) {
    Column c;
    c.mid = (ranges[j].lo + ranges[j].hi) / 2;
    c.half = (ranges[j].hi - ranges[j].lo) / 2;
    c.numeric = numeric[j];
    c.u = next++;
    if (c.numeric) c.u2 = next++;
    if (layout.impute_) c.present = next++;
    layout.columns_.push_back(c);
  }
  layout.train_index_ = next++;
  layout.test_index_ = next++;
  layout.length_ = next;
  return layout;
}

double StatisticsLayout::record_bound() const {
  // A training record: one entry per index except the test count, each in
  // [-1, 1].
  return std::sqrt(static_cast<double>(length_ - 1));
}

Eigen::MatrixXd StatisticsLayout::Records(const data::LocalDataset& data) const {
  const Eigen::Index train = data.x_train.rows(), test = data.x_test.rows();
  Eigen::MatrixXd records = Eigen::MatrixXd::Zero(train + test, length_);
  for (Eigen::Index i = 0; i < train; ++i) {
    for (size_t j = 0; j < columns_.size(); ++j) {
      const Column& c = columns_[j];
      const double x = data.x_train(i, static_cast<Eigen::Index>(j));
      if (std::isnan(x)) continue;
      const double u = std::clamp((x - c.mid) / c.half, -1.0, 1.0);
      records(i, c.u) = u;
      if (c.u2 >= 0) records(i, c.u2) = u * u;
      if (c.present >= 0) records(i, c.present) = 1.0;
    }
    records(i, train_index_) = 1.0;
  }
  for (Eigen::Index i = 0; i < test; ++i) records(train + i, test_index_) = 1.0;
  return records;
}

v1::StatisticsResult StatisticsLayout::Decode(const Eigen::VectorXd& sum) const {
  v1::StatisticsResult s;
  s.set_num_train(Count(sum[train_index_]));
  s.set_num_test(Count(sum[test_index_]));
  for (const Column& c : columns_) {
    const double count = c.present >= 0 ? sum[c.present] : sum[train_index_];
    const double u = sum[c.u];
    s.add_count(count);
    s.add_sum(c.mid * count + c.half * u);
    if (c.numeric) {
      s.add_sum_squares(c.mid * c.mid * count + 2 * c.mid * c.half * u + c.half * c.half * sum[c.u2]);
    } else {
      s.add_sum_squares(c.mid * count + c.half * u);  // x^2 = x for a 0/1 column
    }
  }
  return s;
}

void StatisticsLayout::Sanitize(v1::StatisticsResult& total) const {
  total.set_num_train(std::max<int64_t>(1, total.num_train()));
  for (size_t j = 0; j < columns_.size(); ++j) {
    const Column& c = columns_[j];
    const int k = static_cast<int>(j);
    const double count = std::max(1.0, std::round(total.count(k)));
    double mean = std::clamp(total.sum(k) / count, c.mid - c.half, c.mid + c.half);
    double variance;
    if (c.numeric) {
      // The noise on a sum of squares is large next to a small variance; a
      // declared range spans a few standard deviations, so a quarter of the
      // half-range is the smallest scale taken from noisy statistics.
      variance = std::clamp(total.sum_squares(k) / count - mean * mean,
                            (c.half / 4) * (c.half / 4), c.half * c.half);
    } else {
      mean = std::clamp(mean, 0.01, 0.99);
      variance = mean * (1 - mean);
    }
    total.set_count(k, count);
    total.set_sum(k, mean * count);
    total.set_sum_squares(k, (variance + mean * mean) * count);
  }
}

absl::StatusOr<EvaluationLayout> EvaluationLayout::Create(int bins) {
  if (bins < 2 || bins % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluation bins must be even and >= 2, got ", bins));
  }
  return EvaluationLayout(bins);
}

double EvaluationLayout::record_bound() const { return std::sqrt(2.0); }

Eigen::MatrixXd EvaluationLayout::Records(const ml::LogisticRegression& model,
                                          const Eigen::MatrixXd& x,
                                          const Eigen::VectorXd& y) const {
  Eigen::MatrixXd records = Eigen::MatrixXd::Zero(x.rows(), length());
  if (x.rows() == 0) return records;
  const Eigen::VectorXd p = model.PredictProba(x);
  const Eigen::VectorXd loss = model.PerExampleLoss(x, y);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    int bin = p[i] >= 1.0 ? bins_ - 1 : static_cast<int>(p[i] * bins_);
    bin = std::clamp(bin, 0, bins_ - 1);
    records(i, (y[i] > 0.5 ? 0 : bins_) + bin) = 1.0;
    records(i, 2 * bins_) = std::min(loss[i], kMaxLoss) / kMaxLoss;
  }
  return records;
}

v1::Metrics EvaluationLayout::Decode(const Eigen::VectorXd& sum) const {
  v1::Metrics m;
  int64_t tp = 0, fn = 0, tn = 0, fp = 0;
  for (int b = 0; b < bins_; ++b) {
    const int64_t pos = Count(sum[b]), neg = Count(sum[bins_ + b]);
    m.add_positive_histogram(pos);
    m.add_negative_histogram(neg);
    // Bins at or above the middle predict positive (p >= 0.5).
    if (b >= bins_ / 2) {
      tp += pos;
      fp += neg;
    } else {
      fn += pos;
      tn += neg;
    }
  }
  m.set_true_positive(tp);
  m.set_false_positive(fp);
  m.set_true_negative(tn);
  m.set_false_negative(fn);
  m.set_n(tp + fp + tn + fn);
  m.set_correct(tp + tn);
  m.set_loss_sum(kMaxLoss * std::max(0.0, sum[2 * bins_]));
  return m;
}

absl::StatusOr<Eigen::VectorXd> NoisySum(const Eigen::MatrixXd& records, int length, double bound,
                                         double noise_multiplier, absl::BitGenRef gen) {
  if (records.rows() > 0 && records.cols() != length) {
    return absl::InvalidArgumentError(
        absl::StrCat("records have ", records.cols(), " columns, expected ", length));
  }
  Eigen::VectorXd sum = Eigen::VectorXd::Zero(length);
  for (Eigen::Index i = 0; i < records.rows(); ++i) {
    const double norm = records.row(i).norm();
    if (!(norm <= bound * (1 + 1e-12))) {
      return absl::InvalidArgumentError(
          absl::StrCat("record ", i, " has norm ", norm, " above its bound ", bound));
    }
    sum += records.row(i).transpose();
  }
  const double std_dev = noise_multiplier * bound;
  for (int j = 0; j < length; ++j) sum[j] += absl::Gaussian<double>(gen, 0.0, std_dev);
  return sum;
}

}  // namespace cohort::study
