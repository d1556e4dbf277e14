// Log-space arithmetic and Gaussian tail functions shared by the privacy
// accountants (rdp.cc, pld.cc, analytic_gaussian.cc). Internal to
// cohort_privacy_accounting.
//
// The accountants work with quantities like exp(30000 * 40) or erfc(30) that
// overflow or underflow a double, so they carry logarithms and use these
// helpers to add them. All functions are pure and thread-safe.
#ifndef COHORT_COMMON_PRIVACY_LOG_MATH_H_
#define COHORT_COMMON_PRIVACY_LOG_MATH_H_

namespace cohort::privacy::internal {

inline constexpr double kNegInf = -__builtin_huge_val();

// log(exp(a) + exp(b)); either may be -inf.
double LogAddExp(double a, double b);

// log(exp(a) - exp(b)) for a >= b; -inf when a == b.
double LogSubExp(double a, double b);

// log(erfc(x)), accurate (relative error below 1e-12) for all finite x,
// including x far beyond where erfc(x) underflows.
double LogErfc(double x);

// Standard normal CDF Phi(z) and its complement 1 - Phi(z) = Phi(-z),
// each with full relative accuracy in its own tail.
double NormalCdf(double z);
double NormalSf(double z);

// log(Phi(z)) and log(1 - Phi(z)), finite far into the tails.
double LogNormalCdf(double z);
double LogNormalSf(double z);

// The z with 1 - Phi(z) = p, for p in (0, 0.5]; within 1e-9 absolute.
double NormalSfInverse(double p);

}  // namespace cohort::privacy::internal

#endif  // COHORT_COMMON_PRIVACY_LOG_MATH_H_
