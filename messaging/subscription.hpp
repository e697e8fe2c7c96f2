#pragma once

#include <functional>
#include <utility>

namespace tasker::messaging {

/// Owns a push subscription. Destroying it (or calling `cancel`) stops the
/// deliveries and returns only when no handler call is running any more,
/// so the handler's captures may be destroyed right after.
class Subscription {
 public:
  Subscription() = default;

  explicit Subscription(std::function<void()> cancel)
      : cancel_(std::move(cancel)) {}

  Subscription(Subscription&& other) noexcept
      : cancel_(std::exchange(other.cancel_, nullptr)) {}

  Subscription& operator=(Subscription&& other) noexcept {
    if (this != &other) {
      cancel();
      cancel_ = std::exchange(other.cancel_, nullptr);
    }
    return *this;
  }

  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  ~Subscription() {
    cancel();
  }

  /// Returns true while deliveries may still arrive.
  bool active() const noexcept {
    return static_cast<bool>(cancel_);
  }

  void cancel() {
    if (auto f = std::exchange(cancel_, nullptr))
      f();
  }

 private:
  std::function<void()> cancel_;
};

} // namespace tasker::messaging
