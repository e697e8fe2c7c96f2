#pragma once

#include "channels/actor_interfaces.hpp"
#include "messaging/messaging_provider.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace tasker::actors {

struct FallbackPollerOptions {
  /// The queues it reads.
  std::vector<std::string> queues;
  /// Read every queue on a timer (`Hybrid`, `PollingOnly`). Off, it reads
  /// only when its router asks.
  bool timer = true;
  std::chrono::milliseconds interval{1000};
  /// Most messages per read.
  int32_t batch_size = 20;
  /// Lease taken by a read.
  std::chrono::seconds visibility_timeout{30};
};

/// The reading hand of an event system: every interval (and whenever its
/// router asks) it reads each queue in batches, after reserving capacity
/// with the router so it never reads more than can be processed, and sends
/// what it read to the router, where it meets the listener's notifications.
/// A full batch is followed by another read at once, so a backlog drains
/// at full speed. It also hands back messages the router will not process.
/// Provider calls block: run it detached unless the provider is in memory.
class FallbackPoller : public channels::fallback_poller_actor::base {
 public:
  FallbackPoller(caf::actor_config& cfg, messaging::MessagingProvider provider,
                 channels::notification_router_actor router,
                 FallbackPollerOptions options);

  const char* name() const override {
    return "fallback_poller";
  }

  behavior_type make_behavior() override;

  void on_exit() override;

 private:
  void poll(const std::string& queue, bool scan);
  void read(const std::string& queue, const channels::PollCapacity& capacity);
  void release(const channels::ReleaseMessages& request);

  messaging::MessagingProvider provider_;
  channels::notification_router_actor router_;
  FallbackPollerOptions options_;
  bool stopped_ = false;
  /// Queues with a reservation outstanding, and those asked for meanwhile
  /// (with whether any of the asks wanted a scan).
  std::set<std::string> reading_;
  std::map<std::string, bool> again_;
  int64_t released_ = 0;
  int64_t release_failures_ = 0;
};

} // namespace tasker::actors
