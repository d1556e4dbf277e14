#include "common/study/secure_codec.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace cohort::study {
namespace {

constexpr int kTrainingReals = 2;     // train loss sum, test loss sum
constexpr int kTrainingIntegers = 7;  // n_k, test n, correct, tp, fp, tn, fn

// Largest count one site may report so that `summands` of them fit.
int64_t MaxCount(int bits, int summands) {
  return ((int64_t{1} << (bits - 1)) - 1) / summands;
}

// Both layouts are a real channel followed by an integer channel.
absl::StatusOr<Encoded> EncodeChannels(const secagg::VectorEncoder& real_encoder,
                                       const secagg::IntegerEncoder& integer_encoder,
                                       absl::Span<const double> reals,
                                       absl::Span<const int64_t> ints, absl::BitGenRef gen) {
  ASSIGN_OR_RETURN(secagg::EncodedVector real, real_encoder.Encode(reals, gen));
  ASSIGN_OR_RETURN(std::vector<uint64_t> integer, integer_encoder.Encode(ints));
  Encoded out;
  out.values = std::move(real.values);
  out.values.insert(out.values.end(), integer.begin(), integer.end());
  out.num_clipped = real.num_clipped;
  return out;
}

absl::Status CheckLength(absl::Span<const uint64_t> sum, int64_t expected) {
  if (static_cast<int64_t>(sum.size()) != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("secure sum has ", sum.size(), " values, expected ", expected));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TrainingCodec> TrainingCodec::Create(int model_size, int histogram_bins,
                                                    int bits, double clip, int max_summands) {
  if (model_size < 1 || histogram_bins < 1) {
    return absl::InvalidArgumentError("model size and histogram bins must be positive");
  }
  ASSIGN_OR_RETURN(secagg::VectorEncoder real,
                   secagg::VectorEncoder::Create(
                       {.bits = bits, .clip = clip, .max_summands = max_summands}));
  ASSIGN_OR_RETURN(secagg::IntegerEncoder integer,
                   secagg::IntegerEncoder::Create({.bits = bits,
                                                   .max_value = MaxCount(bits, max_summands),
                                                   .max_summands = max_summands}));
  return TrainingCodec(model_size, histogram_bins, bits, real, integer);
}

int64_t TrainingCodec::length() const {
  return int64_t{model_size_} + kTrainingReals + kTrainingIntegers + 2 * int64_t{bins_};
}

absl::StatusOr<Encoded> TrainingCodec::Encode(const v1::RoundContribution& c,
                                              absl::BitGenRef gen) const {
  const v1::Metrics& m = c.global_model_test_metrics();
  if (c.weighted_delta_size() != model_size_) {
    return absl::InvalidArgumentError(absl::StrCat("update has ", c.weighted_delta_size(),
                                                   " values, the model has ", model_size_));
  }
  const bool has_metrics = m.n() > 0;
  if (has_metrics &&
      (m.positive_histogram_size() != bins_ || m.negative_histogram_size() != bins_)) {
    return absl::InvalidArgumentError("metrics histograms have the wrong number of bins");
  }
  std::vector<double> reals(c.weighted_delta().begin(), c.weighted_delta().end());
  reals.push_back(c.train_loss_sum());
  reals.push_back(m.loss_sum());

  const double weight = std::round(c.weight());
  std::vector<int64_t> ints = {static_cast<int64_t>(weight), m.n(), m.correct(),
                               m.true_positive(), m.false_positive(), m.true_negative(),
                               m.false_negative()};
  for (int b = 0; b < bins_; ++b) ints.push_back(has_metrics ? m.positive_histogram(b) : 0);
  for (int b = 0; b < bins_; ++b) ints.push_back(has_metrics ? m.negative_histogram(b) : 0);
  return EncodeChannels(real_, integer_, reals, ints, gen);
}

absl::StatusOr<v1::RoundContribution> TrainingCodec::Decode(absl::Span<const uint64_t> sum,
                                                            int num_summands) const {
  RETURN_IF_ERROR(CheckLength(sum, length()));
  const size_t reals = static_cast<size_t>(model_size_) + kTrainingReals;
  ASSIGN_OR_RETURN(std::vector<double> real, real_.Decode(sum.subspan(0, reals), num_summands));
  ASSIGN_OR_RETURN(std::vector<int64_t> ints,
                   integer_.Decode(sum.subspan(reals), num_summands));
  v1::RoundContribution c;
  c.mutable_weighted_delta()->Add(real.begin(), real.begin() + model_size_);
  c.set_train_loss_sum(real[model_size_]);
  v1::Metrics* m = c.mutable_global_model_test_metrics();
  m->set_loss_sum(real[model_size_ + 1]);
  c.set_weight(static_cast<double>(ints[0]));
  m->set_n(ints[1]);
  m->set_correct(ints[2]);
  m->set_true_positive(ints[3]);
  m->set_false_positive(ints[4]);
  m->set_true_negative(ints[5]);
  m->set_false_negative(ints[6]);
  m->mutable_positive_histogram()->Add(ints.begin() + kTrainingIntegers,
                                       ints.begin() + kTrainingIntegers + bins_);
  m->mutable_negative_histogram()->Add(ints.begin() + kTrainingIntegers + bins_, ints.end());
  return c;
}

absl::StatusOr<StatisticsCodec> StatisticsCodec::Create(int features, int max_summands) {
  if (features < 1) return absl::InvalidArgumentError("statistics need at least one feature");
  ASSIGN_OR_RETURN(secagg::VectorEncoder real,
                   secagg::VectorEncoder::Create({.bits = kStatisticsBits,
                                                  .clip = kStatisticsClip,
                                                  .max_summands = max_summands}));
  ASSIGN_OR_RETURN(secagg::IntegerEncoder integer,
                   secagg::IntegerEncoder::Create(
                       {.bits = kStatisticsBits,
                        .max_value = MaxCount(kStatisticsBits, max_summands),
                        .max_summands = max_summands}));
  return StatisticsCodec(features, real, integer);
}

absl::StatusOr<Encoded> StatisticsCodec::Encode(const v1::StatisticsResult& s,
                                                absl::BitGenRef gen) const {
  if (s.count_size() != features_ || s.sum_size() != features_ ||
      s.sum_squares_size() != features_) {
    return absl::InvalidArgumentError(absl::StrCat("statistics have ", s.count_size(),
                                                   " features, expected ", features_));
  }
  std::vector<double> reals(s.sum().begin(), s.sum().end());
  reals.insert(reals.end(), s.sum_squares().begin(), s.sum_squares().end());
  std::vector<int64_t> ints;
  for (double c : s.count()) ints.push_back(static_cast<int64_t>(std::llround(c)));
  ints.push_back(s.num_train());
  ints.push_back(s.num_test());
  return EncodeChannels(real_, integer_, reals, ints, gen);
}

absl::StatusOr<v1::StatisticsResult> StatisticsCodec::Decode(absl::Span<const uint64_t> sum,
                                                             int num_summands) const {
  RETURN_IF_ERROR(CheckLength(sum, length()));
  const size_t reals = 2 * static_cast<size_t>(features_);
  ASSIGN_OR_RETURN(std::vector<double> real, real_.Decode(sum.subspan(0, reals), num_summands));
  ASSIGN_OR_RETURN(std::vector<int64_t> ints,
                   integer_.Decode(sum.subspan(reals), num_summands));
  v1::StatisticsResult s;
  s.mutable_sum()->Add(real.begin(), real.begin() + features_);
  s.mutable_sum_squares()->Add(real.begin() + features_, real.end());
  for (int j = 0; j < features_; ++j) s.add_count(static_cast<double>(ints[j]));
  s.set_num_train(ints[features_]);
  s.set_num_test(ints[features_ + 1]);
  return s;
}

}  // namespace cohort::study
