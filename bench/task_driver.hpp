#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tasker::bench {

/// What a `TaskDriver` runs.
struct DriveOptions {
  /// "HOST:PORT" of the orchestration API.
  std::string address;
  /// Tasks under way at once, each on its own keep-alive connection.
  std::size_t in_flight = 1;
  /// Stop after this many tasks finished (0: only the deadline counts).
  std::size_t tasks = 0;
  /// No task is created after it.
  std::chrono::steady_clock::time_point deadline
      = std::chrono::steady_clock::time_point::max();
  /// The body of the n-th `POST /v1/tasks`.
  std::function<std::string(uint64_t)> body;
  /// Connections creating their first task at once (0: no limit), so that
  /// a large N ramps up instead of queueing every creation at once (past
  /// the API's command timeout, which answers 503).
  std::size_t max_creating = 0;
};

/// How far a drive got, sampled while it runs.
struct DriveProgress {
  /// Tasks whose creation was answered.
  uint64_t created = 0;
  /// Connections that created their first task (`in_flight` once ramped
  /// up).
  uint64_t connections = 0;
  /// Tasks found final.
  uint64_t finished = 0;
};

/// What a drive measured: each task's latency, from sending its
/// `POST /v1/tasks` to receiving the answer of its
/// `GET /v1/tasks/{id}?wait_ms=` (which comes when it finished).
struct DriveResult {
  std::vector<double> latencies_ms;
  /// Of each finished task, the part until its `POST /v1/tasks` was
  /// answered (the task created and its first steps sent).
  std::vector<double> creations_ms;
  double seconds = 0;
  std::size_t not_complete = 0;
};

/// Creates tasks through the REST API and waits for each to finish with a
/// long poll (again while the task is not final), keeping `in_flight` tasks
/// under way, on one thread (Beast's asynchronous client). Throws naming the
/// request on any failure. `stop`, `progress` and `latencies_from` may be
/// called from other threads while it runs.
class TaskDriver {
 public:
  explicit TaskDriver(DriveOptions options) : options_(std::move(options)) {}

  /// No task is created from now on; `run` returns once those under way
  /// finished.
  void stop() {
    stopping_ = true;
  }

  DriveProgress progress() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return {created_, connections_, result_.latencies_ms.size()};
  }

  /// The latencies of the tasks that finished after the first `from`.
  std::vector<double> latencies_from(std::size_t from) const {
    std::lock_guard<std::mutex> guard{mutex_};
    const auto& all = result_.latencies_ms;
    return {all.begin()
                + static_cast<std::ptrdiff_t>(std::min(from, all.size())),
            all.end()};
  }

  DriveResult run() {
    namespace net = boost::asio;
    auto colon = options_.address.rfind(':');
    net::ip::tcp::resolver resolver{io_};
    auto endpoints = resolver.resolve(options_.address.substr(0, colon),
                                      options_.address.substr(colon + 1));
    auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < options_.in_flight; ++i)
      std::make_shared<Loop>(*this, endpoints)->start();
    io_.run();
    result_.seconds = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - start)
                          .count();
    if (!error_.empty())
      throw std::runtime_error(error_);
    std::lock_guard<std::mutex> guard{mutex_};
    return result_;
  }

 private:
  using Clock = std::chrono::steady_clock;

  /// How long a task may take before the run fails.
  static constexpr std::chrono::seconds kTaskLimit{120};

  // One connection creating a task, waiting for it, and again.
  class Loop : public std::enable_shared_from_this<Loop> {
   public:
    Loop(TaskDriver& driver,
         const boost::asio::ip::tcp::resolver::results_type& endpoints)
        : driver_(driver), stream_(driver.io_), endpoints_(endpoints) {}

    void start() {
      next();
    }

   private:
    friend class TaskDriver;

    /// Creates the next task; the first one waits for a creation slot
    /// (replacements do not: their connection would idle meanwhile, which
    /// the server closes after a while).
    void next() {
      if (!connected_ && !driver_.may_create())
        return driver_.wait_to_create(shared_from_this());
      create();
    }

    void create() {
      auto n = driver_.take_ticket(first_);
      if (!n)
        return driver_.created(false, false);
      started_ = Clock::now();
      // Connected only now, for the same reason.
      if (!connected_)
        return stream_.async_connect(
            endpoints_, [self = shared_from_this(),
                         n](boost::beast::error_code ec,
                            const boost::asio::ip::tcp::endpoint&) {
              if (ec)
                return self->fail("connect", ec.message());
              self->connected_ = true;
              self->post(*n);
            });
      post(*n);
    }

    void post(uint64_t n) {
      send(boost::beast::http::verb::post, "/v1/tasks",
           driver_.options_.body(n),
           [this](nlohmann::json body, unsigned status) {
             if (status != 201)
               return fail("POST /v1/tasks", "status " + std::to_string(status)
                                                 + ": " + body.dump());
             driver_.created(std::exchange(first_, false), true);
             answered_ = Clock::now();
             wait_for("/v1/tasks/" + body.at("id").get<std::string>()
                      + "?wait_ms=60000");
           });
    }

    void wait_for(const std::string& target) {
      send(boost::beast::http::verb::get, target, {},
           [this, target](nlohmann::json task, unsigned status) {
             if (status != 200)
               return fail("GET task", "status " + std::to_string(status) + ": "
                                           + task.dump());
             auto state = task.at("state").get<std::string>();
             if (state != "complete" && state != "error" && state != "cancelled"
                 && state != "resolved_manually") {
               // A task that never finishes fails the run instead of
               // hanging it (another run resetting the database, say).
               if (Clock::now() - started_ > kTaskLimit)
                 return fail("GET " + target,
                             "the task is still " + state + " after "
                                 + std::to_string(kTaskLimit.count()) + " s");
               return wait_for(target);
             }
             using Ms = std::chrono::duration<double, std::milli>;
             driver_.finished(Ms(Clock::now() - started_).count(),
                              Ms(answered_ - started_).count(),
                              state == "complete");
             next();
           });
    }

    template <class Then>
    void send(boost::beast::http::verb method, const std::string& target,
              std::string body, Then then) {
      namespace http = boost::beast::http;
      request_ = {method, target, 11};
      request_.set(http::field::host, driver_.options_.address);
      request_.set(http::field::content_type, "application/json");
      request_.keep_alive(true);
      request_.body() = std::move(body);
      request_.prepare_payload();
      sent_ = Clock::now();
      http::async_write(
          stream_, request_,
          [self = shared_from_this(), then](boost::beast::error_code ec,
                                            std::size_t) mutable {
            if (ec)
              return self->fail("write of " + self->describe(), ec.message());
            self->response_ = {};
            http::async_read(
                self->stream_, self->buffer_, self->response_,
                [self, then](boost::beast::error_code ec, std::size_t) mutable {
                  if (ec)
                    return self->fail("read of the answer to "
                                          + self->describe(),
                                      ec.message());
                  auto body = nlohmann::json::parse(self->response_.body(),
                                                    nullptr, false);
                  then(std::move(body), self->response_.result_int());
                });
          });
    }

    // The request under way and how long ago it was sent.
    std::string describe() const {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    Clock::now() - sent_)
                    .count();
      return std::string{request_.method_string()} + " "
             + std::string{request_.target()} + " (sent " + std::to_string(ms)
             + " ms before)";
    }

    void fail(const std::string& what, const std::string& why) {
      driver_.fail(what + " failed: " + why);
    }

    TaskDriver& driver_;
    boost::beast::tcp_stream stream_;
    boost::asio::ip::tcp::resolver::results_type endpoints_;
    boost::beast::flat_buffer buffer_;
    boost::beast::http::request<boost::beast::http::string_body> request_;
    boost::beast::http::response<boost::beast::http::string_body> response_;
    Clock::time_point started_;
    Clock::time_point answered_;
    Clock::time_point sent_;
    bool connected_ = false;
    /// No task created yet: creating the first one takes a slot.
    bool first_ = true;
  };

  std::optional<uint64_t> take_ticket(bool first) {
    if (!error_.empty() || stopping_ || Clock::now() >= options_.deadline
        || (options_.tasks != 0 && issued_ >= options_.tasks))
      return std::nullopt;
    if (first)
      ++creating_;
    return issued_++;
  }

  bool may_create() const {
    return options_.max_creating == 0 || creating_ < options_.max_creating;
  }

  void wait_to_create(std::shared_ptr<Loop> loop) {
    waiting_.push_back(std::move(loop));
  }

  // A creation (a loop's `first`) was answered, or (`answered` false) none
  // was started as the drive is over: the next waiting loop may create, or
  // none ever will.
  void created(bool first, bool answered) {
    if (!answered) {
      waiting_.clear();
      return;
    }
    if (first)
      --creating_;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      ++created_;
      connections_ += first ? 1 : 0;
    }
    while (!waiting_.empty() && may_create()) {
      auto loop = std::move(waiting_.front());
      waiting_.pop_front();
      loop->create();
    }
  }

  void finished(double ms, double creation_ms, bool complete) {
    std::lock_guard<std::mutex> guard{mutex_};
    result_.latencies_ms.push_back(ms);
    result_.creations_ms.push_back(creation_ms);
    if (!complete)
      ++result_.not_complete;
  }

  void fail(const std::string& why) {
    if (error_.empty())
      error_ = why;
    io_.stop();
  }

  DriveOptions options_;
  boost::asio::io_context io_;
  std::atomic<bool> stopping_{false};
  /// Guards `result_` and `created_`, which other threads sample.
  mutable std::mutex mutex_;
  DriveResult result_;
  uint64_t created_ = 0;
  uint64_t connections_ = 0;
  uint64_t issued_ = 0;
  /// First creations under way, and loops waiting for a slot (oldest
  /// first).
  std::size_t creating_ = 0;
  std::deque<std::shared_ptr<Loop>> waiting_;
  std::string error_;
};

} // namespace tasker::bench
