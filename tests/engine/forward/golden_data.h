// Golden data for the forward-pass tests: logits (and streams) the official reference code
// produced under the canonical convention (../shared/golden/v4-tiny/README.md), and comparison
// helpers.
//
// A golden set is a directory with a manifest.json written by the shared generator (gen_golden.py):
// `files` maps keys (tokens, prefill_full_logits, prefill300_logits = the prefill of the first N
// tokens, decode_logits = the rows N.. decoded one at a time, mtp_logits, layer_streams_prefill340)
// to raw little-endian files with their shapes. Sets:
//  - tests/data/v4-tiny, tests/data/v4-tiny-c: copied from ../shared/golden, checkpoint included;
//  - tests/data/golden-sweep/<config>-s<seed>: made by scripts/golden_sweep.py; their weights are
//    not committed but regenerated from the seed (`weights` in the manifest; golden_sweep_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/json.h"

namespace dsagent::engine::forward::testing {

inline const std::filesystem::path kDataDir = std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data";
inline const std::filesystem::path kTinyModel = kDataDir / "v4-tiny";
constexpr int64_t kVocab = 512;

// The bytes of `path` as an array of T (empty when unreadable).
template <class T>
std::vector<T> ReadRawFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

// A file of the v4-tiny set.
template <class T>
std::vector<T> ReadRaw(const std::string& file) {
  return ReadRawFile<T>(kTinyModel / file);
}

// One golden set, described by its manifest.json.
class GoldenSet {
 public:
  // Reads dir/manifest.json; fails the calling test (ADD_FAILURE) when it is missing or invalid.
  explicit GoldenSet(std::filesystem::path dir) : dir_(std::move(dir)) {
    std::ifstream in(dir_ / "manifest.json");
    manifest_ = Json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (manifest_.is_discarded() || !manifest_.contains("files")) {
      ADD_FAILURE() << dir_ << ": no valid manifest.json";
      manifest_ = Json{{"files", Json::object()}};
    }
  }

  const std::filesystem::path& dir() const { return dir_; }
  const Json& manifest() const { return manifest_; }
  std::string name() const { return dir_.filename().string(); }

  bool Has(const std::string& key) const { return manifest_["files"].contains(key); }
  // Dimension `axis` of the file `key` (0 when the key is absent).
  int64_t Dim(const std::string& key, size_t axis) const {
    if (!Has(key)) return 0;
    return manifest_["files"][key]["shape"].at(axis).get<int64_t>();
  }
  int64_t tokens() const { return Dim("tokens", 0); }
  int64_t prefill_part() const { return Dim("prefill300_logits", 0); }
  int64_t vocab() const { return Dim("prefill_full_logits", 1); }

  // The file of `key`, checked against the manifest's element count (ADD_FAILURE otherwise).
  template <class T>
  std::vector<T> Read(const std::string& key) const {
    if (!Has(key)) {
      ADD_FAILURE() << name() << ": the manifest has no " << key;
      return {};
    }
    const Json& f = manifest_["files"][key];
    std::vector<T> v = ReadRawFile<T>(dir_ / f["file"].get<std::string>());
    int64_t count = 1;
    for (const Json& d : f["shape"]) count *= d.get<int64_t>();
    if (static_cast<int64_t>(v.size()) != count) {
      ADD_FAILURE() << name() << ": " << f["file"] << " holds " << v.size() << " values, the "
                    << "manifest says " << count;
    }
    return v;
  }

 private:
  std::filesystem::path dir_;
  Json manifest_;
};

// A golden set's directory name as a test name (gtest allows letters, digits and '_').
inline std::string TestName(std::string set_name) {
  for (char& c : set_name) {
    if (c == '-') c = '_';
  }
  return set_name;
}

// How two [rows, width] float arrays compare.
struct Agreement {
  int64_t rows = 0;
  int64_t top1_agree = 0;     // rows whose argmax is the same
  int64_t differing = 0;      // values not bit-identical
  int64_t first_differing_row = -1;
  double max_abs = 0;         // max |a - b|
  double relative_error = 0;  // ||a - b|| / ||b||
};

inline Agreement Compare(const float* a, const float* b, int64_t rows, int64_t width) {
  Agreement r;
  r.rows = rows;
  double num = 0, den = 0;
  for (int64_t t = 0; t < rows; ++t) {
    int64_t ia = 0, ib = 0;
    for (int64_t i = 0; i < width; ++i) {
      const float x = a[t * width + i], y = b[t * width + i];
      if (x > a[t * width + ia]) ia = i;
      if (y > b[t * width + ib]) ib = i;
      if (x != y) {
        ++r.differing;
        if (r.first_differing_row < 0) r.first_differing_row = t;
      }
      const double d = static_cast<double>(x) - y;
      r.max_abs = std::fmax(r.max_abs, std::fabs(d));
      num += d * d;
      den += static_cast<double>(y) * y;
    }
    r.top1_agree += ia == ib;
  }
  r.relative_error = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return r;
}

inline std::string Describe(const Agreement& a) {
  return "top-1 " + std::to_string(a.top1_agree) + "/" + std::to_string(a.rows) + ", " +
         std::to_string(a.differing) + " values differ (first in row " +
         std::to_string(a.first_differing_row) + "), max |d| " + std::to_string(a.max_abs) +
         ", rel err " + std::to_string(a.relative_error);
}

}  // namespace dsagent::engine::forward::testing
