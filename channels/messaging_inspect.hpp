#pragma once

#include "messaging/message_notification.hpp"
#include "messaging/queued_message.hpp"

#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/none.hpp>
#include <caf/optional.hpp>
#include <caf/variant.hpp>

#include <cstdint>
#include <optional>
#include <variant>

/// CAF 0.17 `inspect` overloads for the messaging types that travel inside
/// actor messages. They live in `tasker::messaging` so that ADL finds them.
///
/// CAF 0.17 inspects `std::chrono::time_point` and `std::map` natively, but
/// neither `std::optional` nor `std::variant`: those go over the wire as
/// `caf::optional` and `caf::variant` (same layout: a flag or a one-byte
/// index, then the value) and are converted back in a load callback.
namespace tasker::messaging {

/// Inspects a `QueuedMessage`; time points travel as the clock's ticks since
/// the epoch.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, QueuedMessage& x) {
  return f(caf::meta::type_name("QueuedMessage"), x.queue, x.id,
           x.delivery_count, x.enqueued_at, x.visible_at, x.leased, x.payload,
           x.headers);
}

/// Inspects an `Available` notification.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Available& x) {
  caf::optional<int64_t> msg_id;
  if (x.msg_id)
    msg_id = *x.msg_id;
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.msg_id = msg_id ? std::optional<int64_t>{*msg_id} : std::nullopt;
    return caf::none;
  });
  return f(caf::meta::type_name("Available"), x.queue, msg_id, load);
}

/// Inspects a `Message` notification.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Message& x) {
  return f(caf::meta::type_name("Message"), x.message);
}

/// Inspects a `MessageNotification` (found by ADL through its alternatives).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, MessageNotification& x) {
  caf::variant<Available, Message> alternative;
  if (auto available = std::get_if<Available>(&x))
    alternative = *available;
  else
    alternative = std::get<Message>(x);
  auto load = caf::meta::load_callback([&]() -> caf::error {
    if (auto available = caf::get_if<Available>(&alternative))
      x = std::move(*available);
    else
      x = std::move(caf::get<Message>(alternative));
    return caf::none;
  });
  return f(caf::meta::type_name("MessageNotification"), alternative, load);
}

} // namespace tasker::messaging
