#include "messaging/rabbitmq/amqp_message.hpp"

#include "messaging/rabbitmq/amqp_errors.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <random>

namespace tasker::messaging {

namespace {

constexpr int kTagBits = 12;
constexpr int kSequenceBits = 10;
/// 2025-01-01T00:00:00Z in Unix milliseconds.
constexpr int64_t kIdEpochMs = 1735689600000;

constexpr std::string_view kAppId = "tasker";
constexpr std::string_view kCarriedDeliveriesHeader = "x-tasker-deliveries";
constexpr uint8_t kPersistent = 2;

amqp_bytes_t bytes_of(std::string_view text) {
  return {text.size(), const_cast<char*>(text.data())};
}

bool is_bookkeeping_header(std::string_view name) {
  return name == "x-death" || name == "x-delivery-count"
         || name == kCarriedDeliveriesHeader
         || name.starts_with("x-first-death-")
         || name.starts_with("x-last-death-");
}

std::optional<int64_t> integer_of(const amqp_field_value_t& value) {
  switch (value.kind) {
    case AMQP_FIELD_KIND_I8: return value.value.i8;
    case AMQP_FIELD_KIND_U8: return value.value.u8;
    case AMQP_FIELD_KIND_I16: return value.value.i16;
    case AMQP_FIELD_KIND_U16: return value.value.u16;
    case AMQP_FIELD_KIND_I32: return value.value.i32;
    case AMQP_FIELD_KIND_U32: return value.value.u32;
    case AMQP_FIELD_KIND_I64: return value.value.i64;
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP:
      return static_cast<int64_t>(value.value.u64);
    default: return std::nullopt;
  }
}

// Header values of other publishers may be of any AMQP type: scalars become
// text, tables and arrays are left out.
std::optional<std::string> text_of(const amqp_field_value_t& value) {
  switch (value.kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES: return to_string(value.value.bytes);
    case AMQP_FIELD_KIND_BOOLEAN: return value.value.boolean ? "true" : "false";
    case AMQP_FIELD_KIND_F32: return std::to_string(value.value.f32);
    case AMQP_FIELD_KIND_F64: return std::to_string(value.value.f64);
    default:
      if (auto n = integer_of(value))
        return std::to_string(*n);
      return std::nullopt;
  }
}

std::optional<std::string> text_entry(const amqp_table_t& table,
                                      std::string_view key) {
  for (int i = 0; i < table.num_entries; ++i) {
    if (to_string(table.entries[i].key) == key)
      return text_of(table.entries[i].value);
  }
  return std::nullopt;
}

// x-death lists the dead-letterings, latest first; the expiry that ends a
// delay (a TTL queue dead-lettering back to its target) is not one.
std::optional<std::pair<std::string, std::string>>
latest_death(const amqp_field_value_t& value) {
  if (value.kind != AMQP_FIELD_KIND_ARRAY)
    return std::nullopt;
  const auto& deaths = value.value.array;
  for (int i = 0; i < deaths.num_entries; ++i) {
    const auto& death = deaths.entries[i];
    if (death.kind != AMQP_FIELD_KIND_TABLE)
      continue;
    auto reason = text_entry(death.value.table, "reason");
    auto queue = text_entry(death.value.table, "queue");
    if (reason && queue && *reason != "expired")
      return std::pair{*reason, *queue};
  }
  return std::nullopt;
}

std::optional<int64_t> parse_id(std::string_view text) {
  int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc{} || end != text.data() + text.size() || id <= 0)
    return std::nullopt;
  return id;
}

} // namespace

int64_t next_message_id() {
  static const int64_t tag = [] {
    std::random_device device;
    return static_cast<int64_t>(device() & ((1u << kTagBits) - 1));
  }();
  static std::atomic<int64_t> last{0};
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    Clock::now().time_since_epoch())
                    .count();
  auto floor = (now_ms - kIdEpochMs) << kSequenceBits;
  auto previous = last.load();
  int64_t next = 0;
  do {
    next = std::max(previous + 1, floor);
  } while (!last.compare_exchange_weak(previous, next));
  return (next << kTagBits) | tag;
}

Clock::time_point send_time_of(int64_t id) {
  auto ms = (id >> (kTagBits + kSequenceBits)) + kIdEpochMs;
  return Clock::time_point{std::chrono::milliseconds{ms}};
}

EncodedProperties::EncodedProperties(const AmqpMessage& message)
    : message_id_(std::to_string(message.id)) {
  entries_.reserve(message.headers.size() + 1);
  for (const auto& [name, value] : message.headers) {
    amqp_table_entry_t entry{};
    entry.key = bytes_of(name);
    entry.value.kind = AMQP_FIELD_KIND_UTF8;
    entry.value.value.bytes = bytes_of(value);
    entries_.push_back(entry);
  }
  if (message.carried_deliveries > 0) {
    amqp_table_entry_t entry{};
    entry.key = bytes_of(kCarriedDeliveriesHeader);
    entry.value.kind = AMQP_FIELD_KIND_I64;
    entry.value.value.i64 = message.carried_deliveries;
    entries_.push_back(entry);
  }
  properties_._flags = AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_APP_ID_FLAG
                       | AMQP_BASIC_TIMESTAMP_FLAG
                       | AMQP_BASIC_DELIVERY_MODE_FLAG;
  properties_.message_id = bytes_of(message_id_);
  properties_.app_id = bytes_of(kAppId);
  properties_.timestamp
      = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                  send_time_of(message.id).time_since_epoch())
                                  .count());
  properties_.delivery_mode = kPersistent;
  if (!entries_.empty()) {
    properties_._flags |= AMQP_BASIC_HEADERS_FLAG;
    properties_.headers.num_entries = static_cast<int>(entries_.size());
    properties_.headers.entries = entries_.data();
  }
}

Delivery decode_delivery(const amqp_basic_properties_t& properties,
                         amqp_bytes_t body) {
  Delivery out;
  out.body = to_string(body);
  auto flags = properties._flags;
  std::optional<int64_t> id;
  if (flags & AMQP_BASIC_MESSAGE_ID_FLAG)
    id = parse_id(to_string(properties.message_id));
  out.from_tasker = id && (flags & AMQP_BASIC_APP_ID_FLAG)
                    && to_string(properties.app_id) == kAppId;
  out.id = out.from_tasker ? *id : next_message_id();
  if (flags & AMQP_BASIC_TIMESTAMP_FLAG)
    out.timestamp = Clock::time_point{
        std::chrono::seconds{static_cast<int64_t>(properties.timestamp)}};
  if (!(flags & AMQP_BASIC_HEADERS_FLAG))
    return out;
  const auto& table = properties.headers;
  for (int i = 0; i < table.num_entries; ++i) {
    auto name = to_string(table.entries[i].key);
    const auto& value = table.entries[i].value;
    if (name == "x-delivery-count") {
      out.returned = integer_of(value);
    } else if (name == kCarriedDeliveriesHeader) {
      out.carried_deliveries
          = static_cast<int32_t>(integer_of(value).value_or(0));
    } else if (name == "x-death") {
      out.broker_death = latest_death(value);
    } else if (!is_bookkeeping_header(name)) {
      if (auto text = text_of(value))
        out.headers.emplace(std::move(name), std::move(*text));
    }
  }
  return out;
}

QueuedMessage to_queued_message(const Delivery& delivery, Clock::time_point now,
                                std::chrono::seconds lease) {
  QueuedMessage out;
  out.queue = delivery.queue;
  out.id = delivery.id;
  auto count = int64_t{delivery.carried_deliveries} + 1;
  if (delivery.returned)
    count += *delivery.returned;
  else if (delivery.redelivered)
    count += 1;
  out.delivery_count = static_cast<int32_t>(count);
  out.enqueued_at = delivery.from_tasker ? send_time_of(delivery.id)
                                         : delivery.timestamp.value_or(now);
  out.visible_at = now + lease;
  out.leased = true;
  out.payload = delivery.body;
  out.headers = delivery.headers;
  if (delivery.broker_death
      && !out.headers.contains(std::string{kDeadLetterReasonHeader})) {
    const auto& [reason, queue] = *delivery.broker_death;
    out.headers[std::string{kDeadLetterReasonHeader}]
        = reason == "delivery_limit" ? std::string{kMaxDeliveriesReason}
                                     : reason;
    out.headers[std::string{kOriginalQueueHeader}] = queue;
    out.headers[std::string{kOriginalIdHeader}] = std::to_string(delivery.id);
  }
  return out;
}

} // namespace tasker::messaging
