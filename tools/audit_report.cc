#include "tools/audit_report.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "crypto/pki.h"
#include "nlohmann/json.hpp"
#include "tools/audit_releases.h"

namespace cohort::tools {
namespace {

// Entry types this page knows; any other is listed per log. The log itself
// writes "log_rotated" and "log_pruned" (common/audit/audit_log.h).
const std::set<std::string>& SiteTypes() {
  static const auto* types =
      new std::set<std::string>{"task_received", "task_refused", "result_sent", "receipt"};
  return *types;
}
const std::set<std::string>& CoordinatorTypes() {
  static const auto* types = new std::set<std::string>{
      "study_submitted", "study_resumed", "site_joined",        "sites_joined",
      "site_refused",    "round_started", "secure_aggregation", "aggregate_released",
      "site_anchor",     "receipt_sent",  "study_finished"};
  return *types;
}
bool KnownType(const std::string& type) {
  return SiteTypes().count(type) || CoordinatorTypes().count(type) || type == "log_rotated" ||
         type == "log_pruned";
}

// Colour-blind-safe (Okabe-Ito) line colours, cycled per series.
constexpr const char* kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                    "#E69F00", "#56B4E9", "#000000", "#F0E442"};

std::string Esc(absl::string_view text) { return HtmlEscape(text); }

std::string Number(double value) { return absl::StrFormat("%.4f", value); }

// Who wrote a log: the verified writer if Verify named one ("site/x",
// "cohort://site/x"), else what the first entry's certificate claims, else a
// guess from the entry types and the file name.
struct Writer {
  std::string role;  // "site", "coordinator", or "" if unknown
  std::string name;
  std::string caveat;  // empty when verified
};

std::string RoleFromTypes(const std::vector<audit::Entry>& entries) {
  int site = 0, coordinator = 0;
  for (const audit::Entry& e : entries) {
    site += SiteTypes().count(e.type);
    coordinator += CoordinatorTypes().count(e.type);
  }
  if (site == coordinator) return "";
  return site > coordinator ? "site" : "coordinator";
}

Writer WriterOf(const AuditedLog& log) {
  const audit::VerifyReport& v = log.verification;
  Writer w;
  if (!v.writer.empty()) {
    // "site va" (audit::IdentityString), also "site/va" or "cohort://site/va".
    absl::string_view text = v.writer;
    absl::ConsumePrefix(&text, "cohort://");
    if (size_t sep = text.find_first_of(" /"); sep != absl::string_view::npos) {
      w.role = std::string(text.substr(0, sep));
      w.name = std::string(text.substr(sep + 1));
    } else {
      w.name = std::string(text);
    }
  } else if (!v.parsed.empty()) {
    if (absl::StatusOr<crypto::PeerIdentity> claimed =
            crypto::IdentityFromCertificatePem(v.parsed.front().signer_pem);
        claimed.ok()) {
      w.role = std::string(crypto::RoleName(claimed->role));
      w.name = claimed->name;
      w.caveat = "as its certificate claims; not checked against a CA";
    }
  }
  if (w.role.empty()) w.role = RoleFromTypes(v.parsed);
  if (w.name.empty()) {
    w.name = std::filesystem::path(log.path).filename().string();
    w.caveat = "unidentified writer; named after the file";
  }
  return w;
}

std::vector<std::string> StringList(const nlohmann::json& body, const char* key) {
  std::vector<std::string> out;
  if (!body.is_object() || !body.contains(key) || !body[key].is_array()) return out;
  for (const nlohmann::json& item : body[key]) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

// What the coordinator's log says about one round (its last attempt).
struct RoundView {
  int64_t attempts = 0;
  std::vector<std::string> participants;
  bool secure = false;  // a "secure_aggregation" entry was seen
  std::vector<std::string> survivors;
  std::map<std::string, std::string> dropouts;             // site -> reason
  std::optional<std::string> aggregate_sha256;             // set once released
  std::optional<std::vector<std::string>> released_sites;  // whose inputs the aggregate sums
};

struct StudyView {
  std::string plan_sha256 = "?";
  std::string sites_text = "?";
  std::string rounds = "?";
  std::string mode = "?";
  std::string delta = "?";
  std::string planned_epsilon = "?";
  std::string status = "not finished in the logs";
  std::vector<std::string> sites;  // in plan order, then any others seen
  std::map<int64_t, RoundView> rounds_by_number;
  bool from_coordinator = false;
};

// A fraction as the logs write it ("1.0000000000000001e-05") for reading
// ("1e-05"); anything else as BodyText shows it.
std::string NumberText(const nlohmann::json& body, absl::string_view key) {
  std::optional<double> v = BodyNumber(body, key);
  return v ? absl::StrFormat("%g", *v) : BodyText(body, key);
}

void AddSite(StudyView& study, const std::string& site) {
  if (std::find(study.sites.begin(), study.sites.end(), site) == study.sites.end()) {
    study.sites.push_back(site);
  }
}

void ReadCoordinatorEntry(const audit::Entry& e, std::map<std::string, StudyView>& studies) {
  const nlohmann::json& b = e.body;
  if (!CoordinatorTypes().count(e.type) || e.type == "site_joined") return;
  StudyView& study = studies[BodyText(b, "study")];
  study.from_coordinator = true;
  const std::optional<int64_t> round = BodyInteger(b, "round");
  if (e.type == "study_submitted" || e.type == "study_resumed") {
    study.plan_sha256 = BodyText(b, "plan_sha256");
    study.sites_text = BodyText(b, "sites");
    study.rounds = BodyText(b, "rounds");
    const nlohmann::json privacy =
        b.is_object() && b.contains("privacy") ? b["privacy"] : nlohmann::json();
    study.mode = BodyText(privacy, "mode");
    study.delta = NumberText(privacy, "delta");
    study.planned_epsilon = NumberText(privacy, "planned_epsilon");
    for (const std::string& site : StringList(b, "sites")) AddSite(study, site);
  } else if (e.type == "round_started" && round) {
    RoundView& r = study.rounds_by_number[*round];
    const int64_t attempts = r.attempts + 1;
    r = RoundView();  // a new attempt starts afresh
    r.attempts = attempts;
    r.participants = StringList(b, "participants");
    for (const std::string& site : r.participants) AddSite(study, site);
  } else if (e.type == "secure_aggregation" && round) {
    RoundView& r = study.rounds_by_number[*round];
    r.secure = true;
    r.survivors = StringList(b, "survivors");
    r.dropouts.clear();
    if (b.contains("dropouts") && b["dropouts"].is_object()) {
      for (const auto& [site, reason] : b["dropouts"].items()) {
        r.dropouts[site] = reason.is_string() ? reason.get<std::string>() : reason.dump();
      }
    }
    for (const std::string& site : StringList(b, "dropouts")) r.dropouts[site] = "?";
  } else if (e.type == "aggregate_released" && round) {
    RoundView& r = study.rounds_by_number[*round];
    r.aggregate_sha256 = BodyText(b, "aggregate_sha256");
    if (b.contains("sites") && b["sites"].is_array()) r.released_sites = StringList(b, "sites");
  } else if (e.type == "study_finished") {
    study.status = BodyText(b, "status");
    if (b.is_object() && b.contains("error")) {
      absl::StrAppend(&study.status, ": ", BodyText(b, "error"));
    }
  }
}

// One log as the page uses it.
struct LogView {
  const AuditedLog* log = nullptr;
  Writer writer;
  std::map<std::string, int> unknown_types;  // type -> count
  std::vector<Release> releases;             // site logs
};

struct Refusal {
  std::string who;  // the writer of the log that recorded it
  std::string time, study, site, reason;
};

// ---- The epsilon chart. ----

struct Series {
  std::string label;
  std::string color;
  std::vector<std::pair<int64_t, double>> points;  // (round, epsilon after), by round
  std::optional<double> ceiling;
};

// 1, 2 or 5 times a power of ten, near range/ticks.
double NiceStep(double range, int ticks) {
  const double raw = range / ticks;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude;
}

std::string EpsilonChart(const std::vector<Series>& series) {
  constexpr double kWidth = 960, kHeight = 440;
  constexpr double kLeft = 80, kRight = 730, kTop = 30, kBottom = 380;
  std::string svg = absl::StrFormat(
      "<svg id=\"epsilon-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" "
      "height=\"%g\" viewBox=\"0 0 %g %g\" role=\"img\" aria-labelledby=\"epsilon-chart-title\">"
      "<title id=\"epsilon-chart-title\">Study epsilon spent by each site after each round, "
      "against its ceiling</title>\n",
      kWidth, kHeight, kWidth, kHeight);
  int64_t x_min = INT64_MAX, x_max = INT64_MIN;
  double y_max = 0;
  for (const Series& s : series) {
    for (const auto& [round, eps] : s.points) {
      x_min = std::min(x_min, round);
      x_max = std::max(x_max, round);
      y_max = std::max(y_max, eps);
    }
    if (s.ceiling && std::isfinite(*s.ceiling)) y_max = std::max(y_max, *s.ceiling);
  }
  if (x_min > x_max) {
    absl::StrAppend(&svg, absl::StrFormat("<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">No "
                                          "differentially private release in the site logs "
                                          "given.</text></svg>\n",
                                          kWidth / 2, kHeight / 2));
    return svg;
  }
  if (x_max == x_min) ++x_max;
  if (!(y_max > 0)) y_max = 1;
  const double y_step = NiceStep(y_max * 1.05, 5);
  const double y_top = std::ceil(y_max * 1.05 / y_step) * y_step;
  auto x_of = [&](double round) {
    return kLeft + (round - x_min) / double(x_max - x_min) * (kRight - kLeft);
  };
  auto y_of = [&](double eps) { return kBottom - eps / y_top * (kBottom - kTop); };

  // Grid, axes and their labels.
  absl::StrAppend(&svg, "<g class=\"axes\" font-size=\"12\" fill=\"#333\">\n");
  for (int i = 0; i * y_step <= y_top * (1 + 1e-9); ++i) {
    const double y = y_of(i * y_step);
    absl::StrAppend(&svg, absl::StrFormat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                                          "stroke=\"#e3e3e3\"/><text x=\"%.1f\" y=\"%.1f\" "
                                          "text-anchor=\"end\">%g</text>\n",
                                          kLeft, y, kRight, y, kLeft - 8, y + 4, i * y_step));
  }
  const int64_t x_step = std::max<int64_t>(1, std::llround(NiceStep(double(x_max - x_min), 10)));
  for (int64_t r = (x_min / x_step) * x_step; r <= x_max; r += x_step) {
    if (r < x_min) continue;
    const double x = x_of(double(r));
    absl::StrAppend(&svg, absl::StrFormat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                                          "stroke=\"#333\"/><text x=\"%.1f\" y=\"%.1f\" "
                                          "text-anchor=\"middle\">%d</text>\n",
                                          x, kBottom, x, kBottom + 5, x, kBottom + 20, r));
  }
  absl::StrAppend(
      &svg, absl::StrFormat(
                "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#333\"/>"
                "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#333\"/>\n"
                "<text class=\"axis-label\" x=\"%g\" y=\"%g\" text-anchor=\"middle\" "
                "font-size=\"14\">round</text>\n"
                "<text class=\"axis-label\" transform=\"translate(%g %g) rotate(-90)\" "
                "text-anchor=\"middle\" font-size=\"14\">epsilon spent by the study (after the "
                "round's releases)</text>\n</g>\n",
                kLeft, kBottom, kRight, kBottom, kLeft, kTop, kLeft, kBottom, (kLeft + kRight) / 2,
                kBottom + 45, kLeft - 55, (kTop + kBottom) / 2));

  // Ceilings: one dashed line if all sites share one, else one per site.
  std::set<double> ceilings;
  for (const Series& s : series) {
    if (s.ceiling && std::isfinite(*s.ceiling)) ceilings.insert(*s.ceiling);
  }
  const bool shared_ceiling = ceilings.size() == 1;
  std::string legend;
  double legend_y = kTop + 6;
  auto legend_entry = [&](const std::string& color, bool dashed, const std::string& label) {
    absl::StrAppend(&legend, absl::StrFormat("<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" "
                                             "stroke=\"%s\" stroke-width=\"2.5\"%s/><text x=\"%g\" "
                                             "y=\"%.1f\">%s</text>\n",
                                             kRight + 20, legend_y, kRight + 50, legend_y, color,
                                             dashed ? " stroke-dasharray=\"6 4\"" : "", kRight + 58,
                                             legend_y + 4, Esc(label)));
    legend_y += 22;
  };
  std::string lines;
  if (shared_ceiling) {
    const double y = y_of(*ceilings.begin());
    absl::StrAppend(&lines, absl::StrFormat("<line class=\"ceiling\" x1=\"%g\" y1=\"%.1f\" "
                                            "x2=\"%g\" y2=\"%.1f\" stroke=\"#555\" "
                                            "stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n",
                                            kLeft, y, kRight, y));
  }
  for (const Series& s : series) {
    if (!shared_ceiling && s.ceiling && std::isfinite(*s.ceiling)) {
      const double y = y_of(*s.ceiling);
      absl::StrAppend(&lines, absl::StrFormat("<line class=\"ceiling\" x1=\"%g\" y1=\"%.1f\" "
                                              "x2=\"%g\" y2=\"%.1f\" stroke=\"%s\" "
                                              "stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n",
                                              kLeft, y, kRight, y, s.color));
    }
    std::vector<std::string> points;
    std::string dots;
    for (const auto& [round, eps] : s.points) {
      const double x = x_of(double(round)), y = y_of(eps);
      points.push_back(absl::StrFormat("%.1f,%.1f", x, y));
      absl::StrAppend(&dots, absl::StrFormat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" "
                                             "fill=\"%s\"><title>%s, round %d: epsilon %s"
                                             "</title></circle>",
                                             x, y, s.color, Esc(s.label), round, Number(eps)));
    }
    absl::StrAppend(&lines,
                    absl::StrFormat("<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" "
                                    "points=\"%s\"><title>%s</title></polyline>\n%s\n",
                                    s.color, absl::StrJoin(points, " "), Esc(s.label), dots));
    legend_entry(s.color, false, s.label);
  }
  if (shared_ceiling) {
    legend_entry("#555", true,
                 absl::StrCat("ceiling (epsilon ", absl::StrFormat("%g", *ceilings.begin()), ")"));
  } else if (!ceilings.empty()) {
    legend_entry("#555", true, "ceiling of each site (its colour)");
  }
  absl::StrAppend(&svg, lines, "<g class=\"legend\" font-size=\"13\">\n", legend, "</g>\n</svg>\n");
  return svg;
}

// ---- The page. ----

constexpr absl::string_view kStyle = R"css(
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #1b1b1b; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; }
.meta { color: #555; }
.status { border-radius: 8px; padding: 1rem 1.4rem; margin: 1.5rem 0; border: 2px solid; }
.status h2 { margin: 0 0 0.4rem 0; border: none; }
.status.ok { background: #e7f6ea; border-color: #1e7b34; color: #124d21; }
.status.warn { background: #fff6dd; border-color: #b07d00; color: #5c4100; }
.status.bad { background: #fdeaea; border-color: #b3261e; color: #6b1510; }
.status ul.problems li { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9rem; }
.status ul.notes { font-size: 0.9rem; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #d0d0d0; padding: 0.25rem 0.55rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.time { white-space: nowrap; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.85rem; word-break: break-all; }
.took-part { background: #e7f6ea; }
.dropped { background: #fdeaea; }
.selected { background: #fff6dd; }
.absent { color: #999; }
.mismatch { background: #fdeaea; font-weight: bold; }
.caveat { color: #8a5a00; font-size: 0.85rem; }
figure { margin: 0.5rem 0; }
figcaption { color: #555; font-size: 0.9rem; }
)css";

std::string Td(absl::string_view text, absl::string_view cls = "") {
  return cls.empty() ? absl::StrCat("<td>", Esc(text), "</td>")
                     : absl::StrCat("<td class=\"", cls, "\">", Esc(text), "</td>");
}
std::string TdCode(absl::string_view text) {
  return absl::StrCat("<td><code>", Esc(text), "</code></td>");
}
std::string Th(std::initializer_list<absl::string_view> names) {
  std::string row = "<tr>";
  for (absl::string_view n : names) absl::StrAppend(&row, "<th>", Esc(n), "</th>");
  return row + "</tr>\n";
}

std::string Plural(size_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

std::string StatusSection(const std::vector<LogView>& views,
                          const std::vector<std::string>& problems,
                          const std::vector<std::string>& notes, bool ca_given, bool any_private) {
  std::string cls, heading, text;
  const size_t n = views.size();
  if (!problems.empty()) {
    cls = "bad";
    heading = absl::StrCat(Plural(problems.size(), "problem", "problems"), " found");
    text = absl::StrCat("Checked ", Plural(n, "log", "logs"),
                        ". Do not rely on the tables below where they draw on the entries named "
                        "here:");
  } else if (ca_given) {
    cls = "ok";
    heading = "Verified";
    text = absl::StrCat(
        n == 1 ? "The log is verified" : absl::StrCat("All ", n, " logs verified"),
        ": every entry is signed by a consortium certificate, chained, in order",
        n > 1 ? ", and the logs' cross-references agree." : ".",
        any_private ? " Every release's logged privacy spend matches its recomputation from "
                      "the logged privacy events."
                    : "");
  } else {
    cls = "warn";
    heading = "Not verified against the consortium";
    text = absl::StrCat(
        n == 1 ? "The log is" : absl::StrCat("All ", n, " logs are"), " chained and in order",
        n > 1 ? " and their cross-references agree" : "",
        ", but no consortium CA certificate was given (--ca), so nothing shows that the "
        "entries were signed by members of the consortium.");
  }
  std::string html = absl::StrCat("<section id=\"verification-status\" class=\"status ", cls,
                                  "\">\n<h2>", Esc(heading), "</h2>\n<p>", Esc(text), "</p>\n");
  if (!problems.empty()) {
    html += "<ul class=\"problems\">\n";
    for (const std::string& p : problems) absl::StrAppend(&html, "<li>", Esc(p), "</li>\n");
    html += "</ul>\n";
  }
  if (!notes.empty()) {
    html += "<p>Notes from verification:</p><ul class=\"notes\">\n";
    for (const std::string& note : notes) absl::StrAppend(&html, "<li>", Esc(note), "</li>\n");
    html += "</ul>\n";
  }
  return html + "</section>\n";
}

std::string LogsSection(const std::vector<LogView>& views) {
  std::string html = "<h2>Logs</h2>\n<table>\n";
  html += Th({"file", "written by", "entries", "first entry", "last entry", "violations",
              "entry types not shown here"});
  for (const LogView& v : views) {
    const audit::VerifyReport& r = v.log->verification;
    std::string writer =
        Esc(absl::StrCat(v.writer.role.empty() ? "?" : v.writer.role, " ", v.writer.name));
    if (!v.writer.caveat.empty()) {
      absl::StrAppend(&writer, "<br><span class=\"caveat\">", Esc(v.writer.caveat), "</span>");
    }
    std::vector<std::string> unknown;
    for (const auto& [type, count] : v.unknown_types) {
      unknown.push_back(absl::StrCat(type, " (", count, ")"));
    }
    absl::StrAppend(
        &html, "<tr>", TdCode(v.log->path), "<td>", writer, "</td>",
        Td(absl::StrCat(r.entries), "num"),
        Td(r.parsed.empty() ? "?" : r.parsed.front().time, "time"),
        Td(r.parsed.empty() ? "?" : r.parsed.back().time, "time"),
        Td(absl::StrCat(r.violations.size()), r.violations.empty() ? "num" : "num mismatch"),
        Td(unknown.empty() ? "none" : absl::StrJoin(unknown, ", ")), "</tr>\n");
  }
  return html + "</table>\n";
}

std::string StudiesSection(const std::map<std::string, StudyView>& studies) {
  std::string html = "<h2>Studies</h2>\n";
  if (studies.empty()) return html + "<p>No study appears in the logs given.</p>\n";
  html += "<table>\n" + Th({"study", "plan SHA-256", "sites", "rounds", "privacy mode", "delta",
                            "planned epsilon", "outcome"});
  for (const auto& [id, s] : studies) {
    absl::StrAppend(&html, "<tr>", Td(id), TdCode(s.plan_sha256), Td(s.sites_text),
                    Td(s.rounds, "num"), Td(s.mode), Td(s.delta, "num"),
                    Td(s.planned_epsilon, "num"), Td(s.status), "</tr>\n");
  }
  html += "</table>\n";
  bool any_without = false;
  for (const auto& [id, s] : studies) any_without |= !s.from_coordinator;
  if (any_without) {
    html +=
        "<p class=\"caveat\">Studies known only from site logs show \"?\": give the "
        "coordinator's log for their plan.</p>\n";
  }
  return html;
}

std::string ParticipationSection(const std::map<std::string, StudyView>& studies) {
  std::string html = "<h2>Participation</h2>\n";
  bool any = false;
  for (const auto& [id, s] : studies) {
    if (s.rounds_by_number.empty()) continue;
    any = true;
    absl::StrAppend(&html, "<h3>Study ", Esc(id),
                    "</h3>\n<table class=\"participation\">\n<tr><th>round</th>");
    for (const std::string& site : s.sites) absl::StrAppend(&html, "<th>", Esc(site), "</th>");
    html += "<th>attempts</th><th>aggregate released</th></tr>\n";
    for (const auto& [round, r] : s.rounds_by_number) {
      absl::StrAppend(&html, "<tr>", Td(absl::StrCat(round), "num"));
      for (const std::string& site : s.sites) {
        auto in = [&site](const std::vector<std::string>& list) {
          return std::find(list.begin(), list.end(), site) != list.end();
        };
        const bool selected = in(r.participants);
        // In the sum: a survivor of secure aggregation, or named by the
        // release (or, if the release names no one, selected for a plain sum).
        const bool summed = in(r.survivors) || (r.released_sites && in(*r.released_sites)) ||
                            (selected && !r.secure && r.aggregate_sha256 && !r.released_sites);
        if (auto drop = r.dropouts.find(site); drop != r.dropouts.end()) {
          absl::StrAppend(&html, Td(absl::StrCat("dropped: ", drop->second), "dropped"));
        } else if (summed) {
          absl::StrAppend(&html, Td("took part", "took-part"));
        } else if (selected) {
          absl::StrAppend(&html,
                          Td(r.secure || r.released_sites ? "selected, not in the sum" : "selected",
                             "selected"));
        } else {
          absl::StrAppend(&html, Td("-", "absent"));
        }
      }
      absl::StrAppend(&html, Td(absl::StrCat(r.attempts), "num"),
                      r.aggregate_sha256 ? TdCode(*r.aggregate_sha256) : Td("no"), "</tr>\n");
    }
    html += "</table>\n";
  }
  if (!any) {
    html +=
        "<p>No round appears in the logs given (participation comes from the coordinator's "
        "log).</p>\n";
  }
  return html;
}

std::string ChartSection(const std::vector<LogView>& views) {
  std::set<std::string> study_ids;
  for (const LogView& v : views) {
    for (const Release& r : v.releases) {
      if (r.is_private) study_ids.insert(r.study);
    }
  }
  std::vector<Series> series;
  for (const LogView& v : views) {
    // Per study: the epsilon after each round (its last release in log order:
    // epsilon only grows) and the ceiling.
    std::map<std::string, std::pair<std::map<int64_t, double>, std::optional<double>>> by_study;
    for (const Release& r : v.releases) {
      if (!r.is_private || !r.round || !r.logged_epsilon || !std::isfinite(*r.logged_epsilon)) {
        continue;
      }
      auto& [rounds, ceiling] = by_study[r.study];
      rounds[*r.round] = *r.logged_epsilon;
      if (r.ceiling) ceiling = r.ceiling;
    }
    for (const auto& [study, data] : by_study) {
      Series s{.label = study_ids.size() > 1 ? absl::StrCat(v.writer.name, " (", study, ")")
                                             : v.writer.name,
               .color = kPalette[series.size() % std::size(kPalette)],
               .points = {data.first.begin(), data.first.end()},
               .ceiling = data.second};
      series.push_back(std::move(s));
    }
  }
  return absl::StrCat(
      "<h2>Privacy budget spent</h2>\n<figure>\n", EpsilonChart(series),
      "<figcaption>Each line is one site's epsilon for the study after each round, as its own "
      "log recorded it (privacy.study_epsilon_after of its releases); the dashed line is the "
      "ceiling the site set for the study: the site refuses any release that would take "
      "its line above it.</figcaption>\n</figure>\n");
}

std::string ReleasesSection(const std::vector<LogView>& views) {
  std::string html = "<h2>Releases</h2>\n";
  size_t count = 0;
  std::string rows;
  for (const LogView& v : views) {
    for (const Release& r : v.releases) {
      ++count;
      std::string eps = "not private", check = "";
      std::string check_cls;
      if (r.is_private) {
        eps = r.logged_epsilon ? Number(*r.logged_epsilon) : "?";
        check = r.problem.empty() ? "matches" : r.problem;
        check_cls = r.problem.empty() ? "" : "mismatch";
      }
      absl::StrAppend(&rows, "<tr>", Td(v.writer.name), Td(r.study),
                      Td(r.round ? absl::StrCat(*r.round) : "?", "num"), Td(r.time, "time"),
                      TdCode(r.task), Td(r.kind), Td(r.bytes ? absl::StrCat(*r.bytes) : "?", "num"),
                      TdCode(r.sha256), Td(eps, "num"), Td(check, check_cls), "</tr>\n");
    }
  }
  if (count == 0)
    return html +
           "<p>No release appears in the logs given (releases come from the sites' logs).</p>\n";
  absl::StrAppend(
      &html, "<p>Everything the sites' logs say left them: ", Plural(count, "release", "releases"),
      ". The epsilon is the study's after the release, as logged; the check recomputes "
      "it from the privacy events of this and all earlier releases of the study.</p>\n"
      "<table class=\"releases\">\n",
      Th({"site", "study", "round", "time", "task", "kind", "bytes", "SHA-256", "epsilon after",
          "recomputed"}),
      rows, "</table>\n");
  return html;
}

std::string RefusalsSection(const std::vector<Refusal>& refusals) {
  if (refusals.empty()) return "";
  std::string html =
      "<h2>Refusals</h2>\n<table>\n" + Th({"logged by", "time", "study", "site", "reason"});
  for (const Refusal& r : refusals) {
    absl::StrAppend(&html, "<tr>", Td(r.who), Td(r.time, "time"), Td(r.study), Td(r.site),
                    Td(r.reason), "</tr>\n");
  }
  return html + "</table>\n";
}

}  // namespace

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          out += "\xEF\xBF\xBD";
        } else {
          out += c;
        }
    }
  }
  return out;
}

AuditReport BuildAuditReport(const std::vector<AuditedLog>& logs,
                             const AuditReportOptions& options) {
  AuditReport report;
  std::vector<LogView> views;
  for (const audit::Violation& violation : options.violations) {
    report.problems.push_back(audit::ToString(violation));
  }
  std::map<std::string, StudyView> studies;
  std::vector<Refusal> refusals;
  bool any_private = false;
  for (const AuditedLog& log : logs) {
    LogView v;
    v.log = &log;
    v.writer = WriterOf(log);
    const audit::VerifyReport& r = log.verification;
    for (const audit::Entry& e : r.parsed) {
      if (!KnownType(e.type)) {
        ++v.unknown_types[e.type.empty() ? "(no type)" : e.type];
      }
      ReadCoordinatorEntry(e, studies);
      if (e.type == "task_received" || e.type == "receipt") {
        studies.try_emplace(BodyText(e.body, "study"));
      } else if (e.type == "task_refused") {
        refusals.push_back({.who = v.writer.name,
                            .time = e.time,
                            .study = BodyText(e.body, "study"),
                            .site = v.writer.name,
                            .reason = absl::StrCat(BodyText(e.body, "reason"), ": ",
                                                   BodyText(e.body, "message"))});
      } else if (e.type == "site_refused") {
        refusals.push_back({.who = v.writer.name,
                            .time = e.time,
                            .study = BodyText(e.body, "study"),
                            .site = BodyText(e.body, "site"),
                            .reason = BodyText(e.body, "reason")});
      }
    }
    v.releases = ReadReleases(r.parsed);
    for (const Release& release : v.releases) {
      any_private |= release.is_private;
      if (!release.problem.empty()) {
        report.problems.push_back(absl::StrCat(log.path, " (entry ", release.seq, "): study ",
                                               release.study, ", task ", release.task, ": ",
                                               release.problem));
      }
    }
    views.push_back(std::move(v));
  }
  report.html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>Cohort audit report</title>\n<style>",
      kStyle, "</style>\n</head>\n<body>\n<h1>Cohort audit report</h1>\n<p class=\"meta\">",
      Esc(absl::StrCat(
          "Generated ",
          absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", options.generated_at, absl::UTCTimeZone()),
          " by cohort audit report from ", Plural(logs.size(), "log", "logs"), ".")),
      "</p>\n", StatusSection(views, report.problems, options.notes, options.ca_given, any_private),
      LogsSection(views), StudiesSection(studies), ParticipationSection(studies),
      ChartSection(views), ReleasesSection(views), RefusalsSection(refusals), "</body>\n</html>\n");
  return report;
}

}  // namespace cohort::tools
