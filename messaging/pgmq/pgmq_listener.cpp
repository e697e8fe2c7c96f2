#include "messaging/pgmq/pgmq_listener.hpp"

#include "config/queue_names.hpp"
#include "core/logger.hpp"
#include "messaging/pgmq/pg_errors.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <queue>
#include <set>
#include <utility>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace tasker::messaging {

namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr std::string_view kComponent = "pgmq";
constexpr std::string_view kChannelPrefix = "pgmq_message_ready.";
// Upper bound of one wait on the socket, so a missed wake-up costs little.
constexpr milliseconds kMaxWait{1000};

// One subscription: its queues and handler, and what lets cancel wait for
// a running handler call without the handler ever running under a lock.
struct Entry {
  std::set<std::string> queues;
  NotificationHandler handler;
  std::mutex mutex;
  std::condition_variable idle;
  bool cancelled = false;
  int calls = 0;

  void deliver(MessageNotification notification) {
    {
      std::lock_guard<std::mutex> guard{mutex};
      if (cancelled)
        return;
      ++calls;
    }
    try {
      handler(std::move(notification));
    } catch (const std::exception& e) {
      core::log_error(kComponent,
                      std::string{"notification handler threw: "} + e.what());
    } catch (...) {
      core::log_error(kComponent, "notification handler threw");
    }
    {
      std::lock_guard<std::mutex> guard{mutex};
      --calls;
    }
    idle.notify_all();
  }
};

// Collects the payloads libpqxx hands to a channel's receiver.
class Inbox : public pqxx::notification_receiver {
 public:
  Inbox(pqxx::connection_base& connection, const std::string& channel,
        std::vector<std::string>& sink)
      : pqxx::notification_receiver(connection, channel), sink_(sink) {}

  void operator()(const std::string& payload, int) override {
    sink_.push_back(payload);
  }

 private:
  std::vector<std::string>& sink_;
};

// A notification waiting for its message to become visible.
struct Held {
  SteadyClock::time_point due;
  uint64_t sequence;
  MessageNotification notification;

  bool operator>(const Held& other) const {
    return std::tie(due, sequence) > std::tie(other.due, other.sequence);
  }
};

// A parsed payload and how long after its arrival it is due.
struct Parsed {
  MessageNotification notification;
  SteadyClock::duration hold{};
};

std::optional<Clock::time_point> timestamp_field(const nlohmann::json& j,
                                                 const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string())
    return std::nullopt;
  return parse_iso_timestamp(it->get<std::string>());
}

std::optional<Parsed> parse_payload(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return std::nullopt;
  try {
    auto type = j.at("event_type").get<std::string>();
    auto queue = j.at("queue_name").get<std::string>();
    auto ready_at = timestamp_field(j, "ready_at");
    auto enqueued_at = timestamp_field(j, "enqueued_at");
    Parsed parsed;
    // Server-relative delay: immune to clock skew between hosts.
    if (ready_at && enqueued_at && *ready_at > *enqueued_at)
      parsed.hold = *ready_at - *enqueued_at;
    if (type == "message_with_payload") {
      QueuedMessage m;
      m.queue = std::move(queue);
      m.id = j.at("msg_id").get<int64_t>();
      m.delivery_count = j.value("read_ct", 0);
      m.enqueued_at = enqueued_at.value_or(Clock::now());
      m.visible_at = ready_at.value_or(m.enqueued_at);
      m.leased = false;
      m.payload = j.at("message").dump();
      if (auto h = j.find("headers"); h != j.end())
        m.headers = headers_from_json(*h);
      parsed.notification = Message{std::move(m)};
    } else if (type == "message_ready") {
      parsed.notification
          = Available{std::move(queue), j.at("msg_id").get<int64_t>()};
    } else if (type == "batch_ready") {
      parsed.notification = Available{std::move(queue), std::nullopt};
    } else {
      return std::nullopt;
    }
    return parsed;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

std::string describe_queues(const std::vector<std::string>& queues) {
  std::string out;
  for (const auto& q : queues) {
    if (!out.empty())
      out += ", ";
    out += '\'' + q + '\'';
  }
  return out;
}

} // namespace

// -- free functions -----------------------------------------------------------

Headers headers_from_json(const nlohmann::json& object) {
  Headers headers;
  if (!object.is_object())
    return headers;
  for (const auto& [key, value] : object.items())
    headers[key] = value.is_string() ? value.get<std::string>() : value.dump();
  return headers;
}

std::string notify_namespace(std::string_view queue) {
  constexpr std::string_view orchestration = "orchestration";
  constexpr std::string_view suffix = "_queue";
  if (queue.starts_with(orchestration))
    return std::string{orchestration};
  if (auto ns = config::namespace_of_worker_queue(queue))
    return *ns;
  if (queue.size() > suffix.size() && queue.ends_with(suffix))
    return std::string{queue.substr(0, queue.size() - suffix.size())};
  return "default";
}

std::string notify_channel(std::string_view queue) {
  return std::string{kChannelPrefix} + notify_namespace(queue);
}

std::optional<Clock::time_point> parse_iso_timestamp(std::string_view text) {
  using namespace std::chrono;
  auto number = [&](std::size_t pos, std::size_t len, int& out) {
    if (pos + len > text.size())
      return false;
    auto first = text.data() + pos;
    auto [end, ec] = std::from_chars(first, first + len, out);
    return ec == std::errc{} && end == first + len;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!number(0, 4, y) || text.size() < 19 || text[4] != '-'
      || !number(5, 2, mo) || text[7] != '-' || !number(8, 2, d)
      || (text[10] != 'T' && text[10] != ' ') || !number(11, 2, h)
      || text[13] != ':' || !number(14, 2, mi) || text[16] != ':'
      || !number(17, 2, s))
    return std::nullopt;
  std::size_t pos = 19;
  microseconds fraction{0};
  if (pos < text.size() && text[pos] == '.') {
    auto start = ++pos;
    int64_t scale = 100000;
    int64_t us = 0;
    for (; pos < text.size()
           && std::isdigit(static_cast<unsigned char>(text[pos]));
         ++pos, scale /= 10)
      us += (text[pos] - '0') * scale;
    if (pos == start)
      return std::nullopt;
    fraction = microseconds{us};
  }
  seconds offset{0};
  if (pos < text.size() && text[pos] == 'Z') {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    int parts[3] = {0, 0, 0};
    ++pos;
    for (int i = 0; i < 3; ++i) {
      if (i > 0 && pos < text.size() && text[pos] == ':')
        ++pos;
      if (!number(pos, 2, parts[i])) {
        if (i == 0)
          return std::nullopt;
        break;
      }
      pos += 2;
    }
    offset = sign * (hours{parts[0]} + minutes{parts[1]} + seconds{parts[2]});
  }
  if (pos != text.size())
    return std::nullopt;
  year_month_day date{year{y}, month{static_cast<unsigned>(mo)},
                      day{static_cast<unsigned>(d)}};
  if (!date.ok() || h > 23 || mi > 59 || s > 60)
    return std::nullopt;
  auto point = sys_days{date} + hours{h} + minutes{mi} + seconds{s} + fraction
               - offset;
  return time_point_cast<Clock::duration>(point);
}

// -- the listener thread ------------------------------------------------------

struct PgmqListener::Core {
  explicit Core(PgmqListenerOptions opts)
      : options(std::move(opts)),
        wake_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

  ~Core() {
    if (wake_fd >= 0)
      ::close(wake_fd);
  }

  PgmqListenerOptions options;
  const int wake_fd;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> parse_errors{0};
  std::atomic<std::thread::id> thread_id{};

  // Guarded by `mutex`: the subscriptions and how far the LISTENs follow.
  std::mutex mutex;
  std::condition_variable listening_changed;
  std::vector<std::shared_ptr<Entry>> entries;
  uint64_t wanted_generation = 0;
  uint64_t listening_generation = 0;
  std::string last_error;

  // Listener thread only.
  std::unique_ptr<pqxx::connection> connection;
  std::map<std::string, std::unique_ptr<Inbox>> inboxes;
  std::vector<std::string> received;
  std::priority_queue<Held, std::vector<Held>, std::greater<>> held;
  uint64_t held_sequence = 0;
  std::optional<uint64_t> applied_generation;

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
  }

  void cancel(const std::shared_ptr<Entry>& entry) {
    {
      std::unique_lock<std::mutex> lock{entry->mutex};
      entry->cancelled = true;
      // A handler cancelling its own subscription must not wait for itself.
      if (std::this_thread::get_id() != thread_id.load())
        entry->idle.wait(lock, [&] {
          return entry->calls == 0;
        });
    }
    {
      std::lock_guard<std::mutex> guard{mutex};
      std::erase(entries, entry);
      ++wanted_generation;
    }
    wake();
  }

  std::vector<std::shared_ptr<Entry>> snapshot() {
    std::lock_guard<std::mutex> guard{mutex};
    return entries;
  }

  void deliver(const MessageNotification& notification) {
    const auto& queue = queue_of(notification);
    for (const auto& entry : snapshot())
      if (entry->queues.count(queue) != 0)
        entry->deliver(notification);
  }

  bool subscribed(const std::string& queue) {
    std::lock_guard<std::mutex> guard{mutex};
    return std::any_of(entries.begin(), entries.end(), [&](const auto& e) {
      return e->queues.count(queue) != 0;
    });
  }

  void open_connection() {
    connection = std::make_unique<pqxx::connection>(options.conninfo);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    // A lost connection is replaced by the loop, never revived by libpqxx
    // behind its back (that would hide the gap).
    connection->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    applied_generation.reset();
  }

  void drop_connection() {
    inboxes.clear();
    connection.reset();
    received.clear();
    applied_generation.reset();
  }

  // LISTENs on the channels the subscriptions need, UNLISTENs the others.
  void sync_channels() {
    uint64_t generation;
    std::set<std::string> channels;
    {
      std::lock_guard<std::mutex> guard{mutex};
      generation = wanted_generation;
      for (const auto& entry : entries)
        for (const auto& queue : entry->queues)
          channels.insert(notify_channel(queue));
    }
    if (applied_generation == generation)
      return;
    for (auto it = inboxes.begin(); it != inboxes.end();) {
      if (channels.count(it->first) == 0)
        it = inboxes.erase(it);
      else
        ++it;
    }
    for (const auto& channel : channels)
      if (inboxes.count(channel) == 0)
        inboxes.emplace(
            channel, std::make_unique<Inbox>(*connection, channel, received));
    // libpqxx swallows a broken connection during LISTEN.
    if (!connection->is_open())
      throw pqxx::broken_connection{"connection lost during LISTEN"};
    applied_generation = generation;
    {
      std::lock_guard<std::mutex> guard{mutex};
      listening_generation = std::max(listening_generation, generation);
    }
    listening_changed.notify_all();
  }

  SteadyClock::duration wait_budget() const {
    if (held.empty())
      return kMaxWait;
    auto left = held.top().due - SteadyClock::now();
    return std::clamp<SteadyClock::duration>(left, SteadyClock::duration{0},
                                             kMaxWait);
  }

  // Waits for the socket, a wake-up or the next held notification.
  void wait_and_read() {
    auto budget = std::chrono::ceil<milliseconds>(wait_budget());
    pollfd fds[2] = {{connection->sock(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(budget.count())) < 0)
      return;
    if ((fds[1].revents & POLLIN) != 0) {
      uint64_t count;
      [[maybe_unused]] auto n = ::read(wake_fd, &count, sizeof count);
    }
    if (fds[0].revents != 0)
      connection->get_notifs();
    if (!connection->is_open())
      throw pqxx::broken_connection{"listener connection closed"};
  }

  void handle_received() {
    auto payloads = std::exchange(received, {});
    for (const auto& payload : payloads) {
      auto parsed = parse_payload(payload);
      if (!parsed) {
        auto count = ++parse_errors;
        core::log_warn(kComponent,
                       "listener ignored an unparsable notification ("
                           + std::to_string(count)
                           + " so far): " + payload.substr(0, 200));
        continue;
      }
      if (!subscribed(queue_of(parsed->notification)))
        continue;
      if (parsed->hold > SteadyClock::duration{0})
        held.push(Held{SteadyClock::now() + parsed->hold, held_sequence++,
                       std::move(parsed->notification)});
      else
        deliver(parsed->notification);
    }
  }

  void deliver_due() {
    auto now = SteadyClock::now();
    while (!held.empty() && held.top().due <= now) {
      auto notification = held.top().notification;
      held.pop();
      deliver(notification);
    }
  }

  // Notifications sent while disconnected are gone: ask every subscriber
  // to poll.
  void report_gap(SteadyClock::duration gap) {
    core::log_warn(
        kComponent,
        "listener reconnected after a gap of "
            + std::to_string(duration_cast<milliseconds>(gap).count())
            + " ms; notifications of that time are lost, so every "
              "subscribed queue gets a poll signal");
    for (const auto& entry : snapshot())
      for (const auto& queue : entry->queues)
        entry->deliver(Available{queue, std::nullopt});
  }

  void record_error(const std::string& message) {
    std::lock_guard<std::mutex> guard{mutex};
    last_error = message;
  }

  void sleep_for(SteadyClock::duration how_long) {
    pollfd fd{wake_fd, POLLIN, 0};
    auto ms = duration_cast<milliseconds>(how_long).count();
    if (::poll(&fd, 1, static_cast<int>(ms)) > 0) {
      uint64_t count;
      [[maybe_unused]] auto n = ::read(wake_fd, &count, sizeof count);
    }
  }

  // Waits before the next connection attempt, delivering what falls due.
  void back_off(milliseconds& backoff) {
    sleep_for(backoff);
    backoff = std::min(backoff * 2, options.max_backoff);
    deliver_due();
  }

  void run() {
    thread_id.store(std::this_thread::get_id());
    auto backoff = options.initial_backoff;
    bool was_connected = false;
    std::optional<SteadyClock::time_point> lost_since;
    while (!stopping.load()) {
      if (!connection) {
        try {
          open_connection();
        } catch (...) {
          drop_connection();
          auto error = current_pg_error("listener connect", {});
          record_error(error.message());
          core::log_debug(kComponent, error.message());
          back_off(backoff);
          continue;
        }
      }
      try {
        sync_channels();
        if (lost_since) {
          report_gap(SteadyClock::now() - *lost_since);
          lost_since.reset();
        }
        was_connected = true;
        backoff = options.initial_backoff;
        wait_and_read();
      } catch (...) {
        auto error = current_pg_error("listener", {});
        record_error(error.message());
        drop_connection();
        if (was_connected && !lost_since) {
          lost_since = SteadyClock::now();
          core::log_info(kComponent, "listener lost its connection ("
                                         + error.message() + "); reconnecting");
        }
        back_off(backoff);
        continue;
      }
      handle_received();
      deliver_due();
    }
    drop_connection();
  }
};

// -- PgmqListener -------------------------------------------------------------

PgmqListener::PgmqListener(PgmqListenerOptions options)
    : core_(std::make_shared<Core>(std::move(options))) {
  thread_ = std::thread([core = core_] {
    core->run();
  });
}

PgmqListener::~PgmqListener() {
  core_->stopping.store(true);
  core_->wake();
  if (!thread_.joinable())
    return;
  // The last owner may be a subscription dropped inside a handler: the
  // thread owns `core_` too and ends on its own.
  if (thread_.get_id() == std::this_thread::get_id())
    thread_.detach();
  else
    thread_.join();
}

core::Result<Subscription>
PgmqListener::subscribe(const std::vector<std::string>& queues,
                        NotificationHandler handler) {
  auto entry = std::make_shared<Entry>();
  entry->queues.insert(queues.begin(), queues.end());
  entry->handler = std::move(handler);
  uint64_t target;
  {
    std::lock_guard<std::mutex> guard{core_->mutex};
    core_->entries.push_back(entry);
    target = ++core_->wanted_generation;
  }
  core_->wake();
  bool listening;
  std::string error;
  {
    std::unique_lock<std::mutex> lock{core_->mutex};
    listening = core_->listening_changed.wait_for(
        lock, core_->options.subscribe_timeout, [&] {
          return core_->listening_generation >= target;
        });
    if (!listening)
      error = core_->last_error;
  }
  if (!listening) {
    core_->cancel(entry);
    return core::Error{
        core::ErrorCode::backend_unavailable,
        "pgmq subscribe to " + describe_queues(queues)
            + ": the listener could not LISTEN within "
            + std::to_string(core_->options.subscribe_timeout.count()) + " ms"
            + (error.empty() ? "" : ": " + error)};
  }
  return Subscription{[self = shared_from_this(), entry] {
    self->core_->cancel(entry);
  }};
}

uint64_t PgmqListener::parse_errors() const {
  return core_->parse_errors.load();
}

} // namespace tasker::messaging
