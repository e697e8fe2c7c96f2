#include "core/edit_distance.hpp"

#include <algorithm>

namespace tasker::core {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment: a swap of adjacent letters is one edit.
  std::vector<std::vector<std::size_t>> d(
      a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i)
    d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j)
    d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

std::string closest_match(std::string_view word,
                          const std::vector<std::string>& candidates,
                          std::size_t max_distance) {
  // Short words need a closer match: "base" is no typo of "name".
  auto half = (word.size() + 1) / 2;
  auto limit = std::min(max_distance, half > 0 ? half - 1 : 0);
  std::string best;
  auto best_distance = limit + 1;
  for (auto& candidate : candidates) {
    auto d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

} // namespace tasker::core
