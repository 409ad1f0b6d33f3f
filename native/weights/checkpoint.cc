#include "weights/checkpoint.h"

#include <algorithm>
#include <string_view>
#include <unordered_set>

namespace semsearch {

TensorIndex index_tensors(const SafetensorsFile& file, const CanonicalName& canonical) {
  TensorIndex by_canonical;
  for (const auto& [name, entry] : file.tensors()) {
    auto [it, fresh] = by_canonical.emplace(canonical(name), name);
    if (!fresh)
      fail(file.path(), "tensors " + it->second + " and " + name + " map to the same weight");
  }
  return by_canonical;
}

void check_expected(const SafetensorsFile& file, const TensorIndex& by_canonical,
                    const ExpectedTensors& expected, const std::string& missing_prefix,
                    const std::string& encoder) {
  const std::string& path = file.path();
  std::vector<std::string> missing;
  for (const auto& [name, shape] : expected) {
    auto it = by_canonical.find(name);
    if (it == by_canonical.end()) {
      missing.push_back(name);
      continue;
    }
    const TensorEntry& entry = file.tensors().at(it->second);
    if (entry.shape != shape) {
      fail(path, "tensor " + it->second + " has shape " + shape_string(entry.shape) +
                     ", expected " + shape_string(shape));
    }
    if (entry.dtype != "F32" && entry.dtype != "F16" && entry.dtype != "BF16") {
      fail(path,
           "tensor " + it->second + " has dtype " + entry.dtype + ", expected F32, F16 or BF16");
    }
  }
  if (!missing.empty()) {
    std::string more =
        missing.size() > 1 ? " (and " + std::to_string(missing.size() - 1) + " more)" : "";
    fail(path, "missing tensor " + missing_prefix + missing.front() + more + " for " + encoder +
                   " with this config.json");
  }
}

namespace {

// a < b with runs of digits compared as numbers: "layer.6." before "layer.10.".
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  auto digit = [](char ch) { return ch >= '0' && ch <= '9'; };
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      size_t ei = i, ej = j;
      while (ei < a.size() && digit(a[ei])) ++ei;
      while (ej < b.size() && digit(b[ej])) ++ej;
      std::string_view x(a.data() + i, ei - i), y(b.data() + j, ej - j);
      while (x.size() > 1 && x.front() == '0') x.remove_prefix(1);
      while (y.size() > 1 && y.front() == '0') y.remove_prefix(1);
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      i = ei;
      j = ej;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

}  // namespace

void check_unexpected(const SafetensorsFile& file, const ExpectedTensors& expected,
                      const CanonicalName& canonical,
                      const std::function<bool(const std::string&)>& ignored,
                      const std::string& encoder) {
  std::unordered_set<std::string> wanted;
  for (const auto& [name, shape] : expected) wanted.insert(name);
  std::vector<std::string> unexpected;
  for (const auto& [name, entry] : file.tensors()) {
    if (!wanted.count(canonical(name)) && !ignored(name)) unexpected.push_back(name);
  }
  if (!unexpected.empty()) {
    // The first one in reading order: a 12-layer checkpoint under a 6-layer config is named by
    // layer 6's first tensor, not layer 10's.
    std::sort(unexpected.begin(), unexpected.end(), natural_less);
    std::string more =
        unexpected.size() > 1 ? " (and " + std::to_string(unexpected.size() - 1) + " more)" : "";
    fail(file.path(), "unexpected tensor " + unexpected.front() + more + ": not part of " +
                          encoder + " with this config.json");
  }
}

}  // namespace semsearch
