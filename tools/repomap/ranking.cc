#include "tools/repomap/ranking.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <tuple>
#include <utility>

namespace dsagent::repomap {
namespace {

constexpr double kDamping = 0.85;
constexpr int kMaxIterations = 100;
constexpr double kFocusReferencerBoost = 50;

bool IsCompoundName(const std::string& s) {
  bool lower = false, upper = false;
  for (char c : s) {
    if (c == '_' || c == '-') return true;
    lower |= std::islower(static_cast<unsigned char>(c)) != 0;
    upper |= std::isupper(static_cast<unsigned char>(c)) != 0;
  }
  return lower && upper;  // camelCase / PascalCase
}

struct Edge {
  size_t from, to;
  const std::string* identifier;
  double weight;
};

}  // namespace

double IdentifierWeight(const std::string& identifier, bool mentioned, size_t defining_files) {
  double mul = 1;
  if (mentioned) mul *= 10;
  if (identifier.size() >= 8 && IsCompoundName(identifier)) mul *= 10;
  if (!identifier.empty() && identifier[0] == '_') mul *= 0.1;
  if (defining_files > 5) mul *= 0.1;
  return mul;
}

std::vector<RankedDefinition> RankDefinitions(const std::vector<ScannedFile>& files,
                                              const RankingFocus& focus) {
  const size_t n = files.size();
  // identifier -> defining files (sorted, unique); identifier -> referencing file -> count.
  std::map<std::string, std::vector<size_t>> definers;
  std::map<std::string, std::map<size_t, size_t>> references;
  for (size_t f = 0; f < n; ++f) {
    for (const Tag& t : files[f].tags.tags) {
      if (t.role == TagRole::kDefinition) {
        auto& v = definers[t.name];
        if (v.empty() || v.back() != f) v.push_back(f);
      } else {
        ++references[t.name][f];
      }
    }
  }
  std::vector<bool> focused(n, false);
  for (size_t f = 0; f < n; ++f) focused[f] = focus.files.count(files[f].path) != 0;

  std::vector<Edge> edges;
  std::vector<double> out_weight(n, 0);
  for (const auto& [identifier, refs] : references) {
    auto d = definers.find(identifier);
    if (d == definers.end()) continue;
    const double mul =
        IdentifierWeight(identifier, focus.identifiers.count(identifier) != 0, d->second.size());
    for (const auto& [from, count] : refs) {
      const double w =
          mul * std::sqrt(static_cast<double>(count)) * (focused[from] ? kFocusReferencerBoost : 1);
      for (size_t to : d->second) {
        if (to == from) continue;  // a file using its own definitions says nothing about others
        edges.push_back({from, to, &d->first, w});
        out_weight[from] += w;
      }
    }
  }

  // Personalisation: the focus files, and the files defining a mentioned identifier; uniform
  // when the session has no focus yet.
  std::vector<double> personal(n, 0);
  double personal_sum = 0;
  for (size_t f = 0; f < n; ++f) {
    if (focused[f]) personal[f] = 1;
  }
  for (const std::string& id : focus.identifiers) {
    auto d = definers.find(id);
    if (d == definers.end()) continue;
    for (size_t f : d->second) personal[f] = 1;
  }
  for (double p : personal) personal_sum += p;
  if (personal_sum == 0) {
    std::fill(personal.begin(), personal.end(), 1);
    personal_sum = static_cast<double>(n);
  }
  for (double& p : personal) p /= personal_sum;

  // Power iteration; rank of files without out-edges (dangling) is redistributed like the
  // teleport, along the personalisation vector.
  std::vector<double> rank = personal, next(n);
  for (int it = 0; it < kMaxIterations && n > 0; ++it) {
    double dangling = 0;
    for (size_t f = 0; f < n; ++f) {
      if (out_weight[f] == 0) dangling += rank[f];
    }
    for (size_t f = 0; f < n; ++f) next[f] = (1 - kDamping + kDamping * dangling) * personal[f];
    for (const Edge& e : edges)
      next[e.to] += kDamping * rank[e.from] * e.weight / out_weight[e.from];
    double delta = 0;
    for (size_t f = 0; f < n; ++f) delta += std::fabs(next[f] - rank[f]);
    rank.swap(next);
    if (delta < 1e-12 * static_cast<double>(n)) break;
  }

  // Each file's rank, split over its out-edges, lands on (defining file, identifier).
  std::map<std::pair<size_t, std::string>, double> definition_rank;
  for (const Edge& e : edges) {
    definition_rank[{e.to, *e.identifier}] += rank[e.from] * e.weight / out_weight[e.from];
  }

  std::vector<RankedDefinition> out;
  for (size_t f = 0; f < n; ++f) {
    if (focused[f]) continue;
    const auto& tags = files[f].tags.tags;
    for (size_t t = 0; t < tags.size(); ++t) {
      // Namespaces and modules frame everything and say little; they show as scope headers.
      if (tags[t].role != TagRole::kDefinition || tags[t].kind == "namespace" ||
          tags[t].kind == "module") {
        continue;
      }
      auto it = definition_rank.find({f, tags[t].name});
      // Unreferenced definitions still order by their file's rank, far below referenced ones.
      double r = (it != definition_rank.end() ? it->second : 0) + 1e-6 * rank[f];
      if (focus.identifiers.count(tags[t].name) != 0) r *= 10;
      out.push_back({f, t, r});
    }
  }
  std::sort(out.begin(), out.end(), [&](const RankedDefinition& a, const RankedDefinition& b) {
    if (a.rank != b.rank) return a.rank > b.rank;
    const Tag& ta = files[a.file].tags.tags[a.tag];
    const Tag& tb = files[b.file].tags.tags[b.tag];
    return std::tie(files[a.file].path, ta.line, ta.column, ta.name) <
           std::tie(files[b.file].path, tb.line, tb.column, tb.name);
  });
  return out;
}

}  // namespace dsagent::repomap
