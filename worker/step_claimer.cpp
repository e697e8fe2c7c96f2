#include "worker/step_claimer.hpp"

#include <unordered_map>
#include <utility>

namespace tasker::worker {

StepClaimer::StepClaimer(messaging::MessagingProvider provider,
                         std::chrono::seconds lease)
    : provider_(std::move(provider)), lease_(lease),
      grouper_(
          [this](const std::string& queue, std::vector<int64_t> ids) {
            return claim_all(queue, std::move(ids));
          },
          kMaxBatch) {}

StepClaimer::Claimed StepClaimer::claim(const std::string& queue, int64_t id) {
  return grouper_.submit(queue, id);
}

uint64_t StepClaimer::calls() const {
  return grouper_.calls();
}

std::vector<StepClaimer::Claimed>
StepClaimer::claim_all(const std::string& queue, std::vector<int64_t> ids) {
  if (ids.size() == 1)
    return {provider_.read_by_id(queue, ids.front(), lease_)};
  auto claimed = provider_.read_by_ids(queue, ids, lease_);
  if (!claimed)
    return std::vector<Claimed>(ids.size(), Claimed{claimed.error()});
  std::unordered_map<int64_t, messaging::QueuedMessage> by_id;
  for (auto& message : *claimed) {
    auto id = message.id;
    by_id.emplace(id, std::move(message));
  }
  std::vector<Claimed> out;
  for (auto id : ids) {
    auto found = by_id.find(id);
    if (found == by_id.end())
      out.emplace_back(std::optional<messaging::QueuedMessage>{});
    else
      out.emplace_back(
          std::optional<messaging::QueuedMessage>{std::move(found->second)});
  }
  return out;
}

} // namespace tasker::worker
